import test from 'ava';
import {
  disappearingDecider,
  DISAPPEARING_TIMERS,
  type DisappearingEvent,
  type SetDisappearingTimer,
} from '../../commands/disappearing.ts';
import { messageDecider, type ExpireMessage, type MessageEvent, type SendMessage } from '../../commands/messages.ts';
import { ConflictError, ForbiddenError, NotFoundError } from '../../commands/shared/errors.ts';
import { metadata, spec } from '../helpers/spec.ts';
import { sealedFor } from '../helpers/sealed.ts';

const now = '2026-01-01T00:00:00.000Z';
const dayLater = '2026-01-02T00:00:00.000Z';

const timers = spec(disappearingDecider);
const setTimer = (overrides: Partial<SetDisappearingTimer['data']> = {}, at = now): SetDisappearingTimer => ({
  type: 'SetDisappearingTimer',
  data: { conversationId: 'dm:a:b', actorId: 'a', timer: '24h', actorIsParticipant: true, actorMayChange: true, ...overrides },
  metadata: metadata({ now: at }),
});
const changed = (timer: keyof typeof DISAPPEARING_TIMERS, by = 'a'): DisappearingEvent => ({
  type: 'DisappearingTimerChanged',
  data: { conversationId: 'dm:a:b', timer, seconds: DISAPPEARING_TIMERS[timer], changedBy: by, changedAt: now },
});

test('either participant of a direct conversation sets the timer; the change records who and when', (t) => {
  timers
    .given([])
    .when(setTimer())
    .then(t, [changed('24h')]);
  timers
    .given([changed('24h')])
    .when(setTimer({ actorId: 'b', timer: '90d' }))
    .then(t, [changed('90d', 'b')]);
});

test('setting the timer it already has records nothing; off is the timer of a new conversation', (t) => {
  timers
    .given([changed('7d')])
    .when(setTimer({ timer: '7d' }))
    .then(t, []);
  timers
    .given([])
    .when(setTimer({ timer: 'off' }))
    .then(t, []);
});

test('a non-participant finds no conversation; a member who is not an admin is forbidden', (t) => {
  timers
    .given([])
    .when(setTimer({ actorIsParticipant: false }))
    .thenThrows(t, NotFoundError);
  timers
    .given([])
    .when(setTimer({ conversationId: 'group:g', actorMayChange: false }))
    .thenThrows(t, ForbiddenError, 'forbidden');
});

const messages = spec(messageDecider);
/** Group posting permission (another change adds it to SendMessage): granted. */
const allowedToPost = { postingAllowed: true };
const send = (disappearAfterSeconds: number | null): SendMessage => ({
  type: 'SendMessage',
  data: {
    messageId: 'm1',
    conversationId: 'dm:a:b',
    senderId: 'a',
    target: { kind: 'direct', recipientId: 'b' },
    content: { kind: 'text', text: sealedFor('m1', 'hi') },
    replyTo: null,
    attachments: [],
    clientMessageId: 'c1',
    targetReachable: true,
    ...allowedToPost,
    replyToValid: true,
    blocked: false,
    attachmentsValid: true,
    disappearAfterSeconds,
  },
  metadata: metadata({ now }),
});
const sentWith = (expiresAt: string | undefined): MessageEvent => {
  const { messageId, conversationId, senderId, target, content, replyTo, attachments, clientMessageId } = send(null).data;
  const message = { messageId, conversationId, senderId, target, content, replyTo, attachments, clientMessageId };
  return { type: 'MessageSent', data: { ...message, sentAt: now, ...(expiresAt ? { expiresAt } : {}) } };
};
const expire = (at: string, reason: ExpireMessage['data']['reason'] = 'timer', sentBefore?: string): ExpireMessage => ({
  type: 'ExpireMessage',
  data: { messageId: 'm1', reason, ...(sentBefore ? { sentBefore } : {}) },
  metadata: metadata({ now: at }),
});
const expired = (at: string, reason: 'timer' | 'retention' = 'timer'): MessageEvent => ({
  type: 'MessageExpired',
  data: { messageId: 'm1', conversationId: 'dm:a:b', reason, expiredAt: at },
});

test('a message sent under a timer records when it expires; without one it never does', (t) => {
  const [timed] = messageDecider.decide(send(86_400), messageDecider.initialState);
  t.like(timed, { type: 'MessageSent', data: { messageId: 'm1', sentAt: now, expiresAt: dayLater } });
  const [kept] = messageDecider.decide(send(null), messageDecider.initialState);
  t.false(kept !== undefined && 'expiresAt' in kept.data);
});

test('a message expires at its recorded time, once; not before, and not one without a timer', (t) => {
  messages
    .given([sentWith(dayLater)])
    .when(expire(dayLater))
    .then(t, [expired(dayLater)]);
  messages
    .given([sentWith(dayLater), expired(dayLater)])
    .when(expire(dayLater))
    .then(t, []);
  messages
    .given([sentWith(dayLater)])
    .when(expire(now))
    .thenThrows(t, ConflictError, 'not_due');
  messages
    .given([sentWith(undefined)])
    .when(expire(dayLater))
    .thenThrows(t, ConflictError, 'not_due');
  messages.given([]).when(expire(dayLater)).thenThrows(t, NotFoundError);
});

test('retention expires a message sent before its cutoff, deleted or not, and no newer one', (t) => {
  messages
    .given([sentWith(undefined)])
    .when(expire(dayLater, 'retention', dayLater))
    .then(t, [expired(dayLater, 'retention')]);
  const deleted: MessageEvent = {
    type: 'MessageDeleted',
    data: { messageId: 'm1', conversationId: 'dm:a:b', deletedBy: 'a', deletedAt: now },
  };
  messages
    .given([sentWith(undefined), deleted])
    .when(expire(dayLater, 'retention', dayLater))
    .then(t, [expired(dayLater, 'retention')]);
  messages
    .given([sentWith(undefined)])
    .when(expire(dayLater, 'retention', now))
    .thenThrows(t, ConflictError, 'not_due');
});

test('the key destroyed after an expiry is recorded once; not before the message expired', (t) => {
  const shred = { type: 'RecordContentShredded' as const, data: { messageId: 'm1' }, metadata: metadata({ now: dayLater }) };
  const shredded: MessageEvent = {
    type: 'MessageContentShredded',
    data: { messageId: 'm1', conversationId: 'dm:a:b', shreddedAt: dayLater },
  };
  messages
    .given([sentWith(dayLater), expired(dayLater)])
    .when(shred)
    .then(t, [shredded]);
  messages
    .given([sentWith(dayLater), expired(dayLater), shredded])
    .when(shred)
    .then(t, []);
  messages
    .given([sentWith(dayLater)])
    .when(shred)
    .thenThrows(t, ConflictError, 'not_expired');
});

test('an expired message cannot be edited', (t) => {
  messages
    .given([sentWith(dayLater), expired(dayLater)])
    .when({
      type: 'EditMessage',
      data: { messageId: 'm1', actorId: 'a', content: { kind: 'text', text: sealedFor('m1', 'x') } },
      metadata: metadata(),
    })
    .thenThrows(t, NotFoundError);
});
