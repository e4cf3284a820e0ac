import { z } from 'zod';
import { MAX_TEXT_LENGTH } from '../../commands/messages.ts';
import { exactlyOneContent, exactlyOneTarget, sendMessageFields } from './messagingSchemas.ts';
import { boundedText, id, queryInteger } from './validation.ts';

const sendAt = z.iso
  .datetime({ offset: true })
  .meta({ description: 'When to send it: at least 10 s and at most 1 year ahead (else 400 and nothing is stored)' });

/** `POST /api/messages`: a send now, or with `sendAt` a scheduled one (text only: no encrypted content, attachments or reply). */
export const sendOrScheduleMessageSchema = z
  .strictObject({ ...sendMessageFields, sendAt: sendAt.optional() })
  .refine(exactlyOneTarget, { message: 'Give exactly one of recipientId and groupId', path: ['recipientId'] })
  .refine(exactlyOneContent, { message: 'Give exactly one of text and encrypted', path: ['text'] })
  .refine(
    (value) =>
      value.sendAt === undefined || (value.text !== undefined && value.replyTo === undefined && (value.attachments ?? []).length === 0),
    { message: 'A scheduled message is a text, without attachments or a reply', path: ['sendAt'] },
  )
  .meta({
    id: 'SendOrScheduleMessage',
    description:
      'Exactly one of `recipientId` and `groupId`, exactly one of `text` and `encrypted`. With `sendAt`, a text is scheduled instead (202).',
    examples: [{ recipientId: '0d62370b-4cb8-4020-8c11-224f4766ff77', text: 'See you at 8?', clientMessageId: 'c-42' }],
  });

export const editScheduledMessageSchema = z
  .strictObject({ text: boundedText(MAX_TEXT_LENGTH).optional(), sendAt: sendAt.optional() })
  .refine((value) => value.text !== undefined || value.sendAt !== undefined, { message: 'Give text, sendAt or both', path: ['text'] });

export const listScheduledMessagesSchema = z.strictObject({
  status: z.enum(['pending', 'delivered', 'failed', 'cancelled']).optional(),
  limit: queryInteger(z.number().int().min(1).max(100).default(100)),
});

export const scheduledMessage = z
  .strictObject({
    id: id,
    messageId: id.meta({ description: 'The id the message gets when it is sent' }),
    conversationId: z.string(),
    recipientId: id.nullable(),
    groupId: id.nullable(),
    text: z.string().nullable().meta({ description: 'Null once sent (the message holds it) or cancelled (erased)' }),
    sendAt: z.iso.datetime(),
    status: z.enum(['pending', 'delivered', 'failed', 'cancelled']),
    reason: z
      .enum(['blocked', 'not_a_member', 'recipient_gone'])
      .nullable()
      .meta({ description: 'Why it failed: the recipient blocked you, you left the group, the recipient is gone' }),
    scheduledAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'ScheduledMessage' });
