import { z } from 'zod';
import { WEBHOOK_EVENT_KINDS } from '../../commands/webhooks.ts';
import { id, queryInteger } from './validation.ts';

const webhookUrl = z
  .string()
  .max(2_048)
  .regex(/^https?:\/\/[^\s]+$/, 'url must be an https URL')
  .meta({
    description:
      'The receiver: https, a public host (one that is, or resolves to, a loopback, private, link-local or metadata address is refused, here and at each delivery). It may carry a token; it is kept sealed under your data key.',
  });
const eventKinds = z
  .array(z.enum(WEBHOOK_EVENT_KINDS))
  .min(1)
  .max(WEBHOOK_EVENT_KINDS.length)
  .refine((kinds) => new Set(kinds).size === kinds.length, 'events: each at most once')
  .meta({ description: 'What it hears, each at most once' });

export const registerWebhookSchema = z
  .strictObject({
    url: webhookUrl,
    events: eventKinds,
    groupId: id.optional().meta({ description: "A group's webhook (you must be one of its admins); absent: your direct conversations" }),
  })
  .meta({
    id: 'RegisterWebhook',
    examples: [{ url: 'https://hooks.example.com/letsapp', events: ['message.created', 'reaction.added'] }],
  });

export const updateWebhookSchema = z
  .strictObject({ url: webhookUrl.optional(), events: eventKinds.optional(), enabled: z.boolean().optional() })
  .refine((value) => value.url !== undefined || value.events !== undefined || value.enabled !== undefined, {
    message: 'Give url, events or enabled',
    path: ['url'],
  })
  .meta({ id: 'UpdateWebhook', description: 'Re-enabling (`enabled: true`) starts its run of failures from zero' });

export const webhookIdParams = z.strictObject({ webhookId: id });

export const webhook = z
  .strictObject({
    id,
    scope: z.union([z.strictObject({ kind: z.literal('direct') }), z.strictObject({ kind: z.literal('group'), groupId: z.string() })]),
    url: z.string(),
    origin: z.string().meta({ description: 'The URL without credentials, path or query' }),
    events: z.array(z.enum(WEBHOOK_EVENT_KINDS)),
    enabled: z.boolean(),
    disabledReason: z
      .enum(['owner', 'failures'])
      .nullable()
      .meta({ description: '`failures`: disabled after 100 failed attempts in a row (re-enable with PATCH)' }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Webhook' });

export const webhookSecret = z.string().meta({
  description: 'The signing secret (`whsec_…`): shown only in this answer. Deliveries carry `X-LetsApp-Signature: t=<unix>,v1=<hex>`',
});

export const webhookDelivery = z
  .strictObject({
    id: z.string().meta({ description: 'The idempotency key, as sent in `X-LetsApp-Delivery`' }),
    eventId: z.string(),
    type: z.string(),
    status: z.enum(['pending', 'delivered', 'failed', 'cancelled', 'dropped']),
    attempts: z.number().int(),
    createdAt: z.string(),
    nextAttemptAt: z.string().nullable(),
    lastAttemptAt: z.string().nullable(),
    lastStatus: z.number().int().nullable().meta({ description: "The receiver's last HTTP status; null when it was not reached" }),
    lastError: z.string().nullable(),
    durationMs: z.number().int().nullable(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: 'WebhookDelivery' });

export const deliveriesQuery = z.strictObject({
  before: z
    .string()
    .regex(/^\d{1,15}$/)
    .optional()
    .meta({ description: 'The `nextBefore` of the previous page' }),
  limit: queryInteger(z.number().int().min(1).max(100).default(50)),
});
