import { z } from 'zod';
import { displayText, id, queryInteger, usernameInput } from './validation.ts';

const nickname = displayText(1, 64).nullable();

export const addContactSchema = z
  .strictObject({
    userId: id.optional(),
    username: usernameInput().optional(),
    nickname: nickname.optional(),
  })
  .refine((value) => (value.userId === undefined) !== (value.username === undefined), {
    message: 'Give exactly one of userId and username',
    path: ['userId'],
  })
  .meta({ description: 'Exactly one of `userId` and `username`.' });

export const renameContactSchema = z.strictObject({ nickname });

export const listContactsSchema = z.strictObject({
  cursor: queryInteger(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)).optional(),
  limit: queryInteger(z.number().int().min(1).max(100).default(50)),
});

export const userIdParams = z.strictObject({ userId: id });

const visibility = z.enum(['everyone', 'contacts', 'nobody']);

export const updateProfileSchema = z
  .strictObject({
    displayName: displayText(1, 64).optional(),
    about: displayText(0, 140).optional(),
    privacy: z
      .strictObject({
        lastSeen: visibility.optional(),
        online: visibility.optional(),
        avatar: visibility.optional(),
        about: visibility.optional(),
        readReceipts: z.boolean().optional(),
      })
      .optional(),
    ai: z
      .strictObject({
        language: z
          .string()
          .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'A BCP 47 language tag such as en or pt-BR')
          .optional(),
        defaultPersonalityId: z
          .string()
          .regex(/^[a-z0-9-]{1,40}$/)
          .optional(),
        autoTranscribe: z.boolean().optional().meta({ description: 'Transcribe voice notes sent to you as they arrive' }),
      })
      .optional(),
  })
  .refine((value) => Object.values(value).some((field) => field !== undefined), {
    message: 'Change at least one field',
    path: ['displayName'],
  });

export const publishKeySchema = z
  .strictObject({
    keyId: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'Use 1 to 128 letters, digits or _.:-'),
    publicKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'An X25519 public key: 32 bytes in base64'),
  })
  .meta({ id: 'PublishKey', examples: [{ keyId: 'k1', publicKey: 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=' }] });

export const searchUsersSchema = z.strictObject({
  q: usernameInput('At least 3 of a-z 0-9 _ (a username prefix)'),
});
