import { z } from 'zod';
import { errorCodes } from './errorCodes.ts';

/**
 * What the API answers with, as zod schemas: the OpenAPI document's components, and what the property-based suite
 * checks every response against. Strict objects, so a field that should not leave the server (an email, a hash)
 * fails the check instead of going unnoticed.
 */
const uuid = z.uuid();
const timestamp = z.iso.datetime({ offset: true });
const position = z.number().int().min(0).meta({ description: 'A global position in the event log' });

export const errorBody = z
  .strictObject({
    error: z.strictObject({
      code: z.enum(errorCodes),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .meta({ id: 'Error', description: 'Every error, REST and socket alike' });

export const publicUser = z
  .strictObject({
    id: uuid,
    username: z.string(),
    displayName: z.string(),
    createdAt: timestamp,
    isBot: z.boolean().meta({ description: 'A bot account (POST /api/bots)' }),
  })
  .meta({ id: 'PublicUser', description: 'A user as others see them: never the email' });

export const ownUser = publicUser.extend({ email: z.email() }).meta({ id: 'OwnUser', description: 'A user as they see themselves' });

export const session = z
  .strictObject({
    user: ownUser,
    accessToken: z.string(),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int(),
    expiresAt: timestamp,
  })
  .meta({ id: 'Session' });

export const tokenStatus = z.strictObject({ valid: z.literal(true), user: ownUser, expiresAt: timestamp }).meta({ id: 'TokenStatus' });

export const messageContent = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('text'), text: z.string() }),
    z.strictObject({
      kind: z.literal('encrypted'),
      ciphertext: z.string(),
      nonce: z.string(),
      algorithm: z.string(),
      recipientKeyId: z.string(),
      senderKeyId: z.string().optional(),
    }),
  ])
  .meta({ id: 'MessageContent' });

/** A voice note's facts: the duration the server read from the audio container, the waveform its recorder computed. */
export const voiceNote = z
  .strictObject({
    durationMs: z.number().int().min(1),
    waveform: z.array(z.number().int().min(0).max(255)).min(16).max(128).meta({ description: 'Peaks, 0..255, oldest first' }),
  })
  .meta({ id: 'VoiceNote' });

export const transcript = z
  .strictObject({
    messageId: uuid,
    mediaId: uuid,
    language: z.string().meta({ description: 'The language asked for (BCP 47), or `auto`' }),
    text: z.string().meta({ description: '`[erased]` once the message was deleted for everyone' }),
    createdAt: timestamp,
  })
  .meta({ id: 'Transcript', description: "A voice note's transcript (POST /api/messages/{id}/transcription)" });

const messageFields = {
  id: uuid,
  conversationId: z.string(),
  senderId: uuid,
  senderIsBot: z.boolean().meta({ description: 'Sent by a bot account (with its bot token)' }),
  recipientId: uuid.optional(),
  groupId: uuid.optional(),
  content: messageContent.nullable().meta({ description: 'null once deleted for everyone' }),
  replyTo: uuid.nullable(),
  threadRootId: uuid.optional().meta({ description: 'A reply in the thread of this root message (see GET /api/threads/{rootId})' }),
  attachments: z.array(uuid),
  files: z.array(
    z
      .strictObject({
        id: uuid,
        kind: z.enum(['image', 'video', 'audio', 'document', 'text']).nullable(),
        mime: z.string().nullable(),
        size: z.number().int().nullable(),
        filename: z.string().nullable(),
        width: z.number().int().nullable(),
        height: z.number().int().nullable(),
        voice: voiceNote.nullable().meta({ description: 'Set on a voice note: its duration and waveform' }),
        deleted: z.boolean(),
      })
      .meta({ id: 'AttachedFile', description: 'Download with GET /api/media/{id}; deleted files are tombstones' }),
  ),
  transcripts: z
    .array(transcript)
    .optional()
    .meta({ description: "A voice note's transcripts, one per language (on pages of GET /api/messages)" }),
  clientMessageId: z.string(),
  sentAt: timestamp,
  editedAt: timestamp.nullable(),
  deletedAt: timestamp.nullable(),
  position,
  expiresAt: timestamp.optional().meta({ description: "When it disappears (the conversation's timer when it was sent); absent: kept" }),
};

export const message = z.strictObject(messageFields).meta({ id: 'Message' });

/** One emoji's reactions to a message as the reader sees them (the reactions of people with a block either way not counted). */
export const reactionSummary = z
  .strictObject({
    emoji: z.string(),
    count: z.number().int().min(1),
    reacted: z.boolean().meta({ description: 'The reader reacted with it' }),
  })
  .meta({ id: 'ReactionSummary' });

/** What a root message shows of its thread. */
export const threadSummary = z
  .strictObject({
    replyCount: z.number().int().min(1),
    lastReplyAt: timestamp,
    lastRepliers: z.array(uuid).max(3).meta({ description: 'The latest distinct repliers, newest first' }),
  })
  .meta({ id: 'ThreadSummary' });

/** A page entry: the caller's own messages carry their receipt state. */
export const listedMessage = z
  .strictObject({
    ...messageFields,
    status: z
      .enum(['sent', 'delivered', 'read'])
      .optional()
      .meta({ description: "Direct messages the caller sent: the recipient's state" }),
    deliveredCount: z.number().int().min(0).optional(),
    readCount: z.number().int().min(0).optional(),
    reactions: z
      .array(reactionSummary)
      .optional()
      .meta({ description: 'Per emoji, in the order first used (on every page of GET /api/messages)' }),
    thread: threadSummary.optional().meta({ description: 'On a root with replies: its thread (see GET /api/threads/{rootId})' }),
  })
  .meta({ id: 'ListedMessage' });

