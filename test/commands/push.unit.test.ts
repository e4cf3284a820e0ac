import test from 'ava';
import { isMutedAt, MAX_PUSH_SUBSCRIPTIONS, pushDecider, type PushCommand, type PushEvent } from '../../commands/push.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../commands/shared/errors.ts';
import type { SealedField } from '../../commands/shared/sealed.ts';
import { metadata, spec } from '../helpers/spec.ts';

const at = '2026-01-01T00:00:00.000Z';
const push = spec(pushDecider);
/** A command of `type` for the user `me` (the decider checks the data's shape at compile time in the app, not here). */
const command = (type: PushCommand['type'], data: Record<string, unknown>): PushCommand =>
  ({ type, data: { userId: 'me', ...data }, metadata: metadata({ now: at }) }) as PushCommand;
const sealed = (kid = 'user:me'): SealedField => ({ sealed: 'xchacha20poly1305-ietf', kid, nonce: 'n', ct: 'c' });
const added = (subscriptionId: string): PushEvent => ({
  type: 'PushSubscriptionAdded',
  data: { userId: 'me', subscriptionId, subscription: sealed(), origin: 'https://push.example.com', at },
});

test("a subscription is recorded sealed with the user's data key; clear or foreign-keyed is refused", (t) => {
  push
    .given([])
    .when(command('AddPushSubscription', { subscriptionId: 's1', subscription: sealed(), origin: 'https://push.example.com' }))
    .then(t, [added('s1')]);
  push
    .given([])
    .when(command('AddPushSubscription', { subscriptionId: 's1', subscription: { plain: '{}' }, origin: 'https://push.example.com' }))
    .thenThrows(t, ValidationError);
  push
    .given([])
    .when(command('AddPushSubscription', { subscriptionId: 's1', subscription: sealed('user:other'), origin: 'https://push.example.com' }))
    .thenThrows(t, ValidationError);
});

test('at most MAX_PUSH_SUBSCRIPTIONS devices; the same device again replaces its keys', (t) => {
  const full = Array.from({ length: MAX_PUSH_SUBSCRIPTIONS }, (_, index) => added(`s${index}`));
  push
    .given(full)
    .when(command('AddPushSubscription', { subscriptionId: 'new', subscription: sealed(), origin: 'https://push.example.com' }))
    .thenThrows(t, ConflictError, 'push_subscriptions_limit');
  push
    .given(full)
    .when(command('AddPushSubscription', { subscriptionId: 's0', subscription: sealed(), origin: 'https://push.example.com' }))
    .then(t, [added('s0')]);
});

test("removing someone else's (or no) subscription is not found; the push service's 410 of a removed one records nothing", (t) => {
  push
    .given([])
    .when(command('RemovePushSubscription', { subscriptionId: 's1', reason: 'removed' }))
    .thenThrows(t, NotFoundError);
  push
    .given([])
    .when(command('RemovePushSubscription', { subscriptionId: 's1', reason: 'expired' }))
    .then(t, []);
  push
    .given([added('s1')])
    .when(command('RemovePushSubscription', { subscriptionId: 's1', reason: 'expired' }))
    .then(t, [{ type: 'PushSubscriptionRemoved', data: { userId: 'me', subscriptionId: 's1', reason: 'expired', at } }]);
});

test('muting needs a conversation one may read and a future end (or none); muting the same way again records nothing', (t) => {
  push
    .given([])
    .when(command('MuteConversation', { conversationId: 'group:g', until: null, canRead: false }))
    .thenThrows(t, NotFoundError);
  push
    .given([])
    .when(command('MuteConversation', { conversationId: 'group:g', until: '2025-01-01T00:00:00Z', canRead: true }))
    .thenThrows(t, ValidationError);
  const muted: PushEvent = { type: 'ConversationMuted', data: { userId: 'me', conversationId: 'group:g', until: null, at } };
  push
    .given([])
    .when(command('MuteConversation', { conversationId: 'group:g', until: null, canRead: true }))
    .then(t, [muted]);
  push
    .given([muted])
    .when(command('MuteConversation', { conversationId: 'group:g', until: null, canRead: true }))
    .then(t, []);
  push
    .given([muted])
    .when(command('UnmuteConversation', { conversationId: 'group:g' }))
    .then(t, [{ type: 'ConversationUnmuted', data: { userId: 'me', conversationId: 'group:g', at } }]);
  push
    .given([])
    .when(command('UnmuteConversation', { conversationId: 'group:g' }))
    .then(t, []);
});

test('a mute silences until its end, or for ever when it has none', (t) => {
  const now = new Date('2026-01-01T00:00:00Z');
  t.true(isMutedAt(null, now));
  t.true(isMutedAt('2026-01-01T00:00:01Z', now));
  t.false(isMutedAt('2026-01-01T00:00:00Z', now));
  t.false(isMutedAt(undefined, now));
});
