import { peerOf } from '../commands/conversations.ts';
import type { GroupEvent } from '../commands/groups.ts';
import { groupEventTypes } from '../commands/groups.ts';
import type { MessageContent, MessageEvent } from '../commands/messages.ts';
import { messageEventTypes, revealedContent } from '../commands/messages.ts';
import type { ReceiptEvent } from '../commands/receipts.ts';
import { receiptEventTypes } from '../commands/receipts.ts';
import { assertNever, isEventOf } from '../commands/shared/events.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import { CONTACTS } from './contacts.ts';
import { GROUP_MESSAGES, hiddenByBlock, MESSAGES, messageCollectionOf, type MessageDoc } from './messageDocs.ts';
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
 * message and how many were sent) is in `conversation_summaries`; a user's unread count is the summary's
 * `lastSeq` less their `readSeq` and their `hiddenUnread`, so listing costs the same with 1 or 1,000 unread.
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
  /** The number (`seq`) of the last message of the conversation that is not unread for this user. */
  readSeq: number;
  deliveredUpTo: number;
  /** The newest messages this user deleted for themselves (bounded): the list's preview skips them. */
  hiddenRecently: string[];
  /**
   * Positions of others' messages after `readUpTo` that this user does not see (deleted for themselves, or sent
   * across a block): not unread. Dropped as the read mark passes them; bounded by UNREAD_COUNT_LIMIT.
   */
  hiddenUnread: number[];
}

/** One per conversation: what everybody in it sees first. */
export interface ConversationSummary extends ProjectedDoc {
  lastMessage: LastMessage | null;
  lastPosition: number;
  /** How many messages the conversation has had: the `seq` of its last one. */
  lastSeq: number;
}

export const CONVERSATIONS = 'conversations';
export const CONVERSATION_SUMMARIES = 'conversation_summaries';
export const conversationDocId = (userId: string, conversationId: string) => `${userId}|${conversationId}`;

/** Unread counts stop here: the list shows "1000", a badge shows "999+". */
export const UNREAD_COUNT_LIMIT = 1_000;

/** What the list shows as a user's unread count: a difference of numbers, no message read. */
export const unreadCountOf = (
  doc: Pick<ConversationDoc, 'readSeq' | 'hiddenUnread'>,
  summary: Pick<ConversationSummary, 'lastSeq'> | null,
): number => Math.min(UNREAD_COUNT_LIMIT, Math.max(0, (summary?.lastSeq ?? 0) - doc.readSeq - doc.hiddenUnread.length));

const PREVIEW_LENGTH = 120;
const HIDDEN_KEPT = 50;
export const previewOf = (content: MessageContent | null) =>
  content === null ? null : content.kind === 'text' ? content.text.slice(0, PREVIEW_LENGTH) : null;

/** Where the user's latest membership began: sorts a conversation with no message yet. */
export const joinedAt = (doc: Pick<ConversationDoc, 'memberships'>): number => doc.memberships[doc.memberships.length - 1]?.from ?? 0;

/** Whether `userId` could read the conversation at `position`, by their memberships. */
export const memberAt = (doc: Pick<ConversationDoc, 'memberships'>, position: number): boolean =>
  doc.memberships.some((membership) => membership.from <= position && (membership.to === null || position < membership.to));

/** `readSeq`: how many of the conversation's messages are not unread for them when they join. */
function newMembership(userId: string, conversationId: string, from: number, readSeq: number): Unpositioned<ConversationDoc> {
  const groupId = conversationId.startsWith('group:') ? conversationId.slice('group:'.length) : null;
  return {
    _id: conversationDocId(userId, conversationId),
    userId,
    conversationId,
    kind: groupId ? 'group' : 'direct',
    peerId: peerOf(conversationId, userId),
    groupId,
    memberships: [{ from, to: null }],
    active: true,
    // What was said before joining is not unread.
    readUpTo: from,
    readSeq,
    deliveredUpTo: from,
    hiddenRecently: [],
    hiddenUnread: [],
  };
}

/** The read mark moved to `readUpTo`: hidden messages it passed no longer matter. */
const readTo = <T extends Unpositioned<ConversationDoc>>(doc: T, readUpTo: number, readSeq: number): T => ({
  ...doc,
  readUpTo: Math.max(doc.readUpTo, readUpTo),
  readSeq: Math.max(doc.readSeq, readSeq),
  hiddenUnread: doc.hiddenUnread.filter((position) => position > Math.max(doc.readUpTo, readUpTo)),
});

