import type { MessageDeleted, MessageExpired, MessageSent } from '../commands/messages.ts';
import { revealedContent } from '../commands/messages.ts';
import { isEventOf } from '../commands/shared/events.ts';
import { threadEventTypes, type ThreadEvent } from '../commands/threads.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import type { ProjectedDoc, ProjectionContext, Projector, Unpositioned } from '../src/projection/projector.ts';
import { CONVERSATIONS, conversationDocId, type ConversationDoc } from './conversations.ts';
import { GROUP_MESSAGES, MESSAGES, messageCollectionOf, type MessageDoc } from './messageDocs.ts';
import { USERS, type UserDoc } from './users.ts';

/**
 * Threads: a root message and the replies sent naming it (`threadRootId`). Per reply this writes its row in
 * `thread_replies`, the root's summary in `threads`, and the membership of the replier (and, on the first reply, of the
 * root's sender; of the people mentioned, if new): never a row per member of the group.
 */
export interface ThreadDoc extends ProjectedDoc {
  conversationId: string;
  /** Replies not deleted for everyone (nor expired). */
  replyCount: number;
  /** When the newest reply still there was sent; null once every reply is deleted. */
  lastReplyAt: string | null;
  /** The position of the newest reply ever (deleted or not): what a read mark moves to. */
  lastReplyPosition: number;
  /** How many replies were ever sent (deleted ones too: a tombstone stays unread, as in the conversation). */
  replySeq: number;
  /** The latest distinct repliers of the replies still there, newest first. */
  lastRepliers: string[];
}

/** One user's place in one thread: whether they follow it (and so get its frames) and how far they read it. */
export interface ThreadMemberDoc extends ProjectedDoc {
  rootId: string;
  userId: string;
  conversationId: string;
  following: boolean;
  readUpTo: number;
  /** The thread's `replySeq` at `readUpTo`: unread replies are `replySeq - readSeq`, a difference of two numbers. */
  readSeq: number;
}

export interface ThreadReplyDoc extends ProjectedDoc {
  rootId: string;
  conversationId: string;
  senderId: string;
  position: number;
  sentAt: string;
  /** This reply's number in its thread (1, 2, …). */
  seq: number;
  /** Deleted for everyone or expired: no longer in the root's summary. */
  removed: boolean;
}

export const THREADS = 'threads';
export const THREAD_MEMBERS = 'thread_members';
export const THREAD_REPLIES = 'thread_replies';
export const LAST_REPLIERS_SHOWN = 3;
/** Mentions past this many in one reply are not followed up (the text is bounded anyway). */
const MAX_MENTIONS = 20;
const MENTION = /(?<![\w@])@([a-z0-9_]{3,30})\b/g;

export const threadMemberId = (rootId: string, userId: string) => `${rootId}|${userId}`;

/** The usernames `@mentioned` in a text, lower-cased and distinct (usernames are 3–30 of a-z 0-9 _). */
export function mentionedUsernames(text: string): string[] {
  return [...new Set([...text.toLowerCase().matchAll(MENTION)].map((match) => match[1]!))].slice(0, MAX_MENTIONS);
}

/** Replies scanned (newest first) for the summary after a reply is removed: enough for the latest distinct repliers. */
const SUMMARY_SCAN = 50;

const member = (
  rootId: string,
  userId: string,
  conversationId: string,
  readUpTo: number,
  readSeq: number,
): Unpositioned<ThreadMemberDoc> => ({
  _id: threadMemberId(rootId, userId),
  rootId,
  userId,
  conversationId,
  following: true,
  readUpTo,
  readSeq,
});

/** Unread replies for a member: a difference of numbers, bounded by `limit`. */
export const threadUnreadOf = (
  thread: Pick<ThreadDoc, 'replySeq'> | null,
  member: Pick<ThreadMemberDoc, 'readSeq'> | null,
  limit: number,
) => (thread ? Math.min(limit, Math.max(0, thread.replySeq - (member?.readSeq ?? 0))) : 0);

