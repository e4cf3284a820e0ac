import type { MessageContent, MessageEvent, MessageSent, MessageTarget } from '../commands/messages.ts';
import { blockedEitherWay, CONTACTS, type ContactDoc } from './contacts.ts';
import { toPublicAttachment, type MediaDoc, type PublicAttachment } from './mediaFiles.ts';
import type { Collection } from '../src/readstore/port.ts';
import { messageEventTypes, revealedContent } from '../commands/messages.ts';
import { assertNever, eventOf } from '../commands/shared/events.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import type { ProjectedDoc, ProjectionContext, Projector } from '../src/projection/projector.ts';

/** What a reader sees of a message, stored and shown alike. */
interface MessageFields {
  conversationId: string;
  senderId: string;
  /**
   * Sent by a bot account: the send's metadata says its acting user authenticated with a bot token (see
   * `actorIsBot` in commands/shared/events.ts). Absent on documents of messages sent before bots existed: false.
   */
  senderIsBot?: boolean;
  /** null once deleted for everyone. */
  content: MessageContent | null;
  replyTo: string | null;
  /** The root of the thread this message replies in (see commands/threads.ts); absent outside threads. */
  threadRootId?: string | undefined;
  attachments: string[];
  clientMessageId: string;
  sentAt: string;
  editedAt: string | null;
  deletedAt: string | null;
  /** Global position of the send: orders a conversation and is its pagination cursor. */
  position: number;
  /** When it disappears (its conversation's timer when sent); absent for a message kept for good. */
  expiresAt?: string | undefined;
}

/** What a message's public shape is made from. */
export interface MessageBody extends MessageFields {
  _id: string;
  target: MessageTarget;
  hiddenFor: string[];
}

/** A message in `messages` (direct) or `group_messages`; a deleted one keeps its place as a tombstone. */
export interface MessageDoc extends ProjectedDoc, MessageBody {
  /** Its number in its conversation (1, 2, ...): the conversation list counts unread messages as a difference. */
  seq: number;
  /** Positions of its edits: a delete for everyone rewrites their feed entries to the tombstone too. */
  editPositions?: number[];
}

export interface PublicMessage extends MessageFields {
  id: string;
  senderIsBot: boolean;
  recipientId?: string;
  groupId?: string;
  /** The attachments' public metadata (a tombstone for a deleted file), joined when read. */
  files: PublicAttachment[];
}

/** The media documents of these messages' attachments, in one query. */
export async function attachmentFilesOf(
  media: Collection<MediaDoc>,
  docs: ReadonlyArray<Pick<MessageDoc, 'attachments'>>,
): Promise<Map<string, MediaDoc>> {
  const ids = [...new Set(docs.flatMap((doc) => doc.attachments))];
  if (ids.length === 0) return new Map();
  return new Map((await media.find({ _id: { $in: ids } })).map((doc) => [doc._id, doc]));
}

export function toPublicMessage(doc: MessageBody, files: ReadonlyMap<string, MediaDoc> = new Map()): PublicMessage {
  return {
    id: doc._id,
    conversationId: doc.conversationId,
    senderId: doc.senderId,
    senderIsBot: doc.senderIsBot ?? false,
    ...(doc.target.kind === 'direct' ? { recipientId: doc.target.recipientId } : { groupId: doc.target.groupId }),
    content: doc.content,
    replyTo: doc.replyTo,
    ...(doc.threadRootId ? { threadRootId: doc.threadRootId } : {}),
    attachments: doc.attachments,
    files: doc.attachments.map((id) => toPublicAttachment(id, files.get(id) ?? null)),
    clientMessageId: doc.clientMessageId,
    sentAt: doc.sentAt,
    editedAt: doc.editedAt,
    deletedAt: doc.deletedAt,
    position: doc.position,
    ...(doc.expiresAt ? { expiresAt: doc.expiresAt } : {}),
  };
}

export const MESSAGES = 'messages';
export const GROUP_MESSAGES = 'group_messages';

/** Which collection holds a conversation's messages. */
export const messageCollectionOf = (conversationId: string) => (conversationId.startsWith('group:') ? GROUP_MESSAGES : MESSAGES);

/**
 * An expired message, out of its collection and without content, from its expiry until its content key is destroyed
 * (MessageContentShredded): the feed rewrites its entries from it. `expired_messages` or `expired_group_messages`.
 */
export const expiredCollectionOf = (collection: string) => `expired_${collection}`;
/**
 * Per conversation, the highest `seq` an expired message had: numbering continues above it, so a conversation whose
 * newest messages expired does not reuse their numbers (unread counts are differences of them).
 */
export const seqFloorCollectionOf = (collection: string) => `${collection}_seq_floors`;
interface SeqFloor extends ProjectedDoc {
  seq: number;
}

/**
 * A direct message sent while a block stood between the two (the send raced the block: the decider saw no block
 * yet) is kept for its sender only; the recipient never sees it, now or after an unblock.
 */
