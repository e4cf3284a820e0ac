import { CONVERSATIONS, memberAt, type ConversationDoc } from '../../projections/conversations.ts';
import { FEED, type FeedEntry } from '../../projections/feed.ts';
import type { ReadStore } from '../readstore/port.ts';

/**
 * The feed entries of one user after a position, in position order, a page at a time: the entries of the
 * conversations they were a member of at each entry's position (their memberships, from `conversations`), minus
 * those that except them, and the entries addressed to them by name. Two indexed queries per page.
 */
export async function* replayFeed(readStore: ReadStore, userId: string, after: number, pageSize: number): AsyncGenerator<FeedEntry[]> {
  const memberships = new Map(
    (await readStore.collection<ConversationDoc>(CONVERSATIONS).find({ userId }))
      // Only memberships still open after `after` can hold entries to replay.
      .filter((doc) => doc.memberships.some((membership) => membership.to === null || membership.to > after))
      .map((doc) => [doc.conversationId, doc] as const),
  );
  const conversationIds = [...memberships.keys()];
  const feed = readStore.collection<FeedEntry>(FEED);
  for (let position = after; ;) {
    const [shared, named] = await Promise.all([
      conversationIds.length === 0
        ? []
        : feed.find({ conversationId: { $in: conversationIds }, position: { $gt: position } }, { sort: { position: 1 }, limit: pageSize }),
      feed.find({ userIds: userId, position: { $gt: position } }, { sort: { position: 1 }, limit: pageSize }),
    ]);
    // A full page may stop short of the other query's entries: go only as far as both are complete.
    const full = [shared, named].filter((page) => page.length === pageSize).map((page) => page[page.length - 1]!.position);
    const upTo = full.length > 0 ? Math.min(...full) : Number.POSITIVE_INFINITY;
    const page = [...shared, ...named]
      .filter((entry) => entry.position <= upTo)
      .filter(
        (entry) =>
          entry.conversationId === null ||
          (memberAt(memberships.get(entry.conversationId)!, entry.position) && !entry.except.includes(userId)),
      )
      .sort((a, b) => a.position - b.position || a._id.localeCompare(b._id));
    // Two entries of one position (a group's update and a removed member's notice) never both reach one user.
    const unique = page.filter((entry, index) => index === 0 || entry.position !== page[index - 1]!.position);
    if (unique.length > 0) yield unique;
    if (upTo === Number.POSITIVE_INFINITY) return;
    position = upTo;
  }
}
