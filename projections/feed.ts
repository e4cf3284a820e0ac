import type { AiReplyCompleted, AiReplyFailed } from '../commands/ai.ts';
import { textOf } from '../commands/shared/sealed.ts';
import type { CallEvent } from '../commands/calls.ts';
import { callEventTypes } from '../commands/calls.ts';
import type { ContactEvent } from '../commands/contacts.ts';
import { contactEventTypes } from '../commands/contacts.ts';
import { peerOf } from '../commands/conversations.ts';
import type { GroupEvent } from '../commands/groups.ts';
import { groupEventTypes } from '../commands/groups.ts';
import type { MessageEvent, MessageExpired } from '../commands/messages.ts';
import type { DisappearingTimerChanged } from '../commands/disappearing.ts';
import { messageEventTypes } from '../commands/messages.ts';
import type { ReceiptEvent } from '../commands/receipts.ts';
import type { AccountDeleted, AvatarChanged, AvatarRemoved, PrivacySettingsChanged, ProfileUpdated } from '../commands/users.ts';
import { receiptEventTypes } from '../commands/receipts.ts';
import type { ScheduledMessageFailed } from '../commands/scheduledMessages.ts';
import { assertNever, eventOf, isEventOf } from '../commands/shared/events.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import type { ProjectedDoc, ProjectionContext, Projector, Publication } from '../src/projection/projector.ts';
import type { Doc } from '../src/readstore/port.ts';
import type { DistributiveOmit, LIVE_FRAMES, LiveFrame } from '../src/contract/socketProtocol.ts';
import { blockedAmong, blockedEitherWay, CONTACTS, contactDocId, type ContactDoc } from './contacts.ts';
import { CONVERSATIONS, type ConversationDoc } from './conversations.ts';
import { GROUPS, participantsOf, toPublicGroup, type GroupDoc } from './groups.ts';
import { USERS, type UserDoc } from './users.ts';
import {
  attachmentFilesOf,
  expiredCollectionOf,
  GROUP_MESSAGES,
  MESSAGES,
  messageCollectionOf,
  toPublicMessage,
  type MessageDoc,
} from './messageDocs.ts';
import { MEDIA_FILES, type MediaDoc } from './mediaFiles.ts';
import { CALLS, type CallDoc } from './calls.ts';
import type { MessageTranscribed } from '../commands/transcripts.ts';
import { MESSAGE_TRANSCRIPTS } from './transcripts.ts';
import { eraseTranscriptsFromFeed, transcriptFrame } from './transcriptFrames.ts';
import { reactionEventTypes, type ReactionEvent } from '../commands/reactions.ts';
import { REACTION_COUNTS } from './reactions.ts';
import { reactionFrame } from './reactionFrames.ts';
import { THREAD_MEMBERS, THREADS } from './threads.ts';
import { threadFollowers, threadFrame, threadSummaryFrame } from './threadFrames.ts';

/**
 * `feed`: every live update, in position order, as the exact bytes pushed over the socket, one entry per event
 * whatever the size of its audience. An entry is addressed to a conversation (everyone who was a member of it
 * at that position: see `Membership` in conversations.ts), minus `except`, and/or to a few users by id.
 * A client resumes with `sync` from the last position it saw and gets the entries after it that were its own
 * (see src/realtime/feedReplay.ts): no gap, no duplicate.
 */
export interface FeedEntry extends ProjectedDoc {
  position: number;
  /** When the event behind the entry happened, for retention. */
  at: string;
  conversationId: string | null;
  /** Members of the conversation who do not get this entry (who deleted the message for themselves). */
  except: string[];
  /** Users who get this entry by name (a removed member's notice, a delete-for-me on their other devices). */
  userIds: string[];
  bytes: string;
}

export const FEED = 'feed';

/** Entries at or below this position may have been pruned (see scripts/prune-feed.ts). */
export const FEED_HORIZON = 'feed_horizon';
export interface FeedHorizon extends Doc {
  position: number;
}

/**
 * Whether a frame starts or stops a device ringing, from its bytes: `call.incoming` starts, `call.answered` and
 * `call.ended` stop. Read from the stored entry by instances that push what another projected.
 */
