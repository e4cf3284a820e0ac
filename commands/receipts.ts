import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';

/**
 * Receipts of one user in one conversation (`receipts-<conversationId>-<userId>`): two watermarks that only
 * move forward. One event per watermark move, never one per message. Reading implies delivery.
 */
export const receiptStream = (conversationId: string, userId: string) => `receipts-${conversationId}-${userId}`;

/** A watermark names the newest message covered and its global position, which orders messages. */
export interface Watermark {
  messageId: string;
  position: number;
}

export type MessagesDelivered = Event<'MessagesDelivered', { conversationId: string; userId: string; upTo: Watermark; at: string }>;
export type MessagesRead = Event<'MessagesRead', { conversationId: string; userId: string; upTo: Watermark; at: string }>;
export type ReceiptEvent = MessagesDelivered | MessagesRead;
export const receiptEventTypes = ['MessagesDelivered', 'MessagesRead'] as const satisfies readonly ReceiptEvent['type'][];

export type MarkDelivered = Command<'MarkDelivered', { conversationId: string; userId: string; upTo: Watermark }>;
export type MarkRead = Command<'MarkRead', { conversationId: string; userId: string; upTo: Watermark }>;
export type ReceiptCommand = MarkDelivered | MarkRead;

export interface ReceiptState {
  delivered: number;
  read: number;
}

export const initialState: ReceiptState = { delivered: 0, read: 0 };

export function evolve(state: ReceiptState, event: ReceiptEvent): ReceiptState {
  switch (event.type) {
    case 'MessagesDelivered':
      return { ...state, delivered: Math.max(state.delivered, event.data.upTo.position) };
    case 'MessagesRead':
      return { delivered: Math.max(state.delivered, event.data.upTo.position), read: Math.max(state.read, event.data.upTo.position) };
    default:
      return assertNever(event);
  }
}

export function decide(command: ReceiptCommand, state: ReceiptState): Decision<ReceiptEvent> {
  const { conversationId, userId, upTo } = command.data;
  const at = command.metadata.now;
  switch (command.type) {
    case 'MarkDelivered':
      return upTo.position > state.delivered ? [{ type: 'MessagesDelivered', data: { conversationId, userId, upTo, at } }] : [];
    case 'MarkRead':
      return upTo.position > state.read ? [{ type: 'MessagesRead', data: { conversationId, userId, upTo, at } }] : [];
    default:
      return assertNever(command);
  }
}

export const receiptDecider: Decider<ReceiptCommand, ReceiptEvent, ReceiptState> = {
  eventTypes: receiptEventTypes,
  initialState,
  evolve,
  decide,
};
