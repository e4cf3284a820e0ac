import { z } from 'zod';
import { MAX_TEXT_LENGTH } from '../../commands/messages.ts';
import { boundedText, id, queryInteger } from './validation.ts';

const encrypted = z.strictObject({
  ciphertext: z
    .base64()
    .min(1)
    .max(64 * 1024),
  nonce: z.base64().min(1).max(256),
  algorithm: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  recipientKeyId: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/),
  /** The sender's key the box was made with (NaCl box): the recipient needs its public half to open it. */
  senderKeyId: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,128}$/)
    .optional(),
});

/** Exactly one of `text` and `encrypted`. */
const content = {
  text: boundedText(MAX_TEXT_LENGTH).optional(),
  encrypted: encrypted.optional(),
};

const exactlyOneContent = (value: { text?: string | undefined; encrypted?: unknown }) =>
  (value.text === undefined) !== (value.encrypted === undefined);
const exactlyOneTarget = (value: { recipientId?: string | undefined; groupId?: string | undefined }) =>
  (value.recipientId === undefined) !== (value.groupId === undefined);

export const clientMessageId = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'Use 1 to 64 letters, digits or _.:-');

/** A send's fields (the REST send adds `sendAt`, see scheduledSchemas.ts). */
export const sendMessageFields = {
  recipientId: id.optional(),
  groupId: id.optional(),
  ...content,
  clientMessageId: clientMessageId.optional(),
  replyTo: id.optional(),
  threadRootId: id.optional().meta({ description: 'Reply in the thread of this message (of the same conversation, not a reply itself)' }),
  attachments: z.array(id).max(10).optional(),
};
export { exactlyOneContent, exactlyOneTarget };

export const sendMessageSchema = z
  .strictObject(sendMessageFields)
  .refine(exactlyOneTarget, { message: 'Give exactly one of recipientId and groupId', path: ['recipientId'] })
  .refine(exactlyOneContent, { message: 'Give exactly one of text and encrypted', path: ['text'] })
  .meta({
    id: 'SendMessage',
    description: 'Exactly one of `recipientId` and `groupId`, exactly one of `text` and `encrypted`.',
    examples: [{ recipientId: '0d62370b-4cb8-4020-8c11-224f4766ff77', text: 'See you at 8?', clientMessageId: 'c-42' }],
  });

export const editMessageSchema = z
  .strictObject(content)
  .refine(exactlyOneContent, { message: 'Give exactly one of text and encrypted', path: ['text'] });

/** A conversation as the client names it: the other user, or the group. */
export const conversationSchema = {
  with: id.optional(),
  groupId: id.optional(),
};
const exactlyOneConversation = (value: { with?: string | undefined; groupId?: string | undefined }) =>
  (value.with === undefined) !== (value.groupId === undefined);

const cursor = queryInteger(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER));

export const listMessagesSchema = z
  .strictObject({
    ...conversationSchema,
    before: cursor.optional(),
    after: cursor.optional(),
    limit: queryInteger(z.number().int().min(1).max(100).default(50)),
  })
  .refine(exactlyOneConversation, { message: 'Give exactly one of with and groupId', path: ['with'] })
  .refine((value) => value.before === undefined || value.after === undefined, {
    message: 'Give before or after, not both',
    path: ['before'],
  });

export const markSchema = z
  .strictObject({ ...conversationSchema, messageId: id })
  .refine(exactlyOneConversation, { message: 'Give exactly one of with and groupId', path: ['with'] });

export const deleteMessageSchema = z.strictObject({ scope: z.enum(['everyone', 'me']).default('me') });

export const typingSchema = z
  .strictObject({ ...conversationSchema })
  .refine(exactlyOneConversation, { message: 'Give exactly one of with and groupId', path: ['with'] });

export const listConversationsSchema = z.strictObject({
  before: cursor.optional(),
  limit: queryInteger(z.number().int().min(1).max(100).default(50)),
});

const groupProfile = {
  name: boundedText(100),
  description: z.string().max(1_000).trim().optional(),
  iconMediaId: id.nullable().optional(),
};

export const createGroupSchema = z.strictObject({ ...groupProfile, memberIds: z.array(id).max(999).default([]) });
export const updateGroupSchema = z
  .strictObject({
    name: groupProfile.name.optional(),
    description: groupProfile.description,
    iconMediaId: groupProfile.iconMediaId,
  })
  .refine((value) => Object.values(value).some((field) => field !== undefined), { message: 'Change at least one field', path: ['name'] });
export const addMemberSchema = z.strictObject({ userId: id, role: z.enum(['admin', 'member']).default('member') });
export const transferOwnershipSchema = z.strictObject({ userId: id });
