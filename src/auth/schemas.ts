import { z } from 'zod';
import { MAX_PASSWORD_BYTES } from './passwords.ts';

const email = z.string().trim().toLowerCase().pipe(z.email().max(254));

/**
 * bcrypt stops at a NUL byte and reads 72 bytes at most, and a lone surrogate cannot be encoded: such passwords
 * would collide with others. Every password is checked this way, at login too.
 */
const passwordCharacters = z.string()
  .refine((value) => value.isWellFormed(), 'Passwords cannot contain unpaired surrogate characters')
  .refine((value) => !/\p{Cc}/u.test(value), 'Passwords cannot contain control characters');

/** A new password: NFC-normalized (the same password typed on another keyboard gives the same bytes), 8 characters to 72 bytes. */
export const newPasswordSchema = passwordCharacters
  .transform((value) => value.normalize('NFC'))
  .pipe(z.string().min(8).refine((value) => Buffer.byteLength(value) <= MAX_PASSWORD_BYTES,
    `Passwords are at most ${MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt ignores the rest)`));

export const registerSchema = z.strictObject({
  email,
  username: z.string().trim().toLowerCase().pipe(z.string().regex(/^[a-z0-9_]{3,30}$/, 'Use 3 to 30 letters, digits or underscores')),
  displayName: z.string().max(64).trim().min(1).optional(),
  password: newPasswordSchema,
}).meta({ id: 'Register', examples: [{ email: 'ada@example.com', username: 'ada', displayName: 'Ada', password: 'correct horse battery' }] });

/** Up to 128 characters: accounts registered before the 72-byte rule may have longer passwords. */
export const loginSchema = z.strictObject({
  email,
  password: passwordCharacters.pipe(z.string().min(1).max(128)),
});
