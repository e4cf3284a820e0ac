import { z } from 'zod';
import { askLetaSchema } from './aiSchemas.ts';
import { contact, conversationListItem, errorBody, group, groupSettings, message, presenceView } from './models.ts';
import { markSchema, sendMessageSchema, typingSchema } from './messagingSchemas.ts';
import { transcript } from './voiceSchemas.ts';
import { messageReactions } from './reactionModels.ts';
import { setReactionFrameSchema } from './reactionSchemas.ts';
import type { PolicyName } from '../rateLimit/policies.ts';

/**
 * The socket protocol, whole: path, close codes, limits, and every frame in both directions as a zod schema.
 * Incoming frames are validated with these; the tests validate every outgoing frame with them; `/asyncapi.json`
 * publishes them (src/realtime/asyncapi.ts). Frames are JSON objects `{ "type", "id"?, ... }`; a reply echoes `id`.
 */
export const WS_PATH = '/ws';

/** Close codes sent by the server (4000–4999 are application codes). */
export const CLOSE = {
  /**
   * Missing, malformed, expired or revoked token, or a suspended account (`account_suspended`: logging in again is
   * refused with 403 until an operator lifts it), or a deleted one (`account_deleted`); the reason says which.
   */
  UNAUTHORIZED: 4401,
  /** The client did not read fast enough; reconnect and resume with `sync`. */
  SLOW_CONSUMER: 4408,
  /** Over the `frames` or `user-frames` policy (reason `rate_limited`, after an `error` frame), or too many frames
   * awaiting their turn (reason `too_many_pending_frames`). */
  RATE_LIMITED: 4429,
  /** The user already has LIMITS.maxSocketsPerUser sockets open; close one first. */
  TOO_MANY_CONNECTIONS: 4409,
  /** A frame larger than LIMITS.maxFrameBytes. */
  FRAME_TOO_LARGE: 1009,
  /** The server is shutting down; reconnect and resume with `sync`. */
  GOING_AWAY: 1001,
} as const;

export const LIMITS = {
  /** Larger frames close the connection with 1009 frame_too_large. */
  maxFrameBytes: 64 * 1024,
  /** Beyond this the transport drops the connection without a close frame (1006 at the client). */
  hardFrameBytes: 1024 * 1024,
  /** Bytes queued for one socket before it is closed as a slow consumer. */
  maxBufferedBytes: 4 * 1024 * 1024,
  idleTimeoutSeconds: 120,
  /** Open sockets per user (devices and tabs); one more is closed with 4409. */
  maxSocketsPerUser: 10,
  /**
   * Frames received but not yet handled, per socket; one more closes it with 4429 too_many_pending_frames. Above
   * the `frames` burst, so only a socket whose frames are handled slower than it may send them reaches it; it
   * bounds what one socket holds in memory to this many frames of at most maxFrameBytes.
   */
  maxPendingFrames: 256,
  /** A typing indicator is shown this long unless renewed. */
  typingExpiresMs: 5_000,
} as const;

// ---- client → server -------------------------------------------------------------------------------------------

export const FRAME_TYPE = /^[a-z][a-z.]{0,31}$/;
export const FRAME_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
const frameId = z.string().regex(FRAME_ID).meta({ description: 'Chosen by the client, echoed in the reply' });

/** Socket frames carry JSON numbers: no coercion (`true` is not position 1). */
const position = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

interface ClientFrameSpec {
  description: string;
  /** The frame's fields besides `type` and `id`: validated as strictly as a REST body (an object, or a union of objects). */
  payload: z.ZodObject | z.ZodUnion<readonly z.ZodObject[]>;
  /** Charged per user before the handler runs; shared with the REST routes of the same policy. */
  policy: PolicyName | null;
  /** The fields of the `<type>.ok` reply, or null when the answer is other frames (`sync`). */
  reply: z.ZodObject | null;
}

const receiptReply = z.strictObject({ messageId: z.uuid(), position: position.nullable(), upTo: position });

