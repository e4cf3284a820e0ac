import type { ReactionEvent } from '../commands/reactions.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import type { ProjectionContext } from '../src/projection/projector.ts';
import type { Collection } from '../src/readstore/port.ts';
import type { LIVE_FRAMES, LiveFrame } from '../src/contract/socketProtocol.ts';
import { CONTACTS, type ContactDoc } from './contacts.ts';
import { messageCollectionOf, type MessageDoc } from './messageDocs.ts';
import { REACTION_COUNTS, type ReactionCountsDoc } from './reactions.ts';

type Deliver = (
  context: ProjectionContext,
  recorded: RecordedEvent,
  audience: { conversationId: string; except?: readonly string[] } | { userIds: readonly string[] },
  frame: LiveFrame<keyof typeof LIVE_FRAMES>,
) => Promise<void>;

/**
 * Everyone with a block either way with `userId`: from their own few contact documents, never by looking at each
 * member of a group (bounded by the blocks, not by the audience).
 */
export async function blockedWith(contacts: Collection<ContactDoc>, userId: string): Promise<string[]> {
  const [theirs, mine] = await Promise.all([contacts.find({ userId, blocked: true }), contacts.find({ ownerId: userId, blocked: true })]);
  return [...new Set([...theirs.map((doc) => doc.ownerId), ...mine.map((doc) => doc.userId)])];
}

/**
 * One `reaction` frame per reaction, addressed to the message's conversation (one feed entry, whatever the size of
 * the group), except those who deleted the message for themselves and those with a block either way with the reactor.
 */
export async function reactionFrame(event: ReactionEvent, recorded: RecordedEvent, context: ProjectionContext, deliver: Deliver) {
  const { messageId, conversationId, userId, emoji } = event.data;
  const message = await context.collection<MessageDoc>(messageCollectionOf(conversationId)).findOne({ _id: messageId });
  if (!message) return;
  const counts = await context.collection<ReactionCountsDoc>(REACTION_COUNTS).findOne({ _id: messageId });
  const count = counts?.counts.find((entry) => entry.emoji === emoji)?.count ?? 0;
  const blocked = await blockedWith(context.collection<ContactDoc>(CONTACTS), userId);
  await deliver(
    context,
    recorded,
    { conversationId, except: [...message.hiddenFor, ...blocked] },
    { type: 'reaction', conversationId, messageId, userId, emoji, change: event.type === 'ReactionAdded' ? 'added' : 'removed', count },
  );
}
