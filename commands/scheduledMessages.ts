import { BlockedError } from './contacts.ts';
import { messageContentKeyId, type MessageTarget } from './messages.ts';
import { ConflictError, DomainError, ForbiddenError, NotFoundError, ValidationError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';
import { isSealed, type SealedText } from './shared/sealed.ts';

/**
 * A scheduled message (`scheduled-<scheduleId>`): a text its sender composed now to be sent at `sendAt`. When its time
 * comes it is sent as a normal message (a `MessageSent` on `message-<messageId>`, the id fixed when it was scheduled),
 * then this stream records that it was sent, or why it could not be (the recipient blocked the sender, the sender left
 * the group). Its text is sealed under the content key of the message it becomes, so cancelling it, or deleting the
 * message it became for everyone, erases it here too.
 */
export const scheduledMessageStream = (scheduleId: string) => `scheduled-${scheduleId}`;

/** How far ahead a message may be scheduled: at least 10 s (the dispatcher's margin), at most a year. */
export const MIN_SCHEDULE_AHEAD_MS = 10_000;
export const MAX_SCHEDULE_AHEAD_MS = 365 * 24 * 3_600_000;
/** An edit or a cancel must come at least this long before the time (after it, the dispatcher may be sending it). */
export const SCHEDULE_FREEZE_MS = 1_000;

export type ScheduledFailureReason = 'blocked' | 'not_a_member' | 'recipient_gone';

interface ScheduleKey {
  scheduleId: string;
  senderId: string;
}

export type MessageScheduled = Event<
  'MessageScheduled',
  ScheduleKey & {
    /** The message it becomes when sent: fixed now, so a send retried after a crash lands on the same stream. */
    messageId: string;
    conversationId: string;
    target: MessageTarget;
    /** Sealed under `message:<messageId>`. */
    text: SealedText;
    sendAt: string;
    scheduledAt: string;
  }
>;
export type ScheduledMessageEdited = Event<
  'ScheduledMessageEdited',
  ScheduleKey & { messageId: string; text: SealedText; sendAt: string; editedAt: string }
>;
export type ScheduledMessageCancelled = Event<'ScheduledMessageCancelled', ScheduleKey & { messageId: string; cancelledAt: string }>;
export type ScheduledMessageDelivered = Event<
  'ScheduledMessageDelivered',
  ScheduleKey & { messageId: string; conversationId: string; deliveredAt: string }
>;
export type ScheduledMessageFailed = Event<
  'ScheduledMessageFailed',
  ScheduleKey & { messageId: string; conversationId: string; reason: ScheduledFailureReason; failedAt: string }
>;
export type ScheduledMessageEvent =
  MessageScheduled | ScheduledMessageEdited | ScheduledMessageCancelled | ScheduledMessageDelivered | ScheduledMessageFailed;
export const scheduledMessageEventTypes = [
  'MessageScheduled',
  'ScheduledMessageEdited',
  'ScheduledMessageCancelled',
  'ScheduledMessageDelivered',
  'ScheduledMessageFailed',
] as const satisfies readonly ScheduledMessageEvent['type'][];

export type ScheduleMessage = Command<
  'ScheduleMessage',
  Omit<MessageScheduled['data'], 'scheduledAt'> & {
    /** Looked up by the shell: the direct recipient is registered, or the sender is a member of the group. */
    targetReachable: boolean;
    /** Looked up by the shell: the sender has blocked the direct recipient. */
    blocked: boolean;
  }
>;
export type EditScheduledMessage = Command<
  'EditScheduledMessage',
  { scheduleId: string; actorId: string; text?: SealedText | undefined; sendAt?: string | undefined }
>;
export type CancelScheduledMessage = Command<'CancelScheduledMessage', { scheduleId: string; actorId: string }>;
/** The dispatcher: the message was sent (its `MessageSent` is in the log). */
export type RecordScheduledDelivery = Command<'RecordScheduledDelivery', { scheduleId: string }>;
export type RecordScheduledFailure = Command<'RecordScheduledFailure', { scheduleId: string; reason: ScheduledFailureReason }>;
export type ScheduledMessageCommand =
  ScheduleMessage | EditScheduledMessage | CancelScheduledMessage | RecordScheduledDelivery | RecordScheduledFailure;

export type ScheduledMessageState =
  | { status: 'none' }
  | {
      status: 'pending' | 'delivered' | 'failed' | 'cancelled';
      scheduleId: string;
      senderId: string;
      messageId: string;
      conversationId: string;
      sendAt: string;
    };

export const initialState: ScheduledMessageState = { status: 'none' };

/** 409: a scheduled message that was already sent, failed or cancelled cannot be changed. */
export class ScheduleClosedError extends DomainError {
  constructor(status: string) {
    super('schedule_closed', 409, `This scheduled message is ${status}: it can no longer be changed`);
  }
}

function assertSendAt(sendAt: string, now: string): void {
  const ahead = Date.parse(sendAt) - Date.parse(now);
  if (!Number.isFinite(ahead) || ahead < MIN_SCHEDULE_AHEAD_MS || ahead > MAX_SCHEDULE_AHEAD_MS) {
    throw new ValidationError('sendAt: give a time at least 10 seconds and at most 1 year ahead', { field: 'sendAt' });
  }
}

function assertSealedFor(text: SealedText, messageId: string): void {
  if (!(isSealed(text) && text.kid === messageContentKeyId(messageId))) {
    throw new ValidationError("text: a scheduled text must be sealed with its message's content key", { field: 'text' });
  }
}

export function evolve(state: ScheduledMessageState, event: ScheduledMessageEvent): ScheduledMessageState {
  switch (event.type) {
    case 'MessageScheduled': {
      const { scheduleId, senderId, messageId, conversationId, sendAt } = event.data;
      return { status: 'pending', scheduleId, senderId, messageId, conversationId, sendAt };
    }
    case 'ScheduledMessageEdited':
      return state.status === 'none' ? state : { ...state, sendAt: event.data.sendAt };
    case 'ScheduledMessageCancelled':
      return state.status === 'none' ? state : { ...state, status: 'cancelled' };
    case 'ScheduledMessageDelivered':
      return state.status === 'none' ? state : { ...state, status: 'delivered' };
    case 'ScheduledMessageFailed':
      return state.status === 'none' ? state : { ...state, status: 'failed' };
    default:
      return assertNever(event);
  }
}

export function decide(command: ScheduledMessageCommand, state: ScheduledMessageState): Decision<ScheduledMessageEvent> {
  const now = command.metadata.now;
  switch (command.type) {
    case 'ScheduleMessage': {
      const { targetReachable, blocked, ...data } = command.data;
      // A retried schedule (same sender, same clientMessageId) finds it already there.
      if (state.status !== 'none') {
        if (state.senderId !== data.senderId) throw new ConflictError('schedule_exists', 'A scheduled message with this id already exists');
        return [];
      }
      assertSendAt(data.sendAt, now);
      if (!targetReachable) {
        throw data.target.kind === 'direct'
          ? new NotFoundError('Recipient', { recipientId: data.target.recipientId })
          : new ForbiddenError('You are not a member of this group', { groupId: data.target.groupId });
      }
      if (data.target.kind === 'direct' && data.target.recipientId === data.senderId) {
        throw new ValidationError('recipientId: you cannot message yourself', { field: 'recipientId' });
      }
      if (data.target.kind === 'direct' && blocked) throw new BlockedError();
      assertSealedFor(data.text, data.messageId);
      return [{ type: 'MessageScheduled', data: { ...data, scheduledAt: now } }];
    }
    case 'EditScheduledMessage': {
      if (state.status === 'none' || state.senderId !== command.data.actorId) throw new NotFoundError('Scheduled message');
      if (state.status !== 'pending') throw new ScheduleClosedError(state.status);
      if (Date.parse(state.sendAt) - Date.parse(now) < SCHEDULE_FREEZE_MS) throw new ScheduleClosedError('being sent');
      const sendAt = command.data.sendAt ?? state.sendAt;
      if (command.data.sendAt !== undefined) assertSendAt(sendAt, now);
      if (command.data.text === undefined) {
        throw new ValidationError('text: give the new text (the stored one is sealed)', { field: 'text' });
      }
      assertSealedFor(command.data.text, state.messageId);
      const { scheduleId, senderId, messageId } = state;
      return [
        { type: 'ScheduledMessageEdited', data: { scheduleId, senderId, messageId, text: command.data.text, sendAt, editedAt: now } },
      ];
    }
    case 'CancelScheduledMessage': {
      if (state.status === 'none' || state.senderId !== command.data.actorId) throw new NotFoundError('Scheduled message');
      if (state.status === 'cancelled') return [];
      // A failed one is cancelled to dismiss it (and erase its text).
      if (state.status === 'delivered') throw new ScheduleClosedError(state.status);
      if (state.status === 'pending' && Date.parse(state.sendAt) - Date.parse(now) < SCHEDULE_FREEZE_MS)
        throw new ScheduleClosedError('being sent');
      const { scheduleId, senderId, messageId } = state;
      return [{ type: 'ScheduledMessageCancelled', data: { scheduleId, senderId, messageId, cancelledAt: now } }];
    }
    case 'RecordScheduledDelivery':
    case 'RecordScheduledFailure': {
      // A retry after a crash, or a second instance passing at once, finds it recorded and records nothing.
      if (state.status !== 'pending') return [];
      const { scheduleId, senderId, messageId, conversationId } = state;
      return command.type === 'RecordScheduledDelivery'
        ? [{ type: 'ScheduledMessageDelivered', data: { scheduleId, senderId, messageId, conversationId, deliveredAt: now } }]
        : [
            {
              type: 'ScheduledMessageFailed',
              data: { scheduleId, senderId, messageId, conversationId, reason: command.data.reason, failedAt: now },
            },
          ];
    }
    default:
      return assertNever(command);
  }
}

export const scheduledMessageDecider: Decider<ScheduledMessageCommand, ScheduledMessageEvent, ScheduledMessageState> = {
  eventTypes: scheduledMessageEventTypes,
  initialState,
  evolve,
  decide,
};
