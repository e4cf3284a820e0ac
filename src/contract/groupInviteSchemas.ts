import { z } from 'zod';
import { group, groupSettings } from './models.ts';
import { id } from './validation.ts';

/** Group settings, invite links and join requests: inputs and the shapes answered. */

export const INVITE_LIMITS = {
  /** 32 characters of base64url: 192 random bits. */
  tokenLength: 32,
  minLifetimeSeconds: 60,
  maxLifetimeSeconds: 30 * 24 * 3600,
  defaultLifetimeSeconds: 7 * 24 * 3600,
  maxUses: 1_000,
  defaultMaxUses: 100,
} as const;

export const INVITE_TOKEN = new RegExp(`^[A-Za-z0-9_-]{${INVITE_LIMITS.tokenLength}}$`);
const token = z.string().regex(INVITE_TOKEN).meta({ description: 'The unguessable part of an invite link' });
const timestamp = z.iso.datetime({ offset: true });

export const changeGroupSettingsSchema = groupSettings
  .partial()
  .refine((value) => Object.values(value).some((field) => field !== undefined), { message: 'Change at least one setting', path: ['send'] });

export const createInviteSchema = z.strictObject({
  expiresInSeconds: z
    .number()
    .int()
    .min(INVITE_LIMITS.minLifetimeSeconds)
    .max(INVITE_LIMITS.maxLifetimeSeconds)
    .default(INVITE_LIMITS.defaultLifetimeSeconds),
  maxUses: z.number().int().min(1).max(INVITE_LIMITS.maxUses).default(INVITE_LIMITS.defaultMaxUses),
});

export const tokenParams = z.strictObject({ token });
export const inviteParams = z.strictObject({ id, inviteId: id });
export const joinRequestParams = z.strictObject({ id, requestId: id });

export const groupInvite = z
  .strictObject({
    id: z.uuid(),
    groupId: z.uuid(),
    token,
    createdBy: z.uuid(),
    createdAt: timestamp,
    expiresAt: timestamp,
    maxUses: z.number().int(),
    uses: z.number().int(),
    revokedAt: timestamp.nullable(),
    /** `open`, or why it can no longer be used. */
    status: z.enum(['open', 'expired', 'revoked', 'used_up']),
  })
  .meta({ id: 'GroupInvite' });

export const invitePreview = z
  .strictObject({
    name: z.string(),
    description: z.string(),
    iconMediaId: z.uuid().nullable(),
    memberCount: z.number().int(),
    approvalRequired: z.boolean(),
    expiresAt: timestamp,
  })
  .meta({ id: 'GroupInvitePreview' });

export const joinRequest = z
  .strictObject({
    id: z.uuid(),
    groupId: z.uuid(),
    userId: z.uuid(),
    status: z.enum(['pending', 'approved', 'declined']),
    requestedAt: timestamp,
    decidedBy: z.uuid().nullable(),
    decidedAt: timestamp.nullable(),
  })
  .meta({ id: 'GroupJoinRequest' });

export const joinResult = z
  .union([z.strictObject({ status: z.literal('joined'), group }), z.strictObject({ status: z.literal('requested'), request: joinRequest })])
  .meta({ id: 'GroupJoinResult' });
