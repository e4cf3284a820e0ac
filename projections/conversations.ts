import { peerOf } from '../commands/conversations.ts';
import type { GroupEvent } from '../commands/groups.ts';
import { groupEventTypes } from '../commands/groups.ts';
import type { MessageContent, MessageEvent } from '../commands/messages.ts';
import { messageEventTypes } from '../commands/messages.ts';
import type { ReceiptEvent } from '../commands/receipts.ts';
import { receiptEventTypes } from '../commands/receipts.ts';
import { assertNever } from '../commands/shared/events.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import { CONTACTS } from './contacts.ts';
import { hiddenByBlock } from './messageDocs.ts';
import type { ProjectedDoc, ProjectionContext, Projector, Unpositioned } from '../src/projection/projector.ts';

export interface LastMessage {
  id: string;
  senderId: string;
  preview: string | null;
  sentAt: string;
  position: number;
  deleted: boolean;
}

/** A stretch of positions in which a user could read a conversation: from joining (inclusive) to leaving. */
export interface Membership {
  from: number;
  /** The position of the removal or leave (exclusive), or null while a member. */
  to: number | null;
}

/**
 * One user's membership of one conversation (`conversations`): when they could read it, and their receipt
 * watermarks. Written when they join or leave and when their own watermarks move, never for other people's
 * messages: a message costs the same whatever the size of its group. The conversation's shared state (its last
 * message) is in `conversation_summaries`; unread counts are counted when the list is read.
 */
export interface ConversationDoc extends ProjectedDoc {
  userId: string;
  conversationId: string;
  kind: 'direct' | 'group';
  peerId: string | null;
  groupId: string | null;
  /** In order; the last one is open while the user is a member. */
  memberships: Membership[];
  active: boolean;
  readUpTo: number;
  deliveredUpTo: number;
  /** The newest messages this user deleted for themselves (bounded): the list's preview skips them. */
  hiddenRecently: string[];
}

/** One per conversation: what everybody in it sees first. */
export interface ConversationSummary extends ProjectedDoc {
  lastMessage: LastMessage | null;
  lastPosition: number;
}

export const CONVERSATIONS = 'conversations';
export const CONVERSATION_SUMMARIES = 'conversation_summaries';
export const conversationDocId = (userId: string, conversationId: string) => `${userId}|${conversationId}`;

const PREVIEW_LENGTH = 120;
const HIDDEN_KEPT = 50;
export const previewOf = (content: MessageContent | null) =>
  content === null ? null : content.kind === 'text' ? content.text.slice(0, PREVIEW_LENGTH) : null;

/** Where the user's latest membership began: sorts a conversation with no message yet. */
export const joinedAt = (doc: Pick<ConversationDoc, 'memberships'>): number => doc.memberships[doc.memberships.length - 1]?.from ?? 0;

/** Whether `userId` could read the conversation at `position`, by their memberships. */
export const memberAt = (doc: Pick<ConversationDoc, 'memberships'>, position: number): boolean =>
  doc.memberships.some((membership) => membership.from <= position && (membership.to === null || position < membership.to));

function newMembership(userId: string, conversationId: string, from: number): Unpositioned<ConversationDoc> {
  const groupId = conversationId.startsWith('group:') ? conversationId.slice('group:'.length) : null;
  return {
    _id: conversationDocId(userId, conversationId), userId, conversationId, kind: groupId ? 'group' : 'direct',
    peerId: peerOf(conversationId, userId), groupId, memberships: [{ from, to: null }], active: true,
    // What was said before joining is not unread.
    readUpTo: from, deliveredUpTo: from, hiddenRecently: [],
  };
}

const hideRecent = (doc: ConversationDoc, messageId: string) =>
  ({ ...doc, hiddenRecently: [...doc.hiddenRecently.filter((id) => id !== messageId), messageId].slice(-HIDDEN_KEPT) });

const summaryOf = (context: ProjectionContext, conversationId: string, recorded: RecordedEvent, reducer: (doc: ConversationSummary | null) => Unpositioned<ConversationSummary> | null) =>
  context.project<ConversationSummary>(CONVERSATION_SUMMARIES, conversationId, recorded, reducer);

