import { peerOf } from '../../commands/conversations.ts';
import { reactionDecider, reactionStream } from '../../commands/reactions.ts';
import { NotFoundError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { blockedWith } from '../../projections/reactionFrames.ts';
import { CONTACTS, type ContactDoc } from '../../projections/contacts.ts';
import { GROUP_MESSAGES, MESSAGES, type MessageDoc } from '../../projections/messageDocs.ts';
import { REACTION_COUNTS, REACTIONS, type ReactionCountsDoc, type ReactionDoc } from '../../projections/reactions.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { CommandHandler } from '../commandHandler.ts';
import type { Blocks } from '../people/blocks.ts';
import type { Projections } from '../projection/projections.ts';
import type { Filter, ReadStore } from '../readstore/port.ts';
import type { ConversationAccess } from './access.ts';

/** A message's reactions as one reader sees them: per emoji, how many (not counting people they block) and their own. */
export interface ReactionSummary {
  emoji: string;
  count: number;
  reacted: boolean;
}

/**
 * The reactions of a page of messages for `userId`, in three indexed reads whatever the page holds: the counts, the
 * reader's own reactions, and the reactions of the few people with a block either way with them (subtracted).
 */
export async function reactionSummaries(
  readStore: ReadStore,
  userId: string,
  messageIds: readonly string[],
): Promise<Map<string, ReactionSummary[]>> {
  if (messageIds.length === 0) return new Map();
  const ids = [...messageIds];
  const reactions = readStore.collection<ReactionDoc>(REACTIONS);
  const blocked = await blockedWith(readStore.collection<ContactDoc>(CONTACTS), userId);
  const [counts, own, hidden] = await Promise.all([
    readStore.collection<ReactionCountsDoc>(REACTION_COUNTS).find({ _id: { $in: ids } }),
    reactions.find({ messageId: { $in: ids }, userId }),
    blocked.length === 0 ? Promise.resolve([]) : reactions.find({ messageId: { $in: ids }, userId: { $in: blocked } }),
  ]);
  const key = (messageId: string, emoji: string) => `${messageId}|${emoji}`;
  const mine = new Set(own.map((doc) => key(doc.messageId, doc.emoji)));
  const subtract = new Map<string, number>();
  for (const doc of hidden) subtract.set(key(doc.messageId, doc.emoji), (subtract.get(key(doc.messageId, doc.emoji)) ?? 0) + 1);
  return new Map(
    counts.map((doc) => [
      doc._id,
      doc.counts
        .map(({ emoji, count }) => ({
          emoji,
          count: count - (subtract.get(key(doc._id, emoji)) ?? 0),
          reacted: mine.has(key(doc._id, emoji)),
        }))
        .filter((summary) => summary.count > 0),
    ]),
  );
}

export interface Reactor {
  userId: string;
  username: string;
  displayName: string;
  emoji: string;
  at: string;
  /** The page cursor: pass it as `after` for the next page. */
  position: number;
}

/** Adding and taking back reactions, and who reacted: shared by REST and the socket. */
export class ReactionService {
  constructor(
    private readonly commands: CommandHandler,
    private readonly readStore: ReadStore,
    private readonly projections: Projections,
    private readonly access: ConversationAccess,
    private readonly blocks: Blocks,
  ) {}

  /** Adds (`on`) or takes back the caller's reaction; answers the message's reactions once projected. */
  async set(userId: string, messageId: string, emoji: string, on: boolean, metadata: CommandMetadata) {
    const message = await this.visibleMessage(userId, messageId);
    const { conversationId, senderId } = message;
    const fields = { messageId, conversationId, userId, emoji, messageVisible: true };
    let result;
    if (on) {
      // Across a block nobody reacts: with the peer of a direct conversation, with the sender in a group.
      const other = peerOf(conversationId, userId) ?? senderId;
      const blocked = other !== userId && (await this.blocks.between(userId, other));
      result = await this.commands.handle(reactionDecider, reactionStream(messageId), {
        type: 'AddReaction',
        data: { ...fields, messageDeleted: message.deletedAt !== null, blocked },
        metadata,
      });
    } else {
      result = await this.commands.handle(reactionDecider, reactionStream(messageId), { type: 'RemoveReaction', data: fields, metadata });
    }
    if (result.position !== null) await this.projections.waitFor(result.position);
    return { messageId, reactions: (await reactionSummaries(this.readStore, userId, [messageId])).get(messageId) ?? [] };
  }

  /** Who reacted (with `emoji`, or with any), oldest first, without the people with a block either way with the caller. */
  async who(userId: string, messageId: string, query: { emoji?: string | undefined; after?: number | undefined; limit: number }) {
    await this.visibleMessage(userId, messageId);
    const blocked = await blockedWith(this.readStore.collection<ContactDoc>(CONTACTS), userId);
    const filter: Filter = { messageId };
    if (query.emoji !== undefined) filter.emoji = query.emoji;
    if (query.after !== undefined) filter.reactedPosition = { $gt: query.after };
    if (blocked.length > 0) filter.userId = { $nin: blocked };
    const page = await this.readStore
      .collection<ReactionDoc>(REACTIONS)
      .find(filter, { sort: { reactedPosition: 1 }, limit: query.limit + 1 });
    const docs = page.slice(0, query.limit);
    const users = new Map(
      (docs.length ? await this.readStore.collection<UserDoc>(USERS).find({ _id: { $in: docs.map((doc) => doc.userId) } }) : []).map(
        (user) => [user._id, user],
      ),
    );
    const reactors: Reactor[] = docs.map((doc) => ({
      userId: doc.userId,
      username: users.get(doc.userId)?.username ?? '',
      displayName: users.get(doc.userId)?.displayName ?? '',
      emoji: doc.emoji,
      at: doc.at,
      position: doc.reactedPosition,
    }));
    return { messageId, reactors, hasMore: page.length > query.limit, cursor: docs.at(-1)?.reactedPosition ?? null };
  }

  /** A message the caller may see (a participant, a member when it was said, not hidden for them), or 404. */
  private async visibleMessage(userId: string, messageId: string): Promise<MessageDoc> {
    const doc =
      (await this.readStore.collection<MessageDoc>(MESSAGES).findOne({ _id: messageId })) ??
      (await this.readStore.collection<MessageDoc>(GROUP_MESSAGES).findOne({ _id: messageId }));
    if (!doc || doc.hiddenFor.includes(userId) || !(await this.access.canReadAt(userId, doc.conversationId, doc.position)))
      throw new NotFoundError('Message');
    return doc;
  }
}