/** A message this user will not see: if it would be unread for them, it is not. */
const hideUnread = (doc: ConversationDoc, message: Pick<MessageDoc, 'senderId' | 'position'>): ConversationDoc =>
  message.senderId === doc.userId || message.position <= doc.readUpTo || doc.hiddenUnread.includes(message.position)
    ? doc
    : { ...doc, hiddenUnread: [...doc.hiddenUnread, message.position].slice(-UNREAD_COUNT_LIMIT) };

/** A message as the message projectors wrote it (they run before this one within each event). */
const messageOf = (context: ProjectionContext, conversationId: string, messageId: string) =>
  context.collection<MessageDoc>(messageCollectionOf(conversationId)).findOne({ _id: messageId });

/** The `seq` of the conversation's last message at or before `position`. */
async function seqAt(context: ProjectionContext, conversationId: string, position: number): Promise<number> {
  const [message] = await context
    .collection<MessageDoc>(messageCollectionOf(conversationId))
    .find({ conversationId, position: { $lte: position } }, { sort: { position: -1 }, limit: 1 });
  return message?.seq ?? 0;
}

const hideRecent = (doc: ConversationDoc, messageId: string) => ({
  ...doc,
  hiddenRecently: [...doc.hiddenRecently.filter((id) => id !== messageId), messageId].slice(-HIDDEN_KEPT),
});

const summaryOf = (
  context: ProjectionContext,
  conversationId: string,
  recorded: RecordedEvent,
  reducer: (doc: ConversationSummary | null) => Unpositioned<ConversationSummary> | null,
) => context.project<ConversationSummary>(CONVERSATION_SUMMARIES, conversationId, recorded, reducer);

async function onMessage(event: MessageEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { conversationId, messageId } = event.data;
  switch (event.type) {
    case 'MessageSent': {
      const { senderId, content, sentAt, target } = event.data;
      const lastMessage: LastMessage = {
        id: messageId,
        senderId,
        preview: previewOf(revealedContent(content)),
        sentAt,
        position: recorded.position,
        deleted: false,
      };
      const seq = (await messageOf(context, conversationId, messageId))?.seq ?? 0;
      await summaryOf(context, conversationId, recorded, () => ({
        _id: conversationId,
        lastMessage,
        lastPosition: recorded.position,
        lastSeq: seq,
      }));
      // Both ends of a direct conversation are members from its first message on (nothing came before it); a
      // message sent across a block is the sender's alone: the recipient's list skips it, or never shows the chat.
      if (target.kind === 'direct') {
        const hidden = (await hiddenByBlock(event.data, context)).length > 0;
        // A recipient with no document yet has seen none of the messages before this one: all were hidden from them.
        await context.project<ConversationDoc>(CONVERSATIONS, conversationDocId(target.recipientId, conversationId), recorded, (doc) =>
          hidden
            ? doc && hideUnread(hideRecent(doc, messageId), { senderId, position: recorded.position })
            : (doc ?? newMembership(target.recipientId, conversationId, 0, seq - 1)),
        );
      }
      // The sender has read everything up to their own message: one document, whoever else is listening.
      return context.project<ConversationDoc>(CONVERSATIONS, conversationDocId(senderId, conversationId), recorded, (doc) => {
        const current = readTo(doc ?? newMembership(senderId, conversationId, 0, 0), recorded.position, seq);
        return { ...current, deliveredUpTo: Math.max(current.deliveredUpTo, recorded.position) };
      });
    }
    case 'MessageEdited':
      return summaryOf(
        context,
        conversationId,
        recorded,
        (doc) =>
          doc &&
          (doc.lastMessage?.id === messageId
            ? { ...doc, lastMessage: { ...doc.lastMessage, preview: previewOf(revealedContent(event.data.content)) } }
            : doc),
      );
    case 'MessageDeleted':
      return summaryOf(
        context,
        conversationId,
        recorded,
        (doc) =>
          doc && (doc.lastMessage?.id === messageId ? { ...doc, lastMessage: { ...doc.lastMessage, preview: null, deleted: true } } : doc),
      );
    // The list shows the newest message still there (the message projectors removed this one already), or none.
    case 'MessageExpired': {
      const summary = await context.collection<ConversationSummary>(CONVERSATION_SUMMARIES).findOne({ _id: conversationId });
      if (summary?.lastMessage?.id !== messageId) return;
      const [previous] = await context
        .collection<MessageDoc>(messageCollectionOf(conversationId))
        .find({ conversationId }, { sort: { position: -1 }, limit: 1 });
      const lastMessage: LastMessage | null = previous
        ? {
            id: previous._id,
            senderId: previous.senderId,
            preview: previewOf(previous.content),
            sentAt: previous.sentAt,
            position: previous.position,
            deleted: previous.deletedAt !== null,
          }
        : null;
      return summaryOf(context, conversationId, recorded, (doc) => doc && { ...doc, lastMessage });
    }
    case 'MessageContentShredded':
      return;
    case 'MessageHidden': {
      const message = await messageOf(context, conversationId, messageId);
      return context.project<ConversationDoc>(
        CONVERSATIONS,
        conversationDocId(event.data.userId, conversationId),
        recorded,
        (doc) => doc && (message ? hideUnread(hideRecent(doc, messageId), message) : hideRecent(doc, messageId)),
      );
    }
    default:
      return assertNever(event);
  }
}