async function onMessage(event: MessageEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { conversationId, messageId } = event.data;
  switch (event.type) {
    case 'MessageSent': {
      const { senderId, content, sentAt, target } = event.data;
      const lastMessage: LastMessage = { id: messageId, senderId, preview: previewOf(content), sentAt, position: recorded.position, deleted: false };
      await summaryOf(context, conversationId, recorded, () => ({ _id: conversationId, lastMessage, lastPosition: recorded.position }));
      // Both ends of a direct conversation are members from its first message on (nothing came before it); a
      // message sent across a block is the sender's alone: the recipient's list skips it, or never shows the chat.
      if (target.kind === 'direct') {
        const hidden = (await hiddenByBlock(event.data, context)).length > 0;
        await context.project<ConversationDoc>(CONVERSATIONS, conversationDocId(target.recipientId, conversationId), recorded,
          (doc) => (hidden ? doc && hideRecent(doc, messageId) : doc ?? newMembership(target.recipientId, conversationId, 0)));
      }
      // The sender has read everything up to their own message: one document, whoever else is listening.
      return context.project<ConversationDoc>(CONVERSATIONS, conversationDocId(senderId, conversationId), recorded, (doc) => {
        const current = doc ?? newMembership(senderId, conversationId, 0);
        return { ...current, readUpTo: Math.max(current.readUpTo, recorded.position), deliveredUpTo: Math.max(current.deliveredUpTo, recorded.position) };
      });
    }
    case 'MessageEdited':
      return summaryOf(context, conversationId, recorded, (doc) => doc && (doc.lastMessage?.id === messageId
        ? { ...doc, lastMessage: { ...doc.lastMessage, preview: previewOf(event.data.content) } } : doc));
    case 'MessageDeleted':
      return summaryOf(context, conversationId, recorded, (doc) => doc && (doc.lastMessage?.id === messageId
        ? { ...doc, lastMessage: { ...doc.lastMessage, preview: null, deleted: true } } : doc));
    case 'MessageHidden':
      return context.project<ConversationDoc>(CONVERSATIONS, conversationDocId(event.data.userId, conversationId), recorded,
        (doc) => doc && hideRecent(doc, messageId));
    default:
      return assertNever(event);
  }
}

async function onReceipt(event: ReceiptEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { conversationId, userId, upTo } = event.data;
  return context.project<ConversationDoc>(CONVERSATIONS, conversationDocId(userId, conversationId), recorded, (doc) => {
    if (!doc) return null;
    const deliveredUpTo = Math.max(doc.deliveredUpTo, upTo.position);
    // Reading implies delivery.
    return event.type === 'MessagesRead' ? { ...doc, deliveredUpTo, readUpTo: Math.max(doc.readUpTo, upTo.position) } : { ...doc, deliveredUpTo };
  });
}

async function onGroup(event: GroupEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const conversationId = `group:${event.data.groupId}`;
  const position = recorded.position;
  const join = (userId: string) => context.project<ConversationDoc>(CONVERSATIONS, conversationDocId(userId, conversationId), recorded, (doc) => {
    if (!doc) return newMembership(userId, conversationId, position);
    if (doc.active) return doc;
    return { ...doc, active: true, memberships: [...doc.memberships, { from: position, to: null }],
      readUpTo: Math.max(doc.readUpTo, position), deliveredUpTo: Math.max(doc.deliveredUpTo, position) };
  });
  const leave = (userId: string) => context.project<ConversationDoc>(CONVERSATIONS, conversationDocId(userId, conversationId), recorded, (doc) =>
    doc && (doc.active
      ? { ...doc, active: false, memberships: doc.memberships.map((membership) => (membership.to === null ? { ...membership, to: position } : membership)) }
      : doc));
  switch (event.type) {
    case 'GroupCreated':
      for (const userId of [event.data.ownerId, ...event.data.memberIds]) await join(userId);
      return;
    case 'MemberAdded': return join(event.data.userId);
    case 'MemberRemoved':
    case 'MemberLeft': return leave(event.data.userId);
    // Membership is unchanged: nobody's conversation changes.
    case 'GroupUpdated':
    case 'MemberRoleChanged':
    case 'OwnershipTransferred': return;
    default: return assertNever(event);
  }
}

const messageTypes = new Set<string>(messageEventTypes);
const receiptTypes = new Set<string>(receiptEventTypes);
const groupTypes = new Set<string>(groupEventTypes);

export const conversationsProjector: Projector = {
  // 2: one document per member and a summary per conversation (1 rewrote every member's document per message).
  version: 2,
  name: CONVERSATIONS,
  collections: {
    [CONVERSATIONS]: [{ key: { userId: 1 } }, { key: { conversationId: 1 } }],
    [CONVERSATION_SUMMARIES]: [],
  },
  reads: [CONTACTS],
  handles: new Set([...messageEventTypes, ...receiptEventTypes, 'GroupCreated', 'MemberAdded', 'MemberRemoved', 'MemberLeft']),
  async apply(recorded, context) {
    if (messageTypes.has(recorded.type)) return onMessage(recorded as unknown as MessageEvent, recorded, context);
    if (receiptTypes.has(recorded.type)) return onReceipt(recorded as unknown as ReceiptEvent, recorded, context);
    if (groupTypes.has(recorded.type)) return onGroup(recorded as unknown as GroupEvent, recorded, context);
  },
};