export function ringOf(bytes: string): Publication['ring'] | undefined {
  if (!bytes.startsWith('{"type":"call.')) return undefined;
  const frame = JSON.parse(bytes) as { type: string; callId: string };
  if (frame.type === 'call.incoming') return { callId: frame.callId, state: 'start' };
  if (frame.type === 'call.answered' || frame.type === 'call.ended') return { callId: frame.callId, state: 'stop' };
  return undefined;
}

type Audience = { conversationId: string; except?: readonly string[] } | { userIds: readonly string[] };

/**
 * Writes one entry and publishes the frame. The live audience is resolved now, in memory (group membership as
 * of this event); the stored entry names the conversation, so its cost does not grow with the group.
 */
export async function deliver(
  context: ProjectionContext,
  recorded: RecordedEvent,
  audience: Audience,
  frame: LiveFrame<keyof typeof LIVE_FRAMES>,
  idSuffix = '',
) {
  const bytes = JSON.stringify({ ...frame, position: recorded.position });
  const ring = ringOf(bytes);
  const id = `${recorded.position}${idSuffix}`;
  const conversationId = 'conversationId' in audience ? audience.conversationId : null;
  const except = 'conversationId' in audience ? [...(audience.except ?? [])] : [];
  const userIds = 'userIds' in audience ? [...new Set(audience.userIds)] : [];
  await context.project<FeedEntry>(
    FEED,
    id,
    recorded,
    (doc) => doc ?? { _id: id, position: recorded.position, at: recorded.metadata.timestamp, conversationId, except, userIds, bytes },
  );
  const recipients =
    conversationId === null
      ? userIds
      : (await participantsOf(context.collection<GroupDoc>(GROUPS), conversationId)).filter((userId) => !except.includes(userId));
  if (recipients.length > 0) context.publish({ userIds: recipients, position: recorded.position, bytes, ...(ring ? { ring } : {}) });
}

/**
 * A delete for everyone leaves nothing of the message in the feed: the entries of its send and of its edits are
 * rewritten to carry the tombstone (their frame type and position kept, so a client syncing past them still sees
 * the message created, then deleted).
 */
async function eraseFromFeed(
  context: ProjectionContext,
  recorded: RecordedEvent,
  doc: MessageDoc,
  tombstone: ReturnType<typeof toPublicMessage>,
) {
  for (const position of [doc.position, ...(doc.editPositions ?? [])]) {
    await context.project<FeedEntry>(FEED, String(position), recorded, (entry) => {
      if (!entry) return null;
      const frame = JSON.parse(entry.bytes) as { message?: unknown };
      return frame.message === undefined ? entry : { ...entry, bytes: JSON.stringify({ ...frame, message: tombstone }) };
    });
  }
}

/** An expired message leaves the feed as a delete for everyone does (from its content-free copy), and everyone hears of it. */
async function expiredFrame(event: MessageExpired, recorded: RecordedEvent, context: ProjectionContext) {
  const { conversationId, messageId } = event.data;
  const doc = await context.collection<MessageDoc>(expiredCollectionOf(messageCollectionOf(conversationId))).findOne({ _id: messageId });
  if (!doc) return;
  await eraseFromFeed(context, recorded, doc, toPublicMessage(doc));
  await eraseTranscriptsFromFeed(context, recorded, messageId);
  await deliver(context, recorded, { conversationId, except: doc.hiddenFor }, { type: 'message.expired', conversationId, messageId });
}

