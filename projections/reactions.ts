import { reactionEventTypes, type ReactionEvent } from '../commands/reactions.ts';
import { assertNever, eventOf } from '../commands/shared/events.ts';
import type { ProjectedDoc, Projector } from '../src/projection/projector.ts';

/**
 * `reactions`: one document per user, emoji and message (who reacted, paged by `reactedPosition`), and
 * `reaction_counts`: one per message with its count per emoji. A reaction writes one of each, whatever the size of
 * the group; readers subtract what they must not see (the reactions of people they blocked) from the counts.
 */
export interface ReactionDoc extends ProjectedDoc {
  messageId: string;
  conversationId: string;
  userId: string;
  emoji: string;
  at: string;
  reactedPosition: number;
}

export interface ReactionCountsDoc extends ProjectedDoc {
  conversationId: string;
  /** In the order each emoji was first used; an emoji whose count falls to 0 is dropped. */
  counts: Array<{ emoji: string; count: number }>;
}

export const REACTIONS = 'reactions';
export const REACTION_COUNTS = 'reaction_counts';
export const reactionDocId = (messageId: string, userId: string, emoji: string) => `${messageId}|${userId}|${emoji}`;

const withCount = (counts: ReactionCountsDoc['counts'], emoji: string, change: 1 | -1) => {
  const current = counts.find((entry) => entry.emoji === emoji)?.count ?? 0;
  const next = current + change;
  if (current === 0) return next > 0 ? [...counts, { emoji, count: next }] : counts;
  return next > 0
    ? counts.map((entry) => (entry.emoji === emoji ? { emoji, count: next } : entry))
    : counts.filter((entry) => entry.emoji !== emoji);
};

export const reactionsProjector: Projector = {
  name: REACTIONS,
  collections: {
    [REACTIONS]: [{ key: { messageId: 1, emoji: 1, reactedPosition: 1 } }, { key: { messageId: 1, userId: 1 } }],
    [REACTION_COUNTS]: [],
  },
  handles: new Set(reactionEventTypes),
  async apply(recorded, context) {
    const event = eventOf<ReactionEvent>(reactionEventTypes, recorded);
    const { messageId, conversationId, userId, emoji, at } = event.data;
    const id = reactionDocId(messageId, userId, emoji);
    // The decider adds only what is not there and removes only what is, so each event moves its count by one.
    const change = event.type === 'ReactionAdded' ? 1 : -1;
    switch (event.type) {
      case 'ReactionAdded':
        await context.project<ReactionDoc>(
          REACTIONS,
          id,
          recorded,
          (doc) => doc ?? { _id: id, messageId, conversationId, userId, emoji, at, reactedPosition: recorded.position },
        );
        break;
      case 'ReactionRemoved':
        await context.project<ReactionDoc>(REACTIONS, id, recorded, () => null);
        break;
      default:
        return assertNever(event);
    }
    await context.project<ReactionCountsDoc>(REACTION_COUNTS, messageId, recorded, (doc) => {
      const counts = withCount(doc?.counts ?? [], emoji, change);
      return counts.length === 0 ? null : { _id: messageId, conversationId, counts };
    });
  },
};