export const CLIENT_FRAMES = {
  ping: {
    description: 'Round trip; answered with the server time',
    payload: z.strictObject({}),
    policy: null,
    reply: z.strictObject({ time: z.iso.datetime() }),
  },
  sync: {
    description:
      'Go live. With `since` (the last position seen): the updates after it, then `sync.ok`. Without: `sync.snapshot`. ' +
      'A `since` the feed cannot replay whole: `sync.reset` with a snapshot.',
    payload: z.strictObject({ since: position.optional() }),
    policy: 'read',
    reply: null,
  },
  'message.send': {
    description: 'Send a message, as `POST /api/messages`; acked once durable',
    payload: sendMessageSchema,
    policy: 'msg',
    reply: z.strictObject({ messageId: z.uuid(), position, created: z.boolean(), message }),
  },
  'message.read': {
    description: 'Move the read watermark up to a message, as `POST /api/messages/read`',
    payload: markSchema,
    policy: 'receipts',
    reply: receiptReply,
  },
  'message.delivered': {
    description: 'Move the delivered watermark up to a message',
    payload: markSchema,
    policy: 'receipts',
    reply: receiptReply,
  },
  typing: {
    description: 'Tell the others in a conversation you are typing (not stored; shown for `typingExpiresMs`)',
    payload: typingSchema,
    policy: 'typing',
    reply: z.strictObject({}),
  },
  'presence.subscribe': {
    description:
      "Follow these users' presence (replaces this socket's list): answered with `presence.snapshot`, then `presence` frames " +
      'for those you may see, when what you see changes',
    payload: z.strictObject({ userIds: z.array(z.uuid()).max(200) }),
    policy: 'presence',
    reply: null,
  },
  'ai.send': {
    description:
      'Ask Leta, as `POST /api/chat/ai/send`: acked once the prompt is stored; `ai.delta` frames to this socket as the reply ' +
      'streams, then `ai.reply` to all your devices (or `ai.error` here)',
    payload: askLetaSchema,
    // Acked by `ai.send.ok` as soon as the prompt is stored, while the reply is still streaming.
    policy: 'ai',
    reply: null,
  },
  'ai.cancel': {
    description: "Stop Leta's reply in progress; what was written so far is kept (finish reason CANCELLED)",
    payload: z.strictObject({ promptId: z.uuid() }),
    policy: null,
    reply: z.strictObject({ cancelled: z.boolean() }),
  },
  'call.ack': {
    description: 'This device is ringing for the call: the caller gets `call.ringing`',
    payload: z.strictObject({ callId: z.uuid() }),
    policy: 'call-signal',
    reply: z.strictObject({}),
  },
  'call.signal': {
    description:
      'WebRTC signaling, relayed to one connection of the other party of an answered call (never stored): an offer, an answer ' +
      'or a renegotiation (`payload.sdp` ≤ 16 KiB), or ICE candidates (≤ 50 a frame)',
    payload: z.union([
      z.strictObject({
        callId: z.uuid(),
        toConnectionId: z.number().int().min(1),
        kind: z.enum(['offer', 'answer', 'negotiate']),
        payload: z.strictObject({ type: z.enum(['offer', 'answer', 'pranswer', 'rollback']), sdp: z.string().max(16_384) }),
      }),
      z.strictObject({
        callId: z.uuid(),
        toConnectionId: z.number().int().min(1),
        kind: z.literal('candidates'),
        payload: z.strictObject({
          candidates: z
            .array(
              z.strictObject({
                candidate: z.string().max(1_024),
                sdpMid: z.string().max(64).nullable().optional(),
                sdpMLineIndex: z.number().int().min(0).max(64).nullable().optional(),
                usernameFragment: z.string().max(256).nullable().optional(),
              }),
            )
            .max(50),
        }),
      }),
    ]),
    policy: 'call-signal',
    reply: z.strictObject({}),
  },
  'reaction.set': {
    description:
      'React to a message with one emoji (`on: true`) or take the reaction back, as `PUT`/`DELETE /api/messages/{id}/reactions/{emoji}`',
    payload: setReactionFrameSchema,
    policy: 'reactions',
    reply: messageReactions,
  },
  'presence.set': {
    description: 'This device is idle (the user shows as away once all their devices are) or active again; not stored',
    payload: z.strictObject({ state: z.enum(['active', 'idle']) }),
    policy: 'presence',
    reply: z.strictObject({}),
  },
} as const satisfies Record<string, ClientFrameSpec>;

