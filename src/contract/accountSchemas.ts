import { z } from 'zod';
import { loginSchema } from './authSchemas.ts';

/** DELETE /api/users/me: the password again (a token alone, from a device left unlocked, deletes nothing). */
export const deleteAccountSchema = z
  .strictObject({ password: loginSchema.shape.password })
  .meta({ id: 'DeleteAccountRequest', examples: [{ password: 'correct horse battery' }] });

/**
 * `keep` (the default): the messages they sent stay with the people who received them, from "Deleted account".
 * `erase`: every message they sent is deleted for everyone, its text shredded.
 */
export const deleteAccountQuery = z.strictObject({ messages: z.enum(['keep', 'erase']).default('keep') });

export const accountDeletionScheduled = z
  .strictObject({ deletion: z.strictObject({ status: z.literal('scheduled'), deleteAfter: z.iso.datetime() }) })
  .meta({ id: 'AccountDeletionScheduled' });
