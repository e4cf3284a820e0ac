import type { GroupEvent } from '../commands/groups.ts';
import { groupEventTypes } from '../commands/groups.ts';
import { assertNever } from '../commands/shared/events.ts';
import type { MessageEvent } from '../commands/messages.ts';
import { messageEventTypes } from '../commands/messages.ts';
import type { ReceiptEvent } from '../commands/receipts.ts';
import { receiptEventTypes } from '../commands/receipts.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import type { ProjectedDoc, ProjectionContext, Projector } from '../src/projection/projector.ts';
import type { Doc } from '../src/readstore/port.ts';
import { GROUPS, participantsOf, toPublicGroup, type GroupDoc } from './groups.ts';
import { GROUP_MESSAGES, MESSAGES, messageCollectionOf, toPublicMessage, type MessageDoc } from './messageDocs.ts';

/**
 * `feed`: every live update each user may see, in position order, as the exact bytes pushed over the socket.
 * A client resumes with `sync` from the last position it saw and gets the entries after it: no gap, no
 * duplicate. The audience of an event is decided here once, with group membership as of that event.
 */
export interface FeedEntry extends ProjectedDoc {
  userId: string;
  position: number;
  /** When the event behind the entry happened, for retention. */
  at: string;
  bytes: string;
}

export const FEED = 'feed';

/** Entries at or below this position may have been pruned (see scripts/prune-feed.ts). */
export const FEED_HORIZON = 'feed_horizon';
export interface FeedHorizon extends Doc {
  position: number;
}

async function groupOf(context: ProjectionContext, groupId: string): Promise<GroupDoc | null> {
  return context.collection<GroupDoc>(GROUPS).findOne({ _id: groupId });
}

async function audienceOf(context: ProjectionContext, conversationId: string, except: readonly string[] = []): Promise<string[]> {
  const participants = await participantsOf(context.collection<GroupDoc>(GROUPS), conversationId);
  return except.length === 0 ? participants : participants.filter((userId) => !except.includes(userId));
}

async function deliver(context: ProjectionContext, recorded: RecordedEvent, userIds: readonly string[], frame: Record<string, unknown>) {
  if (userIds.length === 0) return;
  const bytes = JSON.stringify({ ...frame, position: recorded.position });
  for (const userId of new Set(userIds)) {
    await context.project<FeedEntry>(FEED, `${userId}:${recorded.position}`, recorded,
      (doc) => doc ?? { _id: `${userId}:${recorded.position}`, userId, position: recorded.position, at: recorded.metadata.timestamp, bytes });
  }
  context.publish({ userIds: [...new Set(userIds)], position: recorded.position, bytes });
}

async function messageFrame(event: MessageEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { conversationId, messageId } = event.data;
  const doc = await context.collection<MessageDoc>(messageCollectionOf(conversationId)).findOne({ _id: messageId });
  if (!doc) return;
  const message = toPublicMessage(doc);
  switch (event.type) {
    case 'MessageSent': return deliver(context, recorded, await audienceOf(context, conversationId), { type: 'message.created', conversationId, message });
    // Whoever deleted the message for themselves hears nothing more of it.
    case 'MessageEdited': return deliver(context, recorded, await audienceOf(context, conversationId, doc.hiddenFor), { type: 'message.edited', conversationId, message });
    case 'MessageDeleted':
      return deliver(context, recorded, await audienceOf(context, conversationId, doc.hiddenFor), { type: 'message.deleted', conversationId, scope: 'everyone', message });
    case 'MessageHidden':
      return deliver(context, recorded, [event.data.userId], { type: 'message.deleted', conversationId, scope: 'me', messageId });
    default:
      return assertNever(event);
  }
}

async function receiptFrame(event: ReceiptEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { conversationId, userId, upTo, at } = event.data;
  const receipt = event.type === 'MessagesRead' ? 'read' : 'delivered';
  await deliver(context, recorded, await audienceOf(context, conversationId), { type: 'receipt', conversationId, userId, receipt, upTo, at });
}

async function groupFrame(event: GroupEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { groupId } = event.data;
  const group = await groupOf(context, groupId);
  if (!group) return;
  const frame = { type: 'group.updated', groupId, conversationId: `group:${groupId}`, change: event.type, data: event.data };
  await deliver(context, recorded, group.memberIds, { ...frame, group: toPublicGroup(group) });
  // Whoever just left or was removed hears of it, without the group's new state.
  if (event.type === 'MemberRemoved' || event.type === 'MemberLeft') await deliver(context, recorded, [event.data.userId], frame);
}

const messageTypes = new Set<string>(messageEventTypes);
const receiptTypes = new Set<string>(receiptEventTypes);

export const feedProjector: Projector = {
  name: FEED,
  collections: { [FEED]: [{ key: { userId: 1, position: 1 } }, { key: { position: 1 } }] },
  reads: [GROUPS, MESSAGES, GROUP_MESSAGES],
  handles: new Set([...messageEventTypes, ...receiptEventTypes, ...groupEventTypes]),
  async apply(recorded, context) {
    if (messageTypes.has(recorded.type)) return messageFrame(recorded as unknown as MessageEvent, recorded, context);
    if (receiptTypes.has(recorded.type)) return receiptFrame(recorded as unknown as ReceiptEvent, recorded, context);
    return groupFrame(recorded as unknown as GroupEvent, recorded, context);
  },
};
