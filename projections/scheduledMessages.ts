import { scheduledMessageEventTypes, type ScheduledFailureReason, type ScheduledMessageEvent } from '../commands/scheduledMessages.ts';
import { assertNever, eventOf } from '../commands/shared/events.ts';
import { textOf } from '../commands/shared/sealed.ts';
import type { ProjectedDoc, Projector, Unpositioned } from '../src/projection/projector.ts';

export const SCHEDULED_MESSAGES = 'scheduled_messages';

/**
 * A sender's scheduled message as they list it, and as the dispatcher finds it when due (`status` pending, by
 * `sendAt`). The text is kept only while it is pending: once sent it lives in the message (and is erased with it),
 * once cancelled it is gone; a failed one keeps it until the sender dismisses it (a cancel).
 */
export interface ScheduledMessageDoc extends ProjectedDoc {
  senderId: string;
  messageId: string;
  conversationId: string;
  recipientId: string | null;
  groupId: string | null;
  text: string | null;
  sendAt: string;
  status: 'pending' | 'delivered' | 'failed' | 'cancelled';
  reason: ScheduledFailureReason | null;
  scheduledAt: string;
  updatedAt: string;
}

export const scheduledMessagesProjector: Projector = {
  name: SCHEDULED_MESSAGES,
  collections: {
    [SCHEDULED_MESSAGES]: [{ key: { senderId: 1, sendAt: 1 } }, { key: { status: 1, sendAt: 1 } }],
  },
  handles: new Set(scheduledMessageEventTypes),
  async apply(recorded, context) {
    const event = eventOf<ScheduledMessageEvent>(scheduledMessageEventTypes, recorded);
    const id = event.data.scheduleId;
    const project = (reducer: (doc: ScheduledMessageDoc | null) => Unpositioned<ScheduledMessageDoc> | null) =>
      context.project<ScheduledMessageDoc>(SCHEDULED_MESSAGES, id, recorded, reducer);
    switch (event.type) {
      case 'MessageScheduled': {
        const { scheduleId, senderId, messageId, conversationId, target, text, sendAt, scheduledAt } = event.data;
        return project(
          (doc) =>
            doc ?? {
              _id: scheduleId,
              senderId,
              messageId,
              conversationId,
              recipientId: target.kind === 'direct' ? target.recipientId : null,
              groupId: target.kind === 'group' ? target.groupId : null,
              text: textOf(text),
              sendAt,
              status: 'pending',
              reason: null,
              scheduledAt,
              updatedAt: scheduledAt,
            },
        );
      }
      case 'ScheduledMessageEdited':
        return project(
          (doc) => doc && { ...doc, text: textOf(event.data.text), sendAt: event.data.sendAt, updatedAt: event.data.editedAt },
        );
      case 'ScheduledMessageCancelled':
        return project((doc) => doc && { ...doc, text: null, status: 'cancelled', updatedAt: event.data.cancelledAt });
      case 'ScheduledMessageDelivered':
        return project((doc) => doc && { ...doc, text: null, status: 'delivered', updatedAt: event.data.deliveredAt });
      case 'ScheduledMessageFailed':
        return project((doc) => doc && { ...doc, status: 'failed', reason: event.data.reason, updatedAt: event.data.failedAt });
      default:
        return assertNever(event);
    }
  },
};
