import {
  CONVERSATION_SUMMARIES,
  CONVERSATIONS,
  joinedAt,
  previewOf,
  UNREAD_COUNT_LIMIT,
  unreadCountOf,
  type ConversationDoc,
  type ConversationSummary,
  type LastMessage,
} from '../../projections/conversations.ts';
import { GROUPS, toPublicGroup, type GroupDoc, type PublicGroup } from '../../projections/groups.ts';
import { messageCollectionOf, type MessageDoc } from '../../projections/messageDocs.ts';
import { deletedAccount, toPublicUser, USERS, type PublicUser, type UserDoc } from '../../projections/users.ts';
import type { ReadStore } from '../readstore/port.ts';
import { threadUnreadByConversation } from './threadService.ts';

export { UNREAD_COUNT_LIMIT };

export interface ConversationListItem {
  conversationId: string;
  kind: 'direct' | 'group';
  peer?: PublicUser | null;
  group?: PublicGroup | null;
  lastMessage: LastMessage | null;
  lastPosition: number;
  unreadCount: number;
  /** Unread replies of the threads the user follows here, by each thread's read mark (POST /api/threads/{id}/read). */
  threadUnreadCount: number;
  readUpTo: number;
}

/**
 * A user's conversations, most recent activity first: their memberships joined with each conversation's summary
 * when read. Unread messages (from others, after the read watermark, not hidden for the user; a message deleted for
 * everyone stays unread as its tombstone) are a difference of the two documents' numbers, up to UNREAD_COUNT_LIMIT:
 * no message is read, however many are unread. Nothing here is written per message for each member. The unread
 * replies of the threads the user follows are counted apart (`threadUnreadCount`), by each thread's own read mark.
 */
export async function listConversations(
  readStore: ReadStore,
  userId: string,
  query: { before?: number | undefined; limit: number },
): Promise<ConversationListItem[]> {
  const memberships = await readStore.collection<ConversationDoc>(CONVERSATIONS).find({ userId, active: true });
  const summaries = new Map(
    memberships.length === 0
      ? []
      : (
          await readStore
            .collection<ConversationSummary>(CONVERSATION_SUMMARIES)
            .find({ _id: { $in: memberships.map((doc) => doc.conversationId) } })
        ).map((summary) => [summary._id, summary]),
  );
  const rows = memberships
    .map((doc) => ({ doc, summary: summaries.get(doc.conversationId) ?? null }))
    .map((row) => ({ ...row, lastPosition: Math.max(row.summary?.lastPosition ?? 0, joinedAt(row.doc)) }))
    .filter((row) => query.before === undefined || row.lastPosition < query.before)
    .sort((a, b) => b.lastPosition - a.lastPosition || a.doc.conversationId.localeCompare(b.doc.conversationId))
    .slice(0, query.limit);

  const peerIds = rows.flatMap(({ doc }) => (doc.peerId ? [doc.peerId] : []));
  const groupIds = rows.flatMap(({ doc }) => (doc.groupId ? [doc.groupId] : []));
  const peers = new Map(
    (peerIds.length ? await readStore.collection<UserDoc>(USERS).find({ _id: { $in: peerIds } }) : []).map((user) => [
      user._id,
      toPublicUser(user),
    ]),
  );
  const groups = new Map(
    (groupIds.length ? await readStore.collection<GroupDoc>(GROUPS).find({ _id: { $in: groupIds } }) : []).map((group) => [
      group._id,
      toPublicGroup(group),
    ]),
  );

  const threadUnread = await threadUnreadByConversation(
    readStore,
    userId,
    rows.map(({ doc }) => doc.conversationId),
  );

  return Promise.all(
    rows.map(async ({ doc, summary, lastPosition }) => ({
      conversationId: doc.conversationId,
      kind: doc.kind,
      ...(doc.peerId ? { peer: peers.get(doc.peerId) ?? deletedAccount(doc.peerId) } : {}),
      ...(doc.groupId ? { group: groups.get(doc.groupId) ?? null } : {}),
      lastMessage: await lastMessageFor(readStore, doc, summary),
      lastPosition,
      unreadCount: unreadCountOf(doc, summary),
      threadUnreadCount: threadUnread.get(doc.conversationId) ?? 0,
      readUpTo: doc.readUpTo,
    })),
  );
}

/** The conversation's last message, unless the user deleted it for themselves: then the newest they still see. */
async function lastMessageFor(
  readStore: ReadStore,
  doc: ConversationDoc,
  summary: ConversationSummary | null,
): Promise<LastMessage | null> {
  const last = summary?.lastMessage ?? null;
  if (!last || !doc.hiddenRecently.includes(last.id)) return last;
  const [visible] = await readStore
    .collection<MessageDoc>(messageCollectionOf(doc.conversationId))
    .find({ conversationId: doc.conversationId, hiddenFor: { $ne: doc.userId } }, { sort: { position: -1 }, limit: 1 });
  return visible
    ? {
        id: visible._id,
        senderId: visible.senderId,
        preview: previewOf(visible.content),
        sentAt: visible.sentAt,
        position: visible.position,
        deleted: visible.deletedAt !== null,
      }
    : null;
}