async function onReceipt(event: ReceiptEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { conversationId, userId, upTo } = event.data;
  let readSeq = 0;
  if (event.type === 'MessagesRead') {
    const message = await messageOf(context, conversationId, upTo.messageId);
    readSeq =
      message?.conversationId === conversationId && message.position === upTo.position
        ? message.seq
        : await seqAt(context, conversationId, upTo.position);
  }
  return context.project<ConversationDoc>(CONVERSATIONS, conversationDocId(userId, conversationId), recorded, (doc) => {
    if (!doc) return null;
    const deliveredUpTo = Math.max(doc.deliveredUpTo, upTo.position);
    // Reading implies delivery.
    return event.type === 'MessagesRead' ? { ...readTo(doc, upTo.position, readSeq), deliveredUpTo } : { ...doc, deliveredUpTo };
  });
}

async function onGroup(event: GroupEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const conversationId = `group:${event.data.groupId}`;
  const position = recorded.position;
  // What was said before joining is not unread.
  const join = async (userId: string) => {
    const lastSeq = (await context.collection<ConversationSummary>(CONVERSATION_SUMMARIES).findOne({ _id: conversationId }))?.lastSeq ?? 0;
    return context.project<ConversationDoc>(CONVERSATIONS, conversationDocId(userId, conversationId), recorded, (doc) => {
      if (!doc) return newMembership(userId, conversationId, position, lastSeq);
      if (doc.active) return doc;
      return {
        ...readTo(doc, position, lastSeq),
        active: true,
        memberships: [...doc.memberships, { from: position, to: null }],
        deliveredUpTo: Math.max(doc.deliveredUpTo, position),
      };
    });
  };
  const leave = (userId: string) =>
    context.project<ConversationDoc>(
      CONVERSATIONS,
      conversationDocId(userId, conversationId),
      recorded,
      (doc) =>
        doc &&
        (doc.active
          ? {
              ...doc,
              active: false,
              memberships: doc.memberships.map((membership) => (membership.to === null ? { ...membership, to: position } : membership)),
            }
          : doc),
    );
  switch (event.type) {
    case 'GroupCreated':
      for (const userId of [event.data.ownerId, ...event.data.memberIds]) await join(userId);
      return;
    case 'MemberAdded':
    case 'MemberJoined':
    case 'JoinRequestApproved':
      return join(event.data.userId);
    case 'MemberRemoved':
    case 'MemberLeft':
      return leave(event.data.userId);
    // Membership is unchanged: nobody's conversation changes.
    case 'GroupUpdated':
    case 'MemberRoleChanged':
    case 'OwnershipTransferred':
    case 'GroupSettingsChanged':
    case 'InviteLinkCreated':
    case 'InviteLinkRevoked':
    case 'JoinRequested':
    case 'JoinRequestDeclined':
      return;
    default:
      return assertNever(event);
  }
}

const messageTypes = new Set(messageEventTypes);
const receiptTypes = new Set(receiptEventTypes);
const groupTypes = new Set(groupEventTypes);

export const conversationsProjector: Projector = {
  // 2: one document per member and a summary per conversation (1 rewrote every member's document per message).
  // 3: unread counts kept as numbers (`lastSeq`, `readSeq`, `hiddenUnread`), not counted when the list is read.
  version: 3,
  name: CONVERSATIONS,
  collections: {
    [CONVERSATIONS]: [{ key: { userId: 1 } }, { key: { conversationId: 1 } }],
    [CONVERSATION_SUMMARIES]: [],
  },
  reads: [CONTACTS, MESSAGES, GROUP_MESSAGES],
  handles: new Set([
    ...messageEventTypes,
    ...receiptEventTypes,
    'GroupCreated',
    'MemberAdded',
    'MemberRemoved',
    'MemberLeft',
    'MemberJoined',
    'JoinRequestApproved',
  ]),
  async apply(recorded, context) {
    if (isEventOf<MessageEvent>(messageTypes, recorded)) return onMessage(recorded, recorded, context);
    if (isEventOf<ReceiptEvent>(receiptTypes, recorded)) return onReceipt(recorded, recorded, context);
    if (isEventOf<GroupEvent>(groupTypes, recorded)) return onGroup(recorded, recorded, context);
  },
};
