import { z } from 'zod';
import {
  deliveriesQuery,
  registerWebhookSchema,
  updateWebhookSchema,
  webhook,
  webhookDelivery,
  webhookIdParams,
  webhookSecret,
} from '../../contract/webhookSchemas.ts';
import type { WebhookService } from '../../webhooks/webhookService.ts';
import { actorMetadata } from '../context.ts';
import { noContent, reply, route } from '../routeTable.ts';

export interface WebhookRouteDeps {
  webhooks: WebhookService;
  clock: () => Date;
}

const webhookReply = z.strictObject({ webhook }).meta({ id: 'WebhookReply' });

/** Outgoing webhooks under /api/webhooks: each only for its owner (anyone else's is not found). */
export function webhookRoutes({ webhooks, clock }: WebhookRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'post',
      path: '/api/webhooks',
      operationId: 'registerWebhook',
      tag: 'webhooks',
      auth: true,
      rateLimit: 'webhooks',
      summary: 'Register a webhook for your direct conversations, or (as its admin) for a group; its signing secret is shown once',
      body: registerWebhookSchema,
      responses: {
        201: { description: 'Registered', schema: z.strictObject({ webhook, secret: webhookSecret }).meta({ id: 'RegisteredWebhook' }) },
      },
      errors: ['forbidden', 'webhooks_limit', 'webhook_exists', 'concurrency_conflict'],
      handle: async ({ principal, body, ctx }) => reply(201, await webhooks.register(principal.userId, body, meta(ctx))),
    }),
    route({
      method: 'get',
      path: '/api/webhooks',
      operationId: 'listWebhooks',
      tag: 'webhooks',
      auth: true,
      rateLimit: 'read',
      summary: "The caller's webhooks, oldest first",
      responses: { 200: { description: 'Each with its URL (yours only)', schema: z.strictObject({ webhooks: z.array(webhook) }) } },
      errors: [],
      handle: async ({ principal }) => reply(200, { webhooks: await webhooks.list(principal.userId) }),
    }),
    route({
      method: 'get',
      path: '/api/webhooks/{webhookId}',
      operationId: 'getWebhook',
      tag: 'webhooks',
      auth: true,
      rateLimit: 'read',
      summary: 'One of your webhooks',
      params: webhookIdParams,
      responses: { 200: { description: 'The webhook', schema: webhookReply } },
      errors: ['not_found'],
      handle: async ({ principal, params }) => reply(200, { webhook: await webhooks.get(principal.userId, params.webhookId) }),
    }),
    route({
      method: 'patch',
      path: '/api/webhooks/{webhookId}',
      operationId: 'updateWebhook',
      tag: 'webhooks',
      auth: true,
      rateLimit: 'webhooks',
      summary: "Change a webhook's URL or events, or turn it off or on again",
      params: webhookIdParams,
      body: updateWebhookSchema,
      responses: { 200: { description: 'The webhook now', schema: webhookReply } },
      errors: ['not_found', 'forbidden', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) =>
        reply(200, { webhook: await webhooks.update(principal.userId, params.webhookId, body, meta(ctx)) }),
    }),
    route({
      method: 'delete',
      path: '/api/webhooks/{webhookId}',
      operationId: 'deleteWebhook',
      tag: 'webhooks',
      auth: true,
      rateLimit: 'webhooks',
      summary: 'Delete a webhook: nothing more is delivered to it, its secret is erased',
      params: webhookIdParams,
      responses: { 204: { description: 'Deleted' } },
      errors: ['not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        await webhooks.delete(principal.userId, params.webhookId, meta(ctx));
        return noContent();
      },
    }),
    route({
      method: 'post',
      path: '/api/webhooks/{webhookId}/rotate-secret',
      operationId: 'rotateWebhookSecret',
      tag: 'webhooks',
      auth: true,
      rateLimit: 'webhooks',
      summary: 'Replace the signing secret (shown once); deliveries from now on are signed with the new one',
      params: webhookIdParams,
      responses: {
        200: { description: 'The new secret', schema: z.strictObject({ secret: webhookSecret }).meta({ id: 'WebhookSecret' }) },
      },
      errors: ['not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => reply(200, await webhooks.rotateSecret(principal.userId, params.webhookId, meta(ctx))),
    }),
    route({
      method: 'get',
      path: '/api/webhooks/{webhookId}/deliveries',
      operationId: 'listWebhookDeliveries',
      tag: 'webhooks',
      auth: true,
      rateLimit: 'read',
      summary: "A webhook's delivery log, newest first (the last 1,000 ended ones are kept, and those still pending)",
      params: webhookIdParams,
      query: deliveriesQuery,
      responses: {
        200: {
          description: 'A page; `nextBefore` asks for the next',
          schema: z
            .strictObject({ deliveries: z.array(webhookDelivery), nextBefore: z.string().nullable() })
            .meta({ id: 'WebhookDeliveries' }),
        },
      },
      errors: ['not_found'],
      handle: async ({ principal, params, query }) =>
        reply(200, await webhooks.deliveries(principal.userId, params.webhookId, { before: query.before, limit: query.limit })),
    }),
  ];
}
