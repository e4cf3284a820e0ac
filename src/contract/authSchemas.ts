import { z } from 'zod';
import { displayText, NO_CONTROL_CHARACTERS, usernameInput } from './validation.ts';

/** bcrypt reads at most this many bytes; a longer password would share its hash with its 72-byte prefix. */
export const MAX_PASSWORD_BYTES = 72;

/** Read trimmed and lowercased; the checks follow the normalization, and the document shows them. */
const email = z.string().trim().toLowerCase().max(254).email();

/**
 * bcrypt stops at a NUL byte and reads 72 bytes at most, and a lone surrogate cannot be encoded: such passwords
 * would collide with others. Every password is checked this way, at login too.
 */
const passwordCharacters = z
  .string()
  .regex(NO_CONTROL_CHARACTERS, 'Passwords cannot contain control characters')
  .refine((value) => value.isWellFormed(), 'Passwords cannot contain unpaired surrogate characters');

/** A new password: NFC-normalized (the same password typed on another keyboard gives the same bytes), 8 characters to 72 bytes. */
export const newPasswordSchema = passwordCharacters
  .min(8)
  .transform((value) => value.normalize('NFC'))
  .pipe(
    z
      .string()
      .min(8)
      .refine(
        (value) => Buffer.byteLength(value) <= MAX_PASSWORD_BYTES,
        `Passwords are at most ${MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt ignores the rest)`,
      ),
  )
  .meta({
    description: `8 characters to ${MAX_PASSWORD_BYTES} bytes in UTF-8 once NFC-normalized; no control characters, no unpaired surrogates`,
  });

export const registerSchema = z
  .strictObject({
    email,
    username: usernameInput(),
    displayName: displayText(1, 64).optional(),
    password: newPasswordSchema,
  })
  .meta({
    id: 'Register',
    examples: [{ email: 'ada@example.com', username: 'ada', displayName: 'Ada', password: 'correct horse battery' }],
  });

/** Up to 128 characters: accounts registered before the 72-byte rule may have longer passwords. */
export const loginSchema = z.strictObject({
  email,
  password: passwordCharacters.min(1).max(128),
});