async function messageFrame(event: MessageEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { conversationId, messageId } = event.data;
  if (event.type === 'MessageExpired') return expiredFrame(event, recorded, context);
  if (event.type === 'MessageContentShredded') return;
  const doc = await context.collection<MessageDoc>(messageCollectionOf(conversationId)).findOne({ _id: messageId });
  if (!doc) return;
  const message = toPublicMessage(doc, await attachmentFilesOf(context.collection<MediaDoc>(MEDIA_FILES), [doc]));
  // A thread reply's edits and deletes reach whoever got the reply: its thread's followers (see threadFrame).
  const followers = doc.threadRootId ? await threadFollowers(context, doc.threadRootId, doc) : null;
  const audience: Audience = followers ? { userIds: followers } : { conversationId, except: doc.hiddenFor };
  switch (event.type) {
    // Not to a recipient who is blocked from it (see hiddenByBlock).
    case 'MessageSent':
      return deliver(context, recorded, { conversationId, except: doc.hiddenFor }, { type: 'message.created', conversationId, message });
    // Whoever deleted the message for themselves hears nothing more of it.
    case 'MessageEdited':
      return deliver(context, recorded, audience, { type: 'message.edited', conversationId, message });
    case 'MessageDeleted':
      await eraseFromFeed(context, recorded, doc, message);
      await eraseTranscriptsFromFeed(context, recorded, messageId);
      await deliver(context, recorded, audience, { type: 'message.deleted', conversationId, scope: 'everyone', message });
      // The others in the conversation get the root's summary without the reply.
      if (followers) await threadSummaryFrame(context, recorded, deliver, doc, followers, 'reply_deleted');
      return;
    case 'MessageHidden':
      return deliver(
        context,
        recorded,
        { userIds: [event.data.userId] },
        { type: 'message.deleted', conversationId, scope: 'me', messageId },
      );
    default:
      return assertNever(event);
  }
}

/** A changed disappearing timer is shown to everyone in the conversation, as it stands (a notice in the conversation). */
async function timerFrame(event: DisappearingTimerChanged, recorded: RecordedEvent, context: ProjectionContext) {
  const { conversationId, timer, seconds, changedBy, changedAt } = event.data;
  await deliver(
    context,
    recorded,
    { conversationId },
    { type: 'conversation.timer', conversationId, timer, seconds, byUserId: changedBy, at: changedAt },
  );
}

/**
 * Receipts do not cross a block, and read receipts follow `privacy.readReceipts`: someone who keeps theirs to
 * themselves shows them only on their own devices, and gets no one else's.
 */
async function receiptAudience(event: ReceiptEvent, context: ProjectionContext): Promise<Audience> {
  const { conversationId, userId } = event.data;
  const own = { userIds: [userId] };
  const contacts = context.collection<ContactDoc>(CONTACTS);
  const peerId = peerOf(conversationId, userId);
  if (peerId && (await blockedEitherWay(contacts, userId, peerId))) return own;
  const members = peerId ? [userId, peerId] : await participantsOf(context.collection<GroupDoc>(GROUPS), conversationId);
  const blocked = peerId ? [] : [...(await blockedAmong(contacts, userId, members))];
  if (event.type !== 'MessagesRead') return { conversationId, except: blocked };
  const users = context.collection<UserDoc>(USERS);
  if ((await users.findOne({ _id: userId }))?.privacy.readReceipts === false) return own;
  const privateReaders = await users.find({ _id: { $in: members }, 'privacy.readReceipts': false });
  return { conversationId, except: [...blocked, ...privateReaders.map((user) => user._id)] };
}

async function receiptFrame(event: ReceiptEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { conversationId, userId, upTo, at } = event.data;
  const receipt = event.type === 'MessagesRead' ? 'read' : 'delivered';
  await deliver(context, recorded, await receiptAudience(event, context), { type: 'receipt', conversationId, userId, receipt, upTo, at });
}

/**
 * One frame per profile change (a privacy change too: what it hides must disappear from peers' screens), to the user's devices, the people who added them and their direct-conversation
 * peers (not across a block): never a copy into each conversation, which read the profile when they are read.
 */
