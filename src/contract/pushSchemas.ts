import { z } from 'zod';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/** base64url of exactly `bytes` bytes (padding allowed, as some browsers send it). */
const base64UrlOf = (bytes: number, what: string) =>
  z
    .string()
    .max(200)
    .regex(BASE64URL, `${what} must be base64url`)
    .refine((text) => Buffer.from(text.replace(/=+$/, ''), 'base64url').length === bytes, `${what} must be ${bytes} bytes`);

/** `PushSubscription.toJSON()` as a browser gives it (`expirationTime` is accepted and ignored). */
export const pushSubscriptionSchema = z
  .object({
    endpoint: z
      .string()
      .max(2_048)
      .regex(/^https?:\/\/[^\s]+$/, 'endpoint must be an https URL'),
    expirationTime: z.number().nullable().optional(),
    keys: z.strictObject({
      // An uncompressed P-256 point (0x04, x, y) and the 16-byte auth secret (RFC 8291).
      p256dh: base64UrlOf(65, 'keys.p256dh').refine((text) => Buffer.from(text.replace(/=+$/, ''), 'base64url')[0] === 4, {
        message: 'keys.p256dh must be an uncompressed P-256 point',
      }),
      auth: base64UrlOf(16, 'keys.auth'),
    }),
  })
  .strict()
  .meta({
    id: 'PushSubscriptionInput',
    description: "A browser's `PushSubscription.toJSON()`: its endpoint must be an https URL of a public host.",
  });

export const pushSubscription = z
  .strictObject({
    id: z.uuid(),
    origin: z.string().meta({ description: "The push service's origin, never the device's token" }),
    createdAt: z.string(),
  })
  .meta({ id: 'PushSubscription' });

export const pushSettings = z
  .strictObject({
    pushPreview: z.boolean().meta({ description: 'Show the sender and the text in a push (true by default); off: "New message" only' }),
    mutes: z.array(z.strictObject({ conversationId: z.string(), until: z.string().nullable() })),
  })
  .meta({ id: 'PushSettings' });

export const pushSettingsSchema = z.strictObject({ pushPreview: z.boolean() });

export const subscriptionIdParams = z.strictObject({ subscriptionId: z.uuid() });

export const conversationIdParams = z.strictObject({
  conversationId: z
    .string()
    .regex(new RegExp(`^(dm:${UUID}:${UUID}|group:${UUID})$`), 'conversationId: dm:<userId>:<userId> or group:<groupId>')
    .meta({ description: 'As messages name it: `dm:<userId>:<userId>` or `group:<groupId>`' }),
});

export const muteSchema = z.strictObject({
  until: z.iso.datetime({ offset: true }).nullable().meta({ description: 'Muted until this moment; null: until unmuted' }),
});
