import { z } from 'zod';
import { disappearingTimerNames } from '../../commands/disappearing.ts';
import { conversationSchema } from './messagingSchemas.ts';

const exactlyOneConversation = (value: { with?: string | undefined; groupId?: string | undefined }) =>
  (value.with === undefined) !== (value.groupId === undefined);

export const disappearingTimer = z
  .enum(disappearingTimerNames)
  .meta({ id: 'DisappearingTimer', description: 'How long a message stays after it is sent: `off` (for good), 24 hours, 7 or 90 days' });

/** The conversation, as messages name it: `with` the other user, or `groupId`. */
export const timerQuerySchema = z
  .strictObject(conversationSchema)
  .refine(exactlyOneConversation, { message: 'Give exactly one of with and groupId', path: ['with'] });

export const setTimerSchema = z
  .strictObject({ ...conversationSchema, timer: disappearingTimer })
  .refine(exactlyOneConversation, { message: 'Give exactly one of with and groupId', path: ['with'] })
  .meta({
    id: 'SetDisappearingTimer',
    description: 'Exactly one of `with` and `groupId`. Applies to messages sent from now on.',
    examples: [{ with: '0d62370b-4cb8-4020-8c11-224f4766ff77', timer: '7d' }],
  });

export const conversationTimer = z
  .strictObject({
    conversationId: z.string(),
    timer: disappearingTimer,
    seconds: z.number().int().positive().nullable().meta({ description: 'How long a message sent now stays; null when off' }),
    changedBy: z.uuid().nullable(),
    changedAt: z.iso.datetime({ offset: true }).nullable(),
  })
  .meta({ id: 'ConversationTimer', description: "A conversation's disappearing-messages timer" });