async function onReply(event: MessageSent, rootId: string, recorded: RecordedEvent, context: ProjectionContext) {
  const { messageId, conversationId, senderId, sentAt, content } = event.data;
  const position = recorded.position;
  const thread = await context.collection<ThreadDoc>(THREADS).findOne({ _id: rootId });
  if (thread && thread.lastReplyPosition >= position) return;
  const seq = (thread?.replySeq ?? 0) + 1;
  await context.project<ThreadReplyDoc>(
    THREAD_REPLIES,
    messageId,
    recorded,
    (doc) => doc ?? { _id: messageId, rootId, conversationId, senderId, position, sentAt, seq, removed: false },
  );
  await context.project<ThreadDoc>(THREADS, rootId, recorded, (doc) => ({
    _id: rootId,
    conversationId,
    replyCount: (doc?.replyCount ?? 0) + 1,
    lastReplyAt: sentAt,
    lastReplyPosition: position,
    replySeq: seq,
    lastRepliers: [senderId, ...(doc?.lastRepliers ?? []).filter((id) => id !== senderId)].slice(0, LAST_REPLIERS_SHOWN),
  }));
  // Replying follows the thread (again, after an unfollow) and reads it up to one's own reply.
  await context.project<ThreadMemberDoc>(THREAD_MEMBERS, threadMemberId(rootId, senderId), recorded, (doc) => ({
    ...(doc ?? member(rootId, senderId, conversationId, position, seq)),
    following: true,
    readUpTo: Math.max(doc?.readUpTo ?? 0, position),
    readSeq: Math.max(doc?.readSeq ?? 0, seq),
  }));
  // The root's sender and the people mentioned (members of the conversation) follow it unless they chose otherwise.
  const root = await context.collection<MessageDoc>(messageCollectionOf(conversationId)).findOne({ _id: rootId });
  const text = revealedContent(content);
  const names = text.kind === 'text' ? mentionedUsernames(text.text) : [];
  const mentioned = names.length ? await context.collection<UserDoc>(USERS).find({ username: { $in: names } }) : [];
  const candidates = [...new Set([...(root ? [root.senderId] : []), ...mentioned.map((user) => user._id)])].filter((id) => id !== senderId);
  const memberships = candidates.length
    ? await context
        .collection<ConversationDoc>(CONVERSATIONS)
        .find({ _id: { $in: candidates.map((id) => conversationDocId(id, conversationId)) }, active: true })
    : [];
  for (const userId of memberships.map((doc) => doc.userId)) {
    await context.project<ThreadMemberDoc>(
      THREAD_MEMBERS,
      threadMemberId(rootId, userId),
      recorded,
      (doc) => doc ?? member(rootId, userId, conversationId, 0, 0),
    );
  }
}

/**
 * A reply deleted for everyone (or expired) leaves the root's summary: one fewer reply, the last reply time and
 * repliers of those still there. It stays counted in `replySeq` (unread as its tombstone until read).
 */
async function onReplyRemoved(event: MessageDeleted | MessageExpired, recorded: RecordedEvent, context: ProjectionContext) {
  const reply = await context.collection<ThreadReplyDoc>(THREAD_REPLIES).findOne({ _id: event.data.messageId });
  if (!reply || reply.removed) return;
  await context.project<ThreadReplyDoc>(THREAD_REPLIES, reply._id, recorded, (doc) => doc && { ...doc, removed: true });
  const recent = await context
    .collection<ThreadReplyDoc>(THREAD_REPLIES)
    .find({ rootId: reply.rootId, removed: false }, { sort: { position: -1 }, limit: SUMMARY_SCAN });
  await context.project<ThreadDoc>(
    THREADS,
    reply.rootId,
    recorded,
    (doc) =>
      doc && {
        ...doc,
        replyCount: Math.max(0, doc.replyCount - 1),
        lastReplyAt: recent[0]?.sentAt ?? null,
        lastRepliers: [...new Set(recent.map((row) => row.senderId))].slice(0, LAST_REPLIERS_SHOWN),
      },
  );
}

/** The `seq` of the thread's newest reply at or before `position`. */
async function replySeqAt(context: ProjectionContext, rootId: string, position: number): Promise<number> {
  const [reply] = await context
    .collection<ThreadReplyDoc>(THREAD_REPLIES)
    .find({ rootId, position: { $lte: position } }, { sort: { position: -1 }, limit: 1 });
  return reply?.seq ?? 0;
}

async function onThreadEvent(event: ThreadEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { rootId, userId, conversationId } = event.data;
  const readSeq = event.type === 'ThreadRead' ? await replySeqAt(context, rootId, event.data.upTo) : 0;
  await context.project<ThreadMemberDoc>(THREAD_MEMBERS, threadMemberId(rootId, userId), recorded, (doc) => {
    const current = doc ?? { ...member(rootId, userId, conversationId, 0, 0), following: false };
    if (event.type === 'ThreadFollowed') return { ...current, following: true };
    if (event.type === 'ThreadUnfollowed') return { ...current, following: false };
    return { ...current, readUpTo: Math.max(current.readUpTo, event.data.upTo), readSeq: Math.max(current.readSeq, readSeq) };
  });
}

const threadTypes = new Set<string>(threadEventTypes);

export const threadsProjector: Projector = {
  // 2: reply numbers (`replySeq`, `readSeq`) for unread counts without counting rows; a reply deleted for everyone or
  // expired leaves the root's summary.
  version: 2,
  name: THREADS,
  collections: {
    [THREADS]: [],
    [THREAD_MEMBERS]: [{ key: { rootId: 1, following: 1 } }, { key: { userId: 1, following: 1 } }],
    [THREAD_REPLIES]: [{ key: { rootId: 1, position: 1 } }, { key: { rootId: 1, removed: 1, position: 1 } }],
  },
  reads: [MESSAGES, GROUP_MESSAGES, USERS, CONVERSATIONS],
  handles: new Set(['MessageSent', 'MessageDeleted', 'MessageExpired', ...threadEventTypes]),
  async apply(recorded, context) {
    if (isEventOf<ThreadEvent>(threadTypes as ReadonlySet<ThreadEvent['type']>, recorded))
      return onThreadEvent(recorded, recorded, context);
    if (isEventOf<MessageSent>(['MessageSent'], recorded) && recorded.data.threadRootId)
      return onReply(recorded, recorded.data.threadRootId, recorded, context);
    if (isEventOf<MessageDeleted | MessageExpired>(['MessageDeleted', 'MessageExpired'], recorded))
      return onReplyRemoved(recorded, recorded, context);
  },
};
