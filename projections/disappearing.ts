import type { DisappearingEvent, DisappearingTimer } from '../commands/disappearing.ts';
import { disappearingEventTypes } from '../commands/disappearing.ts';
import type { MessageEvent } from '../commands/messages.ts';
import { messageEventTypes } from '../commands/messages.ts';
import { assertNever, isEventOf } from '../commands/shared/events.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import type { ProjectedDoc, ProjectionContext, Projector } from '../src/projection/projector.ts';

/**
 * `message_expiries`: the work of the expiry sweeper (src/messaging/messageExpiry.ts), kept in the read store so it
 * survives restarts and is shared by every instance on one database. A message sent under a timer is here from its
 * send (`expired: false`, due at `expiresAt`); any expired message (timer or retention) is here from its expiry
 * (`expired: true`) until its content key is destroyed (MessageContentShredded). No content is ever kept here.
 */
export const MESSAGE_EXPIRIES = 'message_expiries';
export interface MessageExpiryDoc extends ProjectedDoc {
  conversationId: string;
  expiresAt: string;
  expired: boolean;
}

/** `conversation_timers`: each conversation's disappearing-messages timer, when not off. */
export const CONVERSATION_TIMERS = 'conversation_timers';
export interface ConversationTimerDoc extends ProjectedDoc {
  timer: DisappearingTimer;
  seconds: number | null;
  changedBy: string;
  changedAt: string;
}

async function onMessage(event: MessageEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { messageId, conversationId } = event.data;
  switch (event.type) {
    case 'MessageSent': {
      const { expiresAt } = event.data;
      if (!expiresAt) return;
      return context.project<MessageExpiryDoc>(
        MESSAGE_EXPIRIES,
        messageId,
        recorded,
        (doc) => doc ?? { _id: messageId, conversationId, expiresAt, expired: false },
      );
    }
    case 'MessageExpired':
      return context.project<MessageExpiryDoc>(MESSAGE_EXPIRIES, messageId, recorded, (doc) => ({
        _id: messageId,
        conversationId,
        expiresAt: doc?.expiresAt ?? event.data.expiredAt,
        expired: true,
      }));
    // Its key is gone: nothing left to do (a delete for everyone destroys the key itself).
    case 'MessageContentShredded':
    case 'MessageDeleted':
      return context.project<MessageExpiryDoc>(MESSAGE_EXPIRIES, messageId, recorded, () => null);
    case 'MessageEdited':
    case 'MessageHidden':
      return;
    default:
      return assertNever(event);
  }
}

function onTimer(event: DisappearingEvent, recorded: RecordedEvent, context: ProjectionContext) {
  switch (event.type) {
    case 'DisappearingTimerChanged': {
      const { conversationId, timer, seconds, changedBy, changedAt } = event.data;
      return context.project<ConversationTimerDoc>(CONVERSATION_TIMERS, conversationId, recorded, () => ({
        _id: conversationId,
        timer,
        seconds,
        changedBy,
        changedAt,
      }));
    }
    default:
      return assertNever(event.type);
  }
}

const messageTypes = new Set(messageEventTypes);

export const disappearingProjector: Projector = {
  name: MESSAGE_EXPIRIES,
  collections: {
    [MESSAGE_EXPIRIES]: [{ key: { expired: 1, expiresAt: 1 } }],
    [CONVERSATION_TIMERS]: [],
  },
  handles: new Set([...messageEventTypes, ...disappearingEventTypes]),
  async apply(recorded, context) {
    if (isEventOf<MessageEvent>(messageTypes, recorded)) return onMessage(recorded, recorded, context);
    if (isEventOf<DisappearingEvent>(disappearingEventTypes, recorded)) return onTimer(recorded, recorded, context);
  },
};
