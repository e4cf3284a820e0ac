import { z } from 'zod';
import {
  conversationIdParams,
  muteSchema,
  pushSettings,
  pushSettingsSchema,
  pushSubscription,
  pushSubscriptionSchema,
  subscriptionIdParams,
} from '../../contract/pushSchemas.ts';
import type { PushService } from '../../push/pushService.ts';
import { actorMetadata } from '../context.ts';
import { noContent, reply, route } from '../routeTable.ts';

export interface PushRouteDeps {
  push: PushService;
  clock: () => Date;
}

const settingsReply = z.strictObject({ settings: pushSettings }).meta({ id: 'PushSettingsReply' });

/** Web Push under /api/push, and muting under /api/conversations/{conversationId}/mute. */
export function pushRoutes({ push, clock }: PushRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'get',
      path: '/api/push/vapid-public-key',
      operationId: 'getVapidPublicKey',
      tag: 'push',
      auth: true,
      rateLimit: 'read',
      summary: "The server's VAPID public key: a browser subscribes with it as `applicationServerKey`",
      responses: { 200: { description: 'base64url, an uncompressed P-256 point', schema: z.strictObject({ publicKey: z.string() }) } },
      errors: ['push_disabled'],
      handle: () => reply(200, { publicKey: push.requireVapidPublicKey() }),
    }),
    route({
      method: 'get',
      path: '/api/push/subscriptions',
      operationId: 'listPushSubscriptions',
      tag: 'push',
      auth: true,
      rateLimit: 'read',
      summary: "The caller's push subscriptions (one per device), oldest first",
      responses: {
        200: { description: 'Each without its endpoint or keys', schema: z.strictObject({ subscriptions: z.array(pushSubscription) }) },
      },
      errors: [],
      handle: async ({ principal }) => reply(200, { subscriptions: await push.list(principal.userId) }),
    }),
    route({
      method: 'post',
      path: '/api/push/subscriptions',
      operationId: 'addPushSubscription',
      tag: 'push',
      auth: true,
      rateLimit: 'push',
      summary: "Register this device's push subscription (again: its keys are replaced)",
      body: pushSubscriptionSchema,
      responses: { 201: { description: 'Registered', schema: z.strictObject({ subscription: pushSubscription }) } },
      errors: ['push_disabled', 'push_subscriptions_limit', 'concurrency_conflict'],
      handle: async ({ principal, body, ctx }) =>
        reply(201, { subscription: await push.subscribe(principal.userId, { endpoint: body.endpoint, keys: body.keys }, meta(ctx)) }),
    }),
    route({
      method: 'delete',
      path: '/api/push/subscriptions/{subscriptionId}',
      operationId: 'removePushSubscription',
      tag: 'push',
      auth: true,
      rateLimit: 'push',
      summary: "Remove one of the caller's push subscriptions (someone else's is not found)",
      params: subscriptionIdParams,
      responses: { 204: { description: 'Removed' } },
      errors: ['not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        await push.unsubscribe(principal.userId, params.subscriptionId, meta(ctx));
        return noContent();
      },
    }),
    route({
      method: 'get',
      path: '/api/push/settings',
      operationId: 'getPushSettings',
      tag: 'push',
      auth: true,
      rateLimit: 'read',
      summary: "The caller's push preview setting and muted conversations",
      responses: { 200: { description: 'The settings', schema: settingsReply } },
      errors: [],
      handle: async ({ principal }) => reply(200, { settings: await push.settings(principal.userId) }),
    }),
    route({
      method: 'put',
      path: '/api/push/settings',
      operationId: 'setPushSettings',
      tag: 'push',
      auth: true,
      rateLimit: 'push',
      summary: 'Turn the preview (sender and text) in pushes on or off',
      body: pushSettingsSchema,
      responses: { 200: { description: 'The settings now', schema: settingsReply } },
      errors: ['concurrency_conflict'],
      handle: async ({ principal, body, ctx }) =>
        reply(200, { settings: await push.setPreview(principal.userId, body.pushPreview, meta(ctx)) }),
    }),
    route({
      method: 'put',
      path: '/api/conversations/{conversationId}/mute',
      operationId: 'muteConversation',
      tag: 'push',
      auth: true,
      rateLimit: 'push',
      summary: 'Mute a conversation until a moment, or until unmuted (`until: null`): no push for it meanwhile',
      params: conversationIdParams,
      body: muteSchema,
      responses: { 200: { description: 'The settings now', schema: settingsReply } },
      errors: ['not_found', 'mutes_limit', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) =>
        reply(200, { settings: await push.mute(principal.userId, params.conversationId, body.until, meta(ctx)) }),
    }),
    route({
      method: 'delete',
      path: '/api/conversations/{conversationId}/mute',
      operationId: 'unmuteConversation',
      tag: 'push',
      auth: true,
      rateLimit: 'push',
      summary: 'Unmute a conversation (also when not muted)',
      params: conversationIdParams,
      responses: { 200: { description: 'The settings now', schema: settingsReply } },
      errors: ['concurrency_conflict'],
      handle: async ({ principal, params, ctx }) =>
        reply(200, { settings: await push.unmute(principal.userId, params.conversationId, meta(ctx)) }),
    }),
  ];
}