export type ClientFrameType = keyof typeof CLIENT_FRAMES;

/** What the client sends: `{ "type": ..., "id"?: string, ... }`; the envelope is checked before the payload. */
export interface ClientFrame {
  type: string;
  id?: string;
  [field: string]: unknown;
}

// ---- server → client -------------------------------------------------------------------------------------------

const envelope = <T extends string, S extends z.core.$ZodLooseShape>(type: T, shape: S) =>
  z.strictObject({ type: z.literal(type), ...shape });
/** A live update: its `position` is where it stands in the user's feed (resume with `sync` from it). */
const live = <T extends string, S extends z.core.$ZodLooseShape>(type: T, shape: S) => envelope(type, { position, ...shape });

const upTo = z.strictObject({ messageId: z.uuid(), position });

const groupChange = {
  groupId: z.uuid(),
  conversationId: z.string(),
  /** Who gets it while a member: the group as it stands after the change. A removed member gets it without. */
  group: group.optional(),
};

/** Live updates: pushed to synced sockets and replayed by `sync` (they are the `feed` collection's entries). */
export const LIVE_FRAMES = {
  'message.created': live('message.created', { conversationId: z.string(), message }),
  'message.edited': live('message.edited', { conversationId: z.string(), message }),
  /** A voice note was transcribed (once per language): to everyone who can read it. */
  'message.transcribed': live('message.transcribed', { conversationId: z.string(), messageId: z.uuid(), transcript }),
  'message.deleted': z.union([
    live('message.deleted', { conversationId: z.string(), scope: z.literal('everyone'), message }),
    live('message.deleted', { conversationId: z.string(), scope: z.literal('me'), messageId: z.uuid() }),
  ]),
  /** A disappearing message's time ran out (or the server's retention passed it): remove it; its content is gone. */
  'message.expired': live('message.expired', { conversationId: z.string(), messageId: z.uuid() }),
  /** The conversation's disappearing-messages timer changed (show it as a notice): it applies to messages sent from now on. */
  'conversation.timer': live('conversation.timer', {
    conversationId: z.string(),
    timer: z.enum(['off', '24h', '7d', '90d']),
    /** How long a message stays, or null when off. */
    seconds: z.number().int().positive().nullable(),
    byUserId: z.uuid(),
    at: z.iso.datetime(),
  }),
  receipt: live('receipt', {
    conversationId: z.string(),
    userId: z.uuid(),
    receipt: z.enum(['delivered', 'read']),
    upTo,
    at: z.iso.datetime(),
  }),
  'group.updated': z.union([
    live('group.updated', { ...groupChange, change: z.literal('created'), byUserId: z.uuid() }),
    live('group.updated', {
      ...groupChange,
      change: z.literal('updated'),
      byUserId: z.uuid(),
      changes: z.strictObject({
        name: z.string().optional(),
        description: z.string().optional(),
        iconMediaId: z.uuid().nullable().optional(),
      }),
    }),
    live('group.updated', {
      ...groupChange,
      change: z.enum(['member_added', 'member_role_changed']),
      userId: z.uuid(),
      role: z.enum(['owner', 'admin', 'member']),
      byUserId: z.uuid(),
    }),
    live('group.updated', { ...groupChange, change: z.literal('member_removed'), userId: z.uuid(), byUserId: z.uuid() }),
    live('group.updated', { ...groupChange, change: z.literal('member_left'), userId: z.uuid() }),
    live('group.updated', { ...groupChange, change: z.literal('ownership_transferred'), fromUserId: z.uuid(), toUserId: z.uuid() }),
    live('group.updated', { ...groupChange, change: z.literal('settings_changed'), byUserId: z.uuid(), settings: groupSettings.partial() }),
    /** Never the token: only who may manage links reads it (`GET /api/groups/{id}/invites`). */
    live('group.updated', {
      ...groupChange,
      change: z.literal('invite_created'),
      inviteId: z.uuid(),
      byUserId: z.uuid(),
      expiresAt: z.iso.datetime(),
      maxUses: z.number().int().min(1),
    }),
    live('group.updated', { ...groupChange, change: z.literal('invite_revoked'), inviteId: z.uuid(), byUserId: z.uuid() }),
    live('group.updated', { ...groupChange, change: z.literal('member_joined'), userId: z.uuid(), inviteId: z.uuid() }),
    /** To the group's admins and the requester (without `group`): someone asked to join through a link. */
    live('group.updated', { ...groupChange, change: z.literal('join_requested'), requestId: z.uuid(), userId: z.uuid() }),
    /** Approved: to the members, the requester now among them; declined: to the admins and the requester. */
    live('group.updated', {
      ...groupChange,
      change: z.enum(['join_request_approved', 'join_request_declined']),
      requestId: z.uuid(),
      userId: z.uuid(),
      byUserId: z.uuid(),
    }),
  ]),
  'user.updated': live('user.updated', {
    userId: z.uuid(),
    /** What everyone who gets it may see; details shown to fewer people come from `GET /api/users/{id}`. */
    profile: z.strictObject({
      id: z.uuid(),
      username: z.string(),
      displayName: z.string(),
      about: z.string().nullable(),
      avatarMediaId: z.uuid().nullable(),
    }),
  }),
  'call.incoming': live('call.incoming', {
    callId: z.uuid(),
    from: z.uuid(),
    media: z.enum(['audio', 'video']),
    groupId: z.uuid().nullable(),
    expiresAt: z.iso.datetime(),
  }),
  'call.answered': live('call.answered', { callId: z.uuid(), byUserId: z.uuid(), byConnectionId: z.number().int() }),
  'call.rejected': live('call.rejected', { callId: z.uuid(), userId: z.uuid() }),
  'call.participant': live('call.participant', {
    callId: z.uuid(),
    userId: z.uuid(),
    change: z.enum(['joined', 'left']),
    connectionId: z.number().int().nullable(),
  }),
  'call.ended': live('call.ended', {
    callId: z.uuid(),
    reason: z.enum(['hangup', 'rejected', 'missed', 'cancelled', 'busy', 'disconnected', 'failed', 'max_duration']),
    durationMs: z.number().int().min(0),
  }),
  'ai.reply': live('ai.reply', {
    promptId: z.uuid(),
    status: z.enum(['completed', 'failed']),
    reply: z.strictObject({ id: z.uuid(), text: z.string(), finishReason: z.string(), createdAt: z.iso.datetime() }).nullable(),
    /** Why it failed: the error code the asker was given, `interrupted` after a restart, `cancelled`. */
    code: z.string().nullable(),
  }),
  /**
   * A reply in a thread you do not follow (see Threads), or one deleted for everyone: the root's new summary, without
   * the reply. Followers get the reply itself as `message.created` (its `threadRootId` names the root), and its edits
   * and deletes as `message.edited` and `message.deleted`.
   */
  'thread.updated': live('thread.updated', {
    conversationId: z.string(),
    rootId: z.uuid(),
    /** `replied`: a new reply (`replyId`); `reply_deleted`: the reply `replyId` was deleted for everyone. */
    change: z.enum(['replied', 'reply_deleted']),
    replyId: z.uuid(),
    /** Who sent the reply `replyId`. */
    senderId: z.uuid(),
    replyCount: z.number().int().min(0),
    /** Null once every reply is deleted. */
    lastReplyAt: z.iso.datetime({ offset: true }).nullable(),
    lastRepliers: z.array(z.uuid()).max(3),
  }),
  /** A reaction added or taken back; `count` is how many people now react with `emoji` (before any block is subtracted). */
  reaction: live('reaction', {
    conversationId: z.string(),
    messageId: z.uuid(),
    userId: z.uuid(),
    emoji: z.string(),
    change: z.enum(['added', 'removed']),
    count: z.number().int().min(0),
  }),
  'contacts.updated': live('contacts.updated', {
    change: z.enum(['added', 'renamed', 'removed', 'blocked', 'unblocked']),
    userId: z.uuid(),
    /** The contact as it now stands; null when they are not (or no longer) a contact. */
    contact: contact.nullable(),
  }),
  /** To the sender only: a scheduled message could not be sent at its time (it stays listed as `failed`). */
  'scheduled.failed': live('scheduled.failed', {
    scheduleId: z.uuid(),
    messageId: z.uuid(),
    conversationId: z.string(),
    reason: z.enum(['blocked', 'not_a_member', 'recipient_gone']),
  }),
} as const;

