import { peerOf } from '../commands/conversations.ts';
import type { GroupEvent } from '../commands/groups.ts';
import type { MessageContent, MessageEvent } from '../commands/messages.ts';
import type { ReceiptEvent } from '../commands/receipts.ts';
import { groupEventTypes } from '../commands/groups.ts';
import { assertNever } from '../commands/shared/events.ts';
import { messageEventTypes } from '../commands/messages.ts';
import { receiptEventTypes } from '../commands/receipts.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import type { ProjectedDoc, ProjectionContext, Projector, Unpositioned } from '../src/projection/projector.ts';
import { GROUPS, participantsOf, type GroupDoc } from './groups.ts';
import { GROUP_MESSAGES, MESSAGES, messageCollectionOf, type MessageDoc } from './messageDocs.ts';

export interface LastMessage {
  id: string;
  senderId: string;
  preview: string | null;
  sentAt: string;
  position: number;
  deleted: boolean;
}

/** One user's view of one conversation: the conversation list, unread counts and receipt watermarks. */
export interface ConversationDoc extends ProjectedDoc {
  userId: string;
  conversationId: string;
  kind: 'direct' | 'group';
  peerId: string | null;
  groupId: string | null;
  lastMessage: LastMessage | null;
  /** Position of the latest activity; the list is sorted by it. */
  lastPosition: number;
  unreadCount: number;
  readUpTo: number;
  deliveredUpTo: number;
}

export const CONVERSATIONS = 'conversations';
export const conversationDocId = (userId: string, conversationId: string) => `${userId}|${conversationId}`;

const PREVIEW_LENGTH = 120;
const previewOf = (content: MessageContent | null) =>
  content === null ? null : content.kind === 'text' ? content.text.slice(0, PREVIEW_LENGTH) : null;

function emptyConversation(userId: string, conversationId: string, position: number): Unpositioned<ConversationDoc> {
  const groupId = conversationId.startsWith('group:') ? conversationId.slice('group:'.length) : null;
  return {
    _id: conversationDocId(userId, conversationId), userId, conversationId, kind: groupId ? 'group' : 'direct',
    peerId: peerOf(conversationId, userId), groupId, lastMessage: null, lastPosition: position, unreadCount: 0, readUpTo: 0, deliveredUpTo: 0,
  };
}

/** Messages from others after the read watermark that are still visible to the user. */
async function unreadCount(context: ProjectionContext, conversationId: string, userId: string, readUpTo: number): Promise<number> {
  return context.collection<MessageDoc>(messageCollectionOf(conversationId)).countDocuments({
    conversationId, position: { $gt: readUpTo }, senderId: { $ne: userId }, deletedAt: null, hiddenFor: { $ne: userId },
  });
}

async function recount(context: ProjectionContext, recorded: RecordedEvent, doc: ConversationDoc, changes: Partial<ConversationDoc> = {}) {
  const next = { ...doc, ...changes };
  const unread = await unreadCount(context, doc.conversationId, doc.userId, next.readUpTo);
  await context.project<ConversationDoc>(CONVERSATIONS, doc._id, recorded, () => ({ ...next, unreadCount: unread }));
}

/** The newest message of a conversation that `userId` has not hidden, as a preview. */
async function latestVisible(context: ProjectionContext, conversationId: string, userId: string): Promise<LastMessage | null> {
  const [doc] = await context.collection<MessageDoc>(messageCollectionOf(conversationId))
    .find({ conversationId, hiddenFor: { $ne: userId } }, { sort: { position: -1 }, limit: 1 });
  if (!doc) return null;
  return { id: doc._id, senderId: doc.senderId, preview: previewOf(doc.content), sentAt: doc.sentAt, position: doc.position, deleted: doc.deletedAt !== null };
}

