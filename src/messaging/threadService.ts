import { threadDecider, threadMemberStream } from '../../commands/threads.ts';
import { NotFoundError, ValidationError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { MEDIA_FILES, type MediaDoc } from '../../projections/mediaFiles.ts';
import {
  attachmentFilesOf,
  GROUP_MESSAGES,
  MESSAGES,
  messageCollectionOf,
  toPublicMessage,
  type MessageDoc,
} from '../../projections/messageDocs.ts';
import {
  THREAD_MEMBERS,
  THREAD_REPLIES,
  threadMemberId,
  THREADS,
  threadUnreadOf,
  type ThreadDoc,
  type ThreadMemberDoc,
  type ThreadReplyDoc,
} from '../../projections/threads.ts';
import type { CommandHandler } from '../commandHandler.ts';
import type { Projections } from '../projection/projections.ts';
import type { Filter, ReadStore } from '../readstore/port.ts';
import type { ConversationAccess } from './access.ts';
import { reactionSummaries } from './reactionService.ts';

/** Unread replies are counted up to here (a badge shows "99+"). */
export const THREAD_UNREAD_LIMIT = 1_000;
/** Followed threads listed by GET /api/threads. */
const FOLLOWED_THREADS_LISTED = 200;
/** Followed threads counted for the conversation list's `threadUnreadCount`. */
export const FOLLOWED_THREADS_COUNTED = 1_000;

/** What a root message shows of its thread. */
export interface ThreadSummary {
  replyCount: number;
  lastReplyAt: string;
  lastRepliers: string[];
}

/** A thread with replies still there (every reply deleted: the root shows no thread). */
const summaryOf = (doc: ThreadDoc): ThreadSummary | null =>
  doc.replyCount > 0 && doc.lastReplyAt !== null
    ? { replyCount: doc.replyCount, lastReplyAt: doc.lastReplyAt, lastRepliers: doc.lastRepliers }
    : null;

/** The thread summaries of the roots among `messageIds`, in one read. */
export async function threadSummaries(readStore: ReadStore, messageIds: readonly string[]): Promise<Map<string, ThreadSummary>> {
  if (messageIds.length === 0) return new Map();
  const docs = await readStore.collection<ThreadDoc>(THREADS).find({ _id: { $in: [...messageIds] } });
  return new Map(docs.flatMap((doc) => (summaryOf(doc) ? [[doc._id, summaryOf(doc)!] as const] : [])));
}

/**
 * Per conversation, the unread replies of the threads `userId` follows (others' replies after each thread's read
 * mark, a tombstone included, as in the conversation): two reads, whatever the number of replies. At most
 * FOLLOWED_THREADS_COUNTED followed threads are looked at.
 */
export async function threadUnreadByConversation(
  readStore: ReadStore,
  userId: string,
  conversationIds: readonly string[],
): Promise<Map<string, number>> {
  if (conversationIds.length === 0) return new Map();
  const members = await readStore
    .collection<ThreadMemberDoc>(THREAD_MEMBERS)
    .find({ userId, following: true, conversationId: { $in: [...conversationIds] } }, { limit: FOLLOWED_THREADS_COUNTED });
  const threads = new Map(
    (members.length ? await readStore.collection<ThreadDoc>(THREADS).find({ _id: { $in: members.map((doc) => doc.rootId) } }) : []).map(
      (doc) => [doc._id, doc],
    ),
  );
  const unread = new Map<string, number>();
  for (const member of members) {
    const count = threadUnreadOf(threads.get(member.rootId) ?? null, member, THREAD_UNREAD_LIMIT);
    unread.set(member.conversationId, Math.min(THREAD_UNREAD_LIMIT, (unread.get(member.conversationId) ?? 0) + count));
  }
  return unread;
}

/**
 * The root a reply names, checked for the sender: a message of the same conversation they may read, not deleted,
 * not itself a reply (threads are one level deep). Undefined when the send opens no thread.
 */
export async function checkedThreadRoot(
  readStore: ReadStore,
  access: ConversationAccess,
  senderId: string,
  conversationId: string,
  threadRootId: string | undefined,
): Promise<string | undefined> {
  if (threadRootId === undefined) return undefined;
  const root = await readStore.collection<MessageDoc>(messageCollectionOf(conversationId)).findOne({ _id: threadRootId, conversationId });
  const valid =
    root !== null &&
    !root.threadRootId &&
    root.deletedAt === null &&
    !root.hiddenFor.includes(senderId) &&
    (await access.canReadAt(senderId, conversationId, root.position));
  if (!valid) {
    throw new ValidationError('threadRootId: no such message in this conversation (a thread opens on a message that is not a reply)', {
      field: 'threadRootId',
    });
  }
  return threadRootId;
}

/** Threads: reading one, following and unfollowing, the read mark, and the threads one follows. */
export class ThreadService {
  constructor(
    private readonly commands: CommandHandler,
    private readonly readStore: ReadStore,
    private readonly projections: Projections,
    private readonly access: ConversationAccess,
  ) {}

  /** The root, its summary as the caller sees it, and one page of replies, newest first. */
  async get(userId: string, rootId: string, query: { before?: number | undefined; limit: number }) {
    const root = await this.visibleRoot(userId, rootId);
    const filter: Filter = { rootId };
    if (query.before !== undefined) filter.position = { $lt: query.before };
    const page = await this.readStore
      .collection<ThreadReplyDoc>(THREAD_REPLIES)
      .find(filter, { sort: { position: -1 }, limit: query.limit + 1 });
    const rows = page.slice(0, query.limit);
    const windows = await this.access.windowsOf(userId, root.conversationId);
    const readable = (position: number) =>
      windows.some((window) => window.from <= position && (window.to === null || position < window.to));
    const byId = new Map(
      (rows.length
        ? await this.readStore
            .collection<MessageDoc>(messageCollectionOf(root.conversationId))
            .find({ _id: { $in: rows.map((row) => row._id) } })
        : []
      ).map((doc) => [doc._id, doc]),
    );
    const docs = rows.flatMap((row) => {
      const doc = byId.get(row._id);
      return doc && !doc.hiddenFor.includes(userId) && readable(doc.position) ? [doc] : [];
    });
    const files = await attachmentFilesOf(this.readStore.collection<MediaDoc>(MEDIA_FILES), [root, ...docs]);
    const reactions = await reactionSummaries(this.readStore, userId, [root._id, ...docs.map((doc) => doc._id)]);
    const withReactions = (doc: MessageDoc) => ({ ...toPublicMessage(doc, files), reactions: reactions.get(doc._id) ?? [] });
    return {
      root: withReactions(root),
      thread: await this.stateFor(userId, rootId),
      replies: docs.map(withReactions),
      hasMore: page.length > query.limit,
      cursors: { before: rows.at(-1)?.position ?? null },
    };
  }

  async follow(userId: string, rootId: string, on: boolean, metadata: CommandMetadata) {
    const root = await this.visibleRoot(userId, rootId);
    const member = await this.readStore.collection<ThreadMemberDoc>(THREAD_MEMBERS).findOne({ _id: threadMemberId(rootId, userId) });
    const data = { rootId, conversationId: root.conversationId, userId, rootVisible: true, following: member?.following ?? false };
    const result = await this.commands.handle(threadDecider, threadMemberStream(rootId, userId), {
      type: on ? 'FollowThread' : 'UnfollowThread',
      data,
      metadata,
    });
    if (result.position !== null) await this.projections.waitFor(result.position);
    return { rootId, thread: await this.stateFor(userId, rootId) };
  }

  /** Marks every reply so far read. */
  async markRead(userId: string, rootId: string, metadata: CommandMetadata) {
    const root = await this.visibleRoot(userId, rootId);
    const thread = await this.readStore.collection<ThreadDoc>(THREADS).findOne({ _id: rootId });
    const result = await this.commands.handle(threadDecider, threadMemberStream(rootId, userId), {
      type: 'MarkThreadRead',
      data: { rootId, conversationId: root.conversationId, userId, rootVisible: true, upTo: thread?.lastReplyPosition ?? root.position },
      metadata,
    });
    if (result.position !== null) await this.projections.waitFor(result.position);
    return { rootId, thread: await this.stateFor(userId, rootId) };
  }

  /** The threads the caller follows in conversations they are still in, latest reply first, with unread counts. */
  async followed(userId: string) {
    const members = await this.readStore
      .collection<ThreadMemberDoc>(THREAD_MEMBERS)
      .find({ userId, following: true }, { limit: FOLLOWED_THREADS_LISTED });
    const readable = new Map<string, boolean>();
    for (const conversationId of new Set(members.map((doc) => doc.conversationId)))
      readable.set(conversationId, await this.access.canRead(userId, conversationId));
    const visible = members.filter((doc) => readable.get(doc.conversationId));
    const threads = new Map(
      (visible.length
        ? await this.readStore.collection<ThreadDoc>(THREADS).find({ _id: { $in: visible.map((doc) => doc.rootId) } })
        : []
      ).map((doc) => [doc._id, doc]),
    );
    const rows = visible.flatMap((member) => {
      const thread = threads.get(member.rootId);
      const summary = thread && summaryOf(thread);
      return thread && summary
        ? [
            {
              rootId: member.rootId,
              conversationId: member.conversationId,
              ...summary,
              lastReplyPosition: thread.lastReplyPosition,
              unreadCount: threadUnreadOf(thread, member, THREAD_UNREAD_LIMIT),
            },
          ]
        : [];
    });
    const sorted = rows.sort((a, b) => b.lastReplyPosition - a.lastReplyPosition);
    return {
      threads: sorted,
      unreadCount: Math.min(
        THREAD_UNREAD_LIMIT,
        sorted.reduce((sum, row) => sum + row.unreadCount, 0),
      ),
    };
  }

  /** The caller's view of a thread: its summary (none before the first reply), whether they follow it, what is unread. */
  private async stateFor(userId: string, rootId: string) {
    const [thread, member] = await Promise.all([
      this.readStore.collection<ThreadDoc>(THREADS).findOne({ _id: rootId }),
      this.readStore.collection<ThreadMemberDoc>(THREAD_MEMBERS).findOne({ _id: threadMemberId(rootId, userId) }),
    ]);
    return {
      replyCount: thread?.replyCount ?? 0,
      lastReplyAt: thread?.lastReplyAt ?? null,
      lastRepliers: thread?.lastRepliers ?? [],
      following: member?.following ?? false,
      unreadCount: threadUnreadOf(thread, member, THREAD_UNREAD_LIMIT),
    };
  }

  /** A root the caller may read (a message that is not a reply, visible to them), or 404. */
  private async visibleRoot(userId: string, rootId: string): Promise<MessageDoc> {
    const doc =
      (await this.readStore.collection<MessageDoc>(MESSAGES).findOne({ _id: rootId })) ??
      (await this.readStore.collection<MessageDoc>(GROUP_MESSAGES).findOne({ _id: rootId }));
    if (
      !doc ||
      doc.threadRootId ||
      doc.hiddenFor.includes(userId) ||
      !(await this.access.canReadAt(userId, doc.conversationId, doc.position))
    )
      throw new NotFoundError('Thread');
    return doc;
  }
}
