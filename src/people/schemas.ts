import { z } from 'zod';
import { id } from '../validation.ts';

/** A display text: NFC, trimmed, no control characters (they hide or reorder what others read). */
export const displayText = (min: number, max: number) => z.string()
  .transform((value) => value.normalize('NFC').trim())
  .pipe(z.string().min(min).max(max).refine((value) => !/\p{Cc}/u.test(value), 'No control characters'));

const nickname = displayText(1, 64).nullable();

export const addContactSchema = z.strictObject({
  userId: id.optional(),
  username: z.string().trim().toLowerCase().pipe(z.string().regex(/^[a-z0-9_]{3,30}$/)).optional(),
  nickname: nickname.optional(),
}).refine((value) => (value.userId === undefined) !== (value.username === undefined), { message: 'Give exactly one of userId and username', path: ['userId'] })
  .meta({ description: 'Exactly one of `userId` and `username`.' });

export const renameContactSchema = z.strictObject({ nickname });

export const listContactsSchema = z.strictObject({
  cursor: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});

export const userIdParams = z.strictObject({ userId: id });