async function onMessage(event: MessageEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { conversationId, messageId } = event.data;
  const collection = context.collection<ConversationDoc>(CONVERSATIONS);
  switch (event.type) {
    case 'MessageSent': {
      const { senderId, content, sentAt } = event.data;
      const lastMessage: LastMessage = { id: messageId, senderId, preview: previewOf(content), sentAt, position: recorded.position, deleted: false };
      for (const userId of await participantsOf(context.collection<GroupDoc>(GROUPS), conversationId)) {
        await context.project<ConversationDoc>(CONVERSATIONS, conversationDocId(userId, conversationId), recorded, (doc) => {
          const current = doc ?? emptyConversation(userId, conversationId, recorded.position);
          const own = userId === senderId;
          return {
            ...current, lastMessage, lastPosition: recorded.position,
            unreadCount: own ? current.unreadCount : current.unreadCount + 1,
            readUpTo: own ? Math.max(current.readUpTo, recorded.position) : current.readUpTo,
            deliveredUpTo: own ? Math.max(current.deliveredUpTo, recorded.position) : current.deliveredUpTo,
          };
        });
      }
      return;
    }
    case 'MessageEdited':
      return context.projectMany<ConversationDoc>(CONVERSATIONS, { conversationId }, recorded, (doc) => doc && (doc.lastMessage?.id === messageId
        ? { ...doc, lastMessage: { ...doc.lastMessage, preview: previewOf(event.data.content) } } : doc));
    case 'MessageDeleted':
      for (const doc of await collection.find({ conversationId })) {
        await recount(context, recorded, doc, doc.lastMessage?.id === messageId
          ? { lastMessage: { ...doc.lastMessage, preview: null, deleted: true } } : {});
      }
      return;
    case 'MessageHidden': {
      const { userId } = event.data;
      const doc = await collection.findOne({ _id: conversationDocId(userId, conversationId) });
      if (!doc) return;
      // Hidden everywhere for that user: the preview falls back to the newest message they can still see.
      const changes = doc.lastMessage?.id === messageId ? { lastMessage: await latestVisible(context, conversationId, userId) } : {};
      await recount(context, recorded, doc, changes);
      return;
    }
    default:
      return assertNever(event);
  }
}

async function onReceipt(event: ReceiptEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { conversationId, userId, upTo } = event.data;
  const doc = await context.collection<ConversationDoc>(CONVERSATIONS).findOne({ _id: conversationDocId(userId, conversationId) });
  if (!doc) return;
  if (event.type === 'MessagesDelivered') {
    return context.project<ConversationDoc>(CONVERSATIONS, doc._id, recorded, () => ({ ...doc, deliveredUpTo: Math.max(doc.deliveredUpTo, upTo.position) }));
  }
  await recount(context, recorded, doc, {
    readUpTo: Math.max(doc.readUpTo, upTo.position), deliveredUpTo: Math.max(doc.deliveredUpTo, upTo.position),
  });
}

async function onGroup(event: GroupEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const conversationId = `group:${event.data.groupId}`;
  const join = (userId: string) => context.project<ConversationDoc>(CONVERSATIONS, conversationDocId(userId, conversationId), recorded,
    // A new member starts with nothing unread: what was said before they joined is not theirs.
    (doc) => doc ?? { ...emptyConversation(userId, conversationId, recorded.position), readUpTo: recorded.position, deliveredUpTo: recorded.position });
  const leave = (userId: string) => context.project<ConversationDoc>(CONVERSATIONS, conversationDocId(userId, conversationId), recorded, () => null);
  switch (event.type) {
    case 'GroupCreated':
      for (const userId of [event.data.ownerId, ...event.data.memberIds]) await join(userId);
      return;
    case 'MemberAdded': return join(event.data.userId);
    case 'MemberRemoved':
    case 'MemberLeft': return leave(event.data.userId);
    // Membership is unchanged: nobody's conversation list changes.
    case 'GroupUpdated':
    case 'MemberRoleChanged':
    case 'OwnershipTransferred': return;
    default: return assertNever(event);
  }
}

const messageTypes = new Set<string>(messageEventTypes);
const receiptTypes = new Set<string>(receiptEventTypes);

export const conversationsProjector: Projector = {
  name: CONVERSATIONS,
  collections: {
    [CONVERSATIONS]: [{ key: { userId: 1, lastPosition: -1 } }, { key: { conversationId: 1 } }],
  },
  reads: [GROUPS, MESSAGES, GROUP_MESSAGES],
  handles: new Set([...messageEventTypes, ...receiptEventTypes, 'GroupCreated', 'MemberAdded', 'MemberRemoved', 'MemberLeft']),
  async apply(recorded, context) {
    if (messageTypes.has(recorded.type)) return onMessage(recorded as unknown as MessageEvent, recorded, context);
    if (receiptTypes.has(recorded.type)) return onReceipt(recorded as unknown as ReceiptEvent, recorded, context);
    if ((groupEventTypes as readonly string[]).includes(recorded.type)) return onGroup(recorded as unknown as GroupEvent, recorded, context);
  },
};