async function profileFrame(
  event: ProfileUpdated | PrivacySettingsChanged | AvatarChanged | AvatarRemoved,
  recorded: RecordedEvent,
  context: ProjectionContext,
) {
  const { userId } = event.data;
  const user = await context.collection<UserDoc>(USERS).findOne({ _id: userId });
  if (!user) return;
  const [addedBy, direct] = await Promise.all([
    context.collection<ContactDoc>(CONTACTS).find({ userId, isContact: true }),
    context.collection<ConversationDoc>(CONVERSATIONS).find({ userId, kind: 'direct' }),
  ]);
  const audience = [...new Set([...addedBy.map((doc) => doc.ownerId), ...direct.flatMap((doc) => (doc.peerId ? [doc.peerId] : []))])];
  const blocked = await blockedAmong(context.collection<ContactDoc>(CONTACTS), userId, audience);
  const profile = {
    id: userId,
    username: user.username,
    displayName: user.displayName,
    about: user.privacy.about === 'everyone' ? user.about : null,
    avatarMediaId: user.privacy.avatar === 'everyone' ? user.avatarMediaId : null,
  };
  await deliver(
    context,
    recorded,
    { userIds: [userId, ...audience.filter((id) => !blocked.has(id))] },
    { type: 'user.updated', userId, profile },
  );
}

const CONTACT_CHANGES = {
  ContactAdded: 'added',
  ContactRenamed: 'renamed',
  ContactRemoved: 'removed',
  UserBlocked: 'blocked',
  UserUnblocked: 'unblocked',
} as const satisfies Record<ContactEvent['type'], string>;

/** A call's lifecycle reaches every device of every party, so a device that reconnects learns it was answered or ended. */
async function callFrame(event: CallEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { callId } = event.data;
  const call = (await context.collection<CallDoc>(CALLS).find({ callId }, { limit: 1 }))[0];
  if (!call) return;
  // A group call's frames reach only those still in the group (as of this event): someone removed hears no more.
  const members = call.groupId ? new Set(await participantsOf(context.collection<GroupDoc>(GROUPS), `group:${call.groupId}`)) : null;
  const parties = { userIds: [call.callerId, ...call.invitees].filter((userId) => !members || members.has(userId)) };
  switch (event.type) {
    case 'CallInitiated':
      return deliver(
        context,
        recorded,
        { userIds: event.data.invitees },
        {
          type: 'call.incoming',
          callId,
          from: event.data.callerId,
          media: event.data.media,
          groupId: event.data.groupId,
          expiresAt: event.data.ringDeadline,
        },
      );
    case 'CallAnswered':
      return deliver(context, recorded, parties, {
        type: 'call.answered',
        callId,
        byUserId: event.data.userId,
        byConnectionId: event.data.connectionId,
      });
    case 'CallRejected':
      return deliver(context, recorded, parties, { type: 'call.rejected', callId, userId: event.data.userId });
    case 'CallParticipantJoined':
      return deliver(context, recorded, parties, {
        type: 'call.participant',
        callId,
        userId: event.data.userId,
        change: 'joined',
        connectionId: event.data.connectionId,
      });
    case 'CallParticipantLeft':
      return deliver(context, recorded, parties, {
        type: 'call.participant',
        callId,
        userId: event.data.userId,
        change: 'left',
        connectionId: null,
      });
    case 'CallEnded':
      return deliver(context, recorded, parties, {
        type: 'call.ended',
        callId,
        reason: event.data.reason,
        durationMs: event.data.durationMs,
      });
    default:
      return assertNever(event);
  }
}

/** The end of a prompt reaches every device of its asker (the asking socket also had the deltas). */
async function aiFrame(event: AiReplyCompleted | AiReplyFailed, recorded: RecordedEvent, context: ProjectionContext) {
  const { userId, promptId } = event.data;
  const frame =
    event.type === 'AiReplyCompleted'
      ? {
          type: 'ai.reply' as const,
          promptId,
          status: 'completed' as const,
          code: null,
          reply: { id: event.data.replyId, text: textOf(event.data.text), finishReason: event.data.finishReason, createdAt: event.data.at },
        }
      : { type: 'ai.reply' as const, promptId, status: 'failed' as const, code: event.data.code, reply: null };
  await deliver(context, recorded, { userIds: [userId] }, frame);
}