export const messagePage = z
  .strictObject({
    conversationId: z.string(),
    messages: z.array(listedMessage),
    hasMore: z.boolean(),
    cursors: z.strictObject({ before: position.nullable(), after: position.nullable() }),
  })
  .meta({ id: 'MessagePage' });

export const messageHistory = z
  .strictObject({
    messageId: uuid,
    deleted: z.boolean(),
    versions: z.array(z.strictObject({ content: messageContent, at: timestamp, position })),
  })
  .meta({ id: 'MessageHistory' });

export const receiptMoved = z
  .strictObject({
    conversationId: z.string(),
    messageId: uuid,
    upTo: position,
    position: position.nullable().meta({ description: 'The receipt event; null when the watermark was already there' }),
  })
  .meta({ id: 'ReceiptMoved' });

export const groupMember = z.strictObject({ userId: uuid, role: z.enum(['owner', 'admin', 'member']), joinedAt: timestamp });

export const groupSettings = z
  .strictObject({
    send: z.enum(['everyone', 'admins']).meta({ description: 'Who may send messages; `admins` makes an announcement group' }),
    editInfo: z.enum(['everyone', 'admins']).meta({ description: 'Who may change the name, description and icon' }),
    addMembers: z.enum(['everyone', 'admins']).meta({ description: 'Who may add members and create invite links' }),
    approveJoins: z.boolean().meta({ description: "Whether joining through an invite link waits for an admin's approval" }),
  })
  .meta({ id: 'GroupSettings' });

export const group = z
  .strictObject({
    id: uuid,
    name: z.string(),
    description: z.string(),
    iconMediaId: uuid.nullable(),
    ownerId: uuid,
    members: z.array(groupMember),
    settings: groupSettings,
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Group' });

export const lastMessage = z
  .strictObject({
    id: uuid,
    senderId: uuid,
    preview: z.string().nullable(),
    sentAt: timestamp,
    position,
    deleted: z.boolean(),
  })
  .meta({ id: 'LastMessage' });

export const conversationListItem = z
  .strictObject({
    conversationId: z.string(),
    kind: z.enum(['direct', 'group']),
    peer: publicUser.nullable().optional(),
    group: group.nullable().optional(),
    lastMessage: lastMessage.nullable(),
    lastPosition: position,
    unreadCount: z
      .number()
      .int()
      .min(0)
      .meta({ description: "Others' messages after your read mark (thread replies included: they are on its pages), up to 1,000" }),
    threadUnreadCount: z.number().int().min(0).meta({
      description:
        "Others' replies in the threads you follow here, after each thread's read mark (POST /api/threads/{id}/read), up to 1,000",
    }),
    readUpTo: position,
  })
  .meta({ id: 'ConversationListItem' });

export const contact = z
  .strictObject({
    userId: uuid,
    username: z.string(),
    displayName: z.string(),
    nickname: z.string().nullable(),
    addedAt: timestamp,
  })
  .meta({ id: 'Contact' });

export const blockedUser = z.strictObject({ userId: uuid, username: z.string(), blockedAt: timestamp }).meta({ id: 'BlockedUser' });

const visibility = z.enum(['everyone', 'contacts', 'nobody']);

const botOwner = z.strictObject({ ownerId: uuid }).meta({ id: 'BotOwner' });

export const publishedKey = z
  .strictObject({
    keyId: z.string(),
    publicKey: z.string().meta({ description: 'X25519, 32 bytes in base64' }),
    publishedAt: timestamp,
    retiredAt: timestamp
      .nullable()
      .optional()
      .meta({ description: 'Set once retired: not to be encrypted to, still opens older messages' }),
  })
  .meta({ id: 'PublishedKey' });
const encryptionKeys = z
  .array(publishedKey)
  .meta({ description: 'Public keys for end-to-end encryption, oldest first: encrypt to the last one not retired' });

export const ownProfile = z
  .strictObject({
    id: uuid,
    username: z.string(),
    email: z.email(),
    displayName: z.string(),
    about: z.string(),
    privacy: z.strictObject({ lastSeen: visibility, online: visibility, avatar: visibility, about: visibility, readReceipts: z.boolean() }),
    ai: z.strictObject({
      language: z.string().optional(),
      defaultPersonalityId: z.string().optional(),
      autoTranscribe: z.boolean().optional(),
    }),
    avatarMediaId: uuid.nullable(),
    encryptionKeys,
    createdAt: timestamp,
    isBot: z.boolean(),
    bot: botOwner.optional().meta({ description: 'On a bot account: who owns it' }),
  })
  .meta({ id: 'OwnProfile' });

export const userProfile = z
  .strictObject({
    id: uuid,
    username: z.string(),
    displayName: z.string(),
    about: z.string().nullable().meta({ description: "null when the user's privacy settings or a block hide it" }),
    avatarMediaId: uuid.nullable().meta({ description: 'The profile picture, for GET /api/media/{id}?size=; null when none or hidden' }),
    encryptionKeys,
    createdAt: timestamp,
    isContact: z.boolean(),
    blocked: z.boolean().meta({ description: 'You have blocked them' }),
    isBot: z.boolean(),
    bot: botOwner.optional().meta({ description: 'On a bot account: who owns it' }),
  })
  .meta({ id: 'UserProfile' });

export const foundUser = z
  .strictObject({ id: uuid, username: z.string(), displayName: z.string(), isBot: z.boolean() })
  .meta({ id: 'FoundUser' });

/** A user's presence as a viewer may see it (REST and the socket's `presence` frames). */
export const presenceView = z
  .strictObject({
    userId: uuid,
    status: z.enum(['online', 'away', 'dnd', 'offline', 'unknown']),
    lastSeenAt: timestamp.nullable(),
    statusText: z.string().nullable(),
  })
  .meta({ id: 'PresenceView' });