const replies = Object.entries(CLIENT_FRAMES).flatMap(([type, spec]) =>
  spec.reply ? [spec.reply.extend({ type: z.literal(`${type}.ok`), id: frameId.optional() })] : [],
);

/** Every other server frame: connection, replies, sync and ephemeral ones. */
export const SERVER_FRAMES = {
  welcome: envelope('welcome', { userId: z.uuid(), connectionId: z.number().int() }),
  error: envelope('error', { id: frameId.optional(), error: errorBody.shape.error }),
  'sync.snapshot': envelope('sync.snapshot', { id: frameId.optional(), position, conversations: z.array(conversationListItem) }),
  'sync.reset': envelope('sync.reset', { id: frameId.optional(), position, conversations: z.array(conversationListItem) }),
  'sync.ok': envelope('sync.ok', { id: frameId.optional(), position }),
  typing: envelope('typing', { conversationId: z.string(), userId: z.uuid(), expiresInMs: z.number().int() }),
  'call.ringing': envelope('call.ringing', { callId: z.uuid(), userId: z.uuid() }),
  'call.signal': envelope('call.signal', {
    callId: z.uuid(),
    fromUserId: z.uuid(),
    fromConnectionId: z.number().int(),
    kind: z.enum(['offer', 'answer', 'negotiate', 'candidates']),
    payload: z.record(z.string(), z.unknown()),
  }),
  'ai.send.ok': envelope('ai.send.ok', { id: frameId.optional(), promptId: z.uuid(), position }),
  'ai.delta': envelope('ai.delta', { promptId: z.uuid(), seq: z.number().int().min(0), text: z.string() }),
  'ai.error': envelope('ai.error', { id: frameId.optional(), promptId: z.uuid().nullable(), error: errorBody.shape.error }),
  'presence.snapshot': envelope('presence.snapshot', { id: frameId.optional(), users: z.array(presenceView) }),
  /** Ephemeral, coalesced per socket: never in the feed, not replayed by `sync` (subscribe again after reconnecting). */
  presence: envelope('presence', { ...presenceView.shape, at: z.iso.datetime() }),
  ...LIVE_FRAMES,
} as const;

/** Any frame the server sends (tests check every received frame against it). */
export const serverFrame = z.union([...Object.values(SERVER_FRAMES), ...replies]);

/** A live update as a projector builds it; the feed adds the position. */
export type LiveFrame<T extends keyof typeof LIVE_FRAMES> = DistributiveOmit<z.input<(typeof LIVE_FRAMES)[T]>, 'position'>;
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export type ServerFrame<T extends keyof typeof SERVER_FRAMES> = z.input<(typeof SERVER_FRAMES)[T]>;