/** The owner's devices hear of every change to their contacts and blocks. */
async function contactFrame(event: ContactEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { ownerId, userId } = event.data;
  const doc = await context.collection<ContactDoc>(CONTACTS).findOne({ _id: contactDocId(ownerId, userId) });
  const user = doc?.isContact ? await context.collection<UserDoc>(USERS).findOne({ _id: userId }) : null;
  const contact =
    doc && user ? { userId, username: user.username, displayName: user.displayName, nickname: doc.nickname, addedAt: doc.addedAt! } : null;
  await deliver(
    context,
    recorded,
    { userIds: [ownerId] },
    { type: 'contacts.updated', change: CONTACT_CHANGES[event.type], userId, contact },
  );
}

/** A group event as the protocol names it: its own field names, never the event's payload passed through. */
function groupChangeOf(event: GroupEvent): DistributiveOmit<LiveFrame<'group.updated'>, 'type' | 'groupId' | 'conversationId' | 'group'> {
  switch (event.type) {
    case 'GroupCreated':
      return { change: 'created', byUserId: event.data.ownerId };
    case 'GroupUpdated':
      return { change: 'updated', byUserId: event.data.updatedBy, changes: event.data.changes };
    case 'MemberAdded':
      return { change: 'member_added', userId: event.data.userId, role: event.data.role, byUserId: event.data.addedBy };
    case 'MemberRoleChanged':
      return { change: 'member_role_changed', userId: event.data.userId, role: event.data.role, byUserId: event.data.changedBy };
    case 'MemberRemoved':
      return { change: 'member_removed', userId: event.data.userId, byUserId: event.data.removedBy };
    case 'MemberLeft':
      return { change: 'member_left', userId: event.data.userId };
    case 'OwnershipTransferred':
      return { change: 'ownership_transferred', fromUserId: event.data.fromUserId, toUserId: event.data.toUserId };
    case 'GroupSettingsChanged':
      return { change: 'settings_changed', byUserId: event.data.changedBy, settings: event.data.changes };
    case 'InviteLinkCreated': {
      const { inviteId, createdBy, expiresAt, maxUses } = event.data;
      return { change: 'invite_created', inviteId, byUserId: createdBy, expiresAt, maxUses };
    }
    case 'InviteLinkRevoked':
      return { change: 'invite_revoked', inviteId: event.data.inviteId, byUserId: event.data.revokedBy };
    case 'MemberJoined':
      return { change: 'member_joined', userId: event.data.userId, inviteId: event.data.inviteId };
    case 'JoinRequested':
      return { change: 'join_requested', requestId: event.data.requestId, userId: event.data.userId };
    case 'JoinRequestApproved': {
      const { requestId, userId, approvedBy } = event.data;
      return { change: 'join_request_approved', requestId, userId, byUserId: approvedBy };
    }
    case 'JoinRequestDeclined': {
      const { requestId, userId, declinedBy } = event.data;
      return { change: 'join_request_declined', requestId, userId, byUserId: declinedBy };
    }
    default:
      return assertNever(event);
  }
}

async function groupFrame(event: GroupEvent, recorded: RecordedEvent, context: ProjectionContext) {
  const { groupId } = event.data;
  const group = await context.collection<GroupDoc>(GROUPS).findOne({ _id: groupId });
  if (!group) return;
  const conversationId = `group:${groupId}`;
  const frame = { type: 'group.updated' as const, groupId, conversationId, ...groupChangeOf(event) };
  // A request is the admins' and the requester's business (who is not a member: no `group` for them).
  if (event.type === 'JoinRequested' || event.type === 'JoinRequestDeclined') {
    const admins = group.members.filter((member) => member.role !== 'member').map((member) => member.userId);
    return deliver(context, recorded, { userIds: [...admins, event.data.userId] }, frame);
  }
  await deliver(context, recorded, { conversationId }, { ...frame, group: toPublicGroup(group) });
  // Whoever just left or was removed hears of it, without the group's new state.
  if (event.type === 'MemberRemoved' || event.type === 'MemberLeft')
    await deliver(context, recorded, { userIds: [event.data.userId] }, frame, ':u');
}