export async function hiddenByBlock({ target, senderId }: MessageSent['data'], context: ProjectionContext): Promise<string[]> {
  if (target.kind !== 'direct') return [];
  return (await blockedEitherWay(context.collection<ContactDoc>(CONTACTS), senderId, target.recipientId)) ? [target.recipientId] : [];
}

async function applyMessageEvent(event: MessageEvent, recorded: RecordedEvent, collection: string, context: ProjectionContext) {
  const id = event.data.messageId;
  switch (event.type) {
    case 'MessageSent': {
      const { messageId, sentAt, ...message } = event.data;
      if (await context.collection<MessageDoc>(collection).findOne({ _id: messageId })) return;
      const hiddenFor = await hiddenByBlock(event.data, context);
      // Numbered after the conversation's previous message (one indexed row), whatever order a rebuild reads in.
      const [previous] = await context
        .collection<MessageDoc>(collection)
        .find({ conversationId: message.conversationId, position: { $lt: recorded.position } }, { sort: { position: -1 }, limit: 1 });
      const floor = await context.collection<SeqFloor>(seqFloorCollectionOf(collection)).findOne({ _id: message.conversationId });
      const seq = Math.max(previous?.seq ?? 0, floor?.seq ?? 0) + 1;
      return context.project<MessageDoc>(
        collection,
        id,
        recorded,
        (doc) =>
          doc ?? {
            _id: messageId,
            ...message,
            // Only when the bot sent it itself (a send on someone's behalf, like a scheduled one, carries no flag).
            ...(recorded.metadata.actorIsBot === true && recorded.metadata.userId === message.senderId ? { senderIsBot: true } : {}),
            content: revealedContent(message.content),
            sentAt,
            editedAt: null,
            deletedAt: null,
            hiddenFor,
            position: recorded.position,
            seq,
          },
      );
    }
    case 'MessageEdited':
      return context.project<MessageDoc>(
        collection,
        id,
        recorded,
        (doc) =>
          doc &&
          (doc.deletedAt
            ? doc
            : {
                ...doc,
                content: revealedContent(event.data.content),
                editedAt: event.data.editedAt,
                editPositions: [...(doc.editPositions ?? []), recorded.position],
              }),
      );
    case 'MessageDeleted':
      return context.project<MessageDoc>(
        collection,
        id,
        recorded,
        (doc) => doc && { ...doc, content: null, attachments: [], deletedAt: event.data.deletedAt },
      );
    case 'MessageHidden':
      return context.project<MessageDoc>(
        collection,
        id,
        recorded,
        (doc) => doc && (doc.hiddenFor.includes(event.data.userId) ? doc : { ...doc, hiddenFor: [...doc.hiddenFor, event.data.userId] }),
      );
    // Out of the collection at once; kept without content (for the feed's rewrite) until its key is destroyed.
    case 'MessageExpired': {
      const doc = await context.collection<MessageDoc>(collection).findOne({ _id: id });
      if (!doc) return;
      const { _position: _, ...body } = doc;
      await context.project<MessageDoc>(
        expiredCollectionOf(collection),
        id,
        recorded,
        (expired) => expired ?? { ...body, content: null, attachments: [] },
      );
      await context.project<SeqFloor>(seqFloorCollectionOf(collection), doc.conversationId, recorded, (floor) => ({
        _id: doc.conversationId,
        seq: Math.max(floor?.seq ?? 0, doc.seq),
      }));
      return context.project<MessageDoc>(collection, id, recorded, () => null);
    }
    case 'MessageContentShredded':
      return context.project<MessageDoc>(expiredCollectionOf(collection), id, recorded, () => null);
    default:
      return assertNever(event);
  }
}

/** One projector per collection, both built from the same message events, split by conversation kind. */
export function messageProjector(collection: typeof MESSAGES | typeof GROUP_MESSAGES): Projector {
  return {
    // 4: expired messages leave the collection (a content-free copy until their key is destroyed; numbering continues
    // above them), indexed by `sentAt` for retention. 3: texts are sealed in the log and shown `[erased]` once their key
    // is destroyed; edits' positions kept. 2: `seq`.
    version: 4,
    name: collection,
    collections: {
      [collection]: [{ key: { conversationId: 1, position: -1 } }, { key: { sentAt: 1 } }],
      [expiredCollectionOf(collection)]: [],
      [seqFloorCollectionOf(collection)]: [],
    },
    // Direct messages are checked against blocks as of each send.
    reads: collection === MESSAGES ? [CONTACTS] : [],
    handles: new Set(messageEventTypes),
    async apply(recorded, context) {
      const event = eventOf<MessageEvent>(messageEventTypes, recorded);
      if (messageCollectionOf(event.data.conversationId) !== collection) return;
      await applyMessageEvent(event, recorded, collection, context);
    },
  };
}
