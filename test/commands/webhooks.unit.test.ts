import test from 'ava';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../commands/shared/errors.ts';
import type { SealedField } from '../../commands/shared/sealed.ts';
import {
  MAX_WEBHOOKS_PER_GROUP,
  MAX_WEBHOOKS_PER_OWNER,
  webhookDecider,
  type WebhookCommand,
  type WebhookEvent,
} from '../../commands/webhooks.ts';
import { metadata, spec } from '../helpers/spec.ts';

const at = '2026-01-01T00:00:00.000Z';
const webhooks = spec(webhookDecider);
const command = (type: WebhookCommand['type'], data: Record<string, unknown>): WebhookCommand =>
  ({ type, data: { webhookId: 'w1', ...data }, metadata: metadata({ now: at }) }) as WebhookCommand;
const sealed = (kid = 'user:me'): SealedField => ({ sealed: 'xchacha20poly1305-ietf', kid, nonce: 'n', ct: 'c' });
const registration = (data: Record<string, unknown> = {}) =>
  command('RegisterWebhook', {
    ownerId: 'me',
    scope: { kind: 'direct' },
    url: sealed(),
    origin: 'https://hooks.example.com',
    events: ['message.created'],
    mayWatch: true,
    ownerWebhooks: 0,
    groupWebhooks: 0,
    ...data,
  });
const registered: WebhookEvent = {
  type: 'WebhookRegistered',
  data: {
    webhookId: 'w1',
    ownerId: 'me',
    scope: { kind: 'direct' },
    url: sealed(),
    origin: 'https://hooks.example.com',
    events: ['message.created'],
    registeredAt: at,
  },
};

test("a webhook is registered with its URL sealed under the owner's data key; a clear or foreign-keyed URL, unknown, repeated or no events are refused", (t) => {
  webhooks.given([]).when(registration()).then(t, [registered]);
  webhooks
    .given([])
    .when(registration({ url: { plain: 'https://x' } }))
    .thenThrows(t, ValidationError);
  webhooks
    .given([])
    .when(registration({ url: sealed('user:other') }))
    .thenThrows(t, ValidationError);
  webhooks
    .given([])
    .when(registration({ events: ['message.exploded'] }))
    .thenThrows(t, ValidationError);
  webhooks
    .given([])
    .when(registration({ events: ['message.created', 'message.created'] }))
    .thenThrows(t, ValidationError);
  webhooks
    .given([])
    .when(registration({ events: [] }))
    .thenThrows(t, ValidationError);
  webhooks.given([registered]).when(registration()).thenThrows(t, ConflictError, 'webhook_exists');
});

test('a group webhook needs the right to watch the group; at most 10 per owner and 10 per group', (t) => {
  webhooks
    .given([])
    .when(registration({ scope: { kind: 'group', groupId: 'g' }, mayWatch: false }))
    .thenThrows(t, ForbiddenError);
  webhooks
    .given([])
    .when(registration({ ownerWebhooks: MAX_WEBHOOKS_PER_OWNER }))
    .thenThrows(t, ConflictError, 'webhooks_limit');
  webhooks
    .given([])
    .when(registration({ scope: { kind: 'group', groupId: 'g' }, groupWebhooks: MAX_WEBHOOKS_PER_GROUP }))
    .thenThrows(t, ConflictError, 'webhooks_limit');
});

test('only its owner changes, rotates or deletes it; a change of nothing appends nothing; the enabled state changes alone', (t) => {
  webhooks
    .given([registered])
    .when(command('DeleteWebhook', { actorId: 'other' }))
    .thenThrows(t, NotFoundError);
  webhooks
    .given([registered])
    .when(command('RotateWebhookSecret', { actorId: 'other' }))
    .thenThrows(t, NotFoundError);
  webhooks
    .given([registered])
    .when(command('UpdateWebhook', { actorId: 'other', enabled: false, mayWatch: true }))
    .thenThrows(t, NotFoundError);
  webhooks
    .given([registered])
    .when(command('UpdateWebhook', { actorId: 'me', events: ['message.created'], mayWatch: true }))
    .then(t, []);
  webhooks
    .given([registered])
    .when(command('UpdateWebhook', { actorId: 'me', enabled: false, mayWatch: true }))
    .then(t, [{ type: 'WebhookDisabled', data: { webhookId: 'w1', ownerId: 'me', reason: 'owner', disabledAt: at } }]);
  webhooks
    .given([registered])
    .when(command('RotateWebhookSecret', { actorId: 'me' }))
    .then(t, [{ type: 'WebhookSecretRotated', data: { webhookId: 'w1', ownerId: 'me', rotatedAt: at } }]);
  const deleted: WebhookEvent = { type: 'WebhookDeleted', data: { webhookId: 'w1', ownerId: 'me', deletedAt: at } };
  webhooks
    .given([registered])
    .when(command('DeleteWebhook', { actorId: 'me' }))
    .then(t, [deleted]);
  webhooks
    .given([registered, deleted])
    .when(command('DeleteWebhook', { actorId: 'me' }))
    .thenThrows(t, NotFoundError);
});

test('failures disable an enabled webhook once; re-enabling a group webhook needs the right to watch it now', (t) => {
  const disabled: WebhookEvent = {
    type: 'WebhookDisabled',
    data: { webhookId: 'w1', ownerId: 'me', reason: 'failures', consecutiveFailures: 100, disabledAt: at },
  };
  webhooks
    .given([registered])
    .when(command('DisableFailingWebhook', { consecutiveFailures: 100 }))
    .then(t, [disabled]);
  webhooks
    .given([registered, disabled])
    .when(command('DisableFailingWebhook', { consecutiveFailures: 101 }))
    .then(t, []);
  webhooks
    .given([registered, disabled])
    .when(command('UpdateWebhook', { actorId: 'me', enabled: true, mayWatch: false }))
    .thenThrows(t, ForbiddenError);
  webhooks
    .given([registered, disabled])
    .when(command('UpdateWebhook', { actorId: 'me', enabled: true, mayWatch: true }))
    .then(t, [{ type: 'WebhookEnabled', data: { webhookId: 'w1', ownerId: 'me', enabledAt: at } }]);
});