type ProfileEvent = ProfileUpdated | PrivacySettingsChanged | AvatarChanged | AvatarRemoved;
const messageTypes = new Set(messageEventTypes);
const receiptTypes = new Set(receiptEventTypes);
const contactTypes = new Set(contactEventTypes);
const profileTypes = new Set<ProfileEvent['type']>(['ProfileUpdated', 'PrivacySettingsChanged', 'AvatarChanged', 'AvatarRemoved']);
const callTypes = new Set(callEventTypes);
const reactionTypes = new Set(reactionEventTypes);

export const feedProjector: Projector = {
  // 3: messages carry their files' metadata, `group.updated` names its fields (2 passed the event's payload through as `data`); 2: one entry per event,
  // addressed to a conversation or to named users (1 kept one entry per recipient). 4: a delete for everyone rewrites
  // the message's earlier entries to the tombstone (crypto-shredding: nothing of the text stays in the read store).
  version: 4,
  name: FEED,
  collections: {
    [FEED]: [{ key: { conversationId: 1, position: 1 } }, { key: { userIds: 1 }, multikey: true }, { key: { position: 1 } }],
    // Written by prune-feed, read by every sync: created here at start so a reader never has to create it. A rebuild
    // starts it afresh, rightly: the rebuilt feed holds every entry again.
    [FEED_HORIZON]: [],
  },
  reads: [
    USERS,
    CONTACTS,
    MEDIA_FILES,
    MESSAGE_TRANSCRIPTS,
    CALLS,
    GROUPS,
    MESSAGES,
    GROUP_MESSAGES,
    expiredCollectionOf(MESSAGES),
    expiredCollectionOf(GROUP_MESSAGES),
    CONVERSATIONS,
    REACTION_COUNTS,
    THREADS,
    THREAD_MEMBERS,
  ],
  handles: new Set([
    ...messageEventTypes,
    ...receiptEventTypes,
    ...groupEventTypes,
    ...contactEventTypes,
    ...profileTypes,
    'AiReplyCompleted',
    'AiReplyFailed',
    ...callEventTypes,
    'MessageTranscribed',
    ...reactionEventTypes,
    'DisappearingTimerChanged',
    'ScheduledMessageFailed',
    'AccountDeleted',
  ]),
  async apply(recorded, context) {
    // A deleted account's frames go with it (its profile is in them, and no device of its will sync again).
    if (recorded.type === 'AccountDeleted')
      return context.projectMany<FeedEntry>(FEED, { userIds: (recorded.data as AccountDeleted['data']).userId }, recorded, () => null);
    if (isEventOf<MessageTranscribed>(['MessageTranscribed'], recorded)) return transcriptFrame(recorded, recorded, context);
    if (isEventOf<ScheduledMessageFailed>(['ScheduledMessageFailed'], recorded)) {
      const { scheduleId, messageId, conversationId, reason, senderId } = recorded.data;
      return deliver(
        context,
        recorded,
        { userIds: [senderId] },
        { type: 'scheduled.failed', scheduleId, messageId, conversationId, reason },
      );
    }
    if (isEventOf<ContactEvent>(contactTypes, recorded)) return contactFrame(recorded, recorded, context);
    if (isEventOf<CallEvent>(callTypes, recorded)) return callFrame(recorded, recorded, context);
    if (isEventOf<AiReplyCompleted | AiReplyFailed>(['AiReplyCompleted', 'AiReplyFailed'], recorded))
      return aiFrame(recorded, recorded, context);
    if (isEventOf<ProfileEvent>(profileTypes, recorded)) return profileFrame(recorded, recorded, context);
    if (isEventOf<MessageEvent>(messageTypes, recorded)) {
      if (await threadFrame(recorded, recorded, context, deliver)) return;
      return messageFrame(recorded, recorded, context);
    }
    if (isEventOf<ReceiptEvent>(receiptTypes, recorded)) return receiptFrame(recorded, recorded, context);
    if (isEventOf<ReactionEvent>(reactionTypes, recorded)) return reactionFrame(recorded, recorded, context, deliver);
    if (isEventOf<DisappearingTimerChanged>(['DisappearingTimerChanged'], recorded)) return timerFrame(recorded, recorded, context);
    return groupFrame(eventOf<GroupEvent>(groupEventTypes, recorded), recorded, context);
  },
};
