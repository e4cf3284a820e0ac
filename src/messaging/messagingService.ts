import { groupDecider, groupStream, mayPost } from '../../commands/groups.ts';
import {
  messageDecider,
  revealedContent,
  type StoredMessageContent,
  messageEventTypes,
  messageStream,
  type MessageContent,
  type MessageEvent,
  type MessageTarget,
} from '../../commands/messages.ts';
import { receiptDecider, receiptStream } from '../../commands/receipts.ts';
import { NotFoundError } from '../../commands/shared/errors.ts';
import { eventOf, type CommandMetadata } from '../../commands/shared/events.ts';
import { isRegistered } from '../people/registered.ts';
import { CONVERSATIONS, type ConversationDoc } from '../../projections/conversations.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import {
  attachmentFilesOf,
  GROUP_MESSAGES,
  MESSAGES,
  messageCollectionOf,
  toPublicMessage,
  type MessageBody,
  type MessageDoc,
  type PublicMessage,
} from '../../projections/messageDocs.ts';
import { MEDIA_FILES, type MediaDoc } from '../../projections/mediaFiles.ts';
import { MESSAGE_TRANSCRIPTS, transcriptsOf, type TranscriptDoc } from '../../projections/transcripts.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { deriveId } from '../ids.ts';
import type { Projections } from '../projection/projections.ts';
import type { Filter, ReadStore } from '../readstore/port.ts';
import type { Blocks } from '../people/blocks.ts';
import type { MediaService } from '../media/mediaService.ts';
import type { ConversationAccess, ConversationName } from './access.ts';
import { eventIdFor, revealEvent, sealWithKey } from '../privacy/sealing.ts';
import { messageKeyId, type ShreddingKeys } from '../privacy/shreddingKeys.ts';
import { listConversations, type ConversationListItem } from './conversationList.ts';
import type { DisappearingService } from './disappearingService.ts';
import { reactionSummaries } from './reactionService.ts';
import { checkedThreadRoot, threadSummaries } from './threadService.ts';

export interface SendInput extends Omit<ConversationName, 'with'> {
  recipientId?: string | undefined;
  text?: string | undefined;
  encrypted?: Omit<Extract<MessageContent, { kind: 'encrypted' }>, 'kind'> | undefined;
  clientMessageId?: string | undefined;
  replyTo?: string | undefined;
  threadRootId?: string | undefined;
  attachments?: string[] | undefined;
}

export interface SendResult {
  message: PublicMessage;
  /** False when this was a retry of a send that had already been stored. */
  created: boolean;
}

export interface ReceiptSummary {
  /** For direct messages: the recipient's state of this message. */
  status?: 'sent' | 'delivered' | 'read';
  /** For group messages: how many other members have it delivered / read. */
  deliveredCount?: number;
  readCount?: number;
}

const contentOf = (input: { text?: string | undefined; encrypted?: SendInput['encrypted'] }): MessageContent =>
  input.text !== undefined ? { kind: 'text', text: input.text } : { kind: 'encrypted', ...input.encrypted! };

/**
 * The content as the event stores it: a text sealed under the message's content key, bound to the event it goes
 * into (the command appends one event to the message's stream, whose id derives from the command's).
 */
async function storedContentOf(
  keys: ShreddingKeys,
  messageId: string,
  content: MessageContent,
  metadata: CommandMetadata,
): Promise<StoredMessageContent> {
  if (content.kind !== 'text') return content;
  const stream = messageStream(messageId);
  return {
    kind: 'text',
    text: await sealWithKey(keys, messageKeyId(messageId), content.text, {
      eventId: eventIdFor(metadata, stream),
      stream,
      field: 'content.text',
    }),
  };
}

/**
 * Messaging use cases for REST and the socket alike: the lookups a decider needs, the command, and the reads
 * (from collections only).
 */
export class MessagingService {
  constructor(
    private readonly commands: CommandHandler,
    private readonly readStore: ReadStore,
    private readonly projections: Projections,
    private readonly access: ConversationAccess,
    private readonly blocks: Blocks,
    private readonly media: Pick<MediaService, 'claimAttachments'>,
    /** Until the projections have every write acknowledged so far (the same wait as REST reads, see mountRoutes). */
    private readonly caughtUp: () => Promise<void>,
    /** Content keys: texts are sealed before they are appended, and a delete for everyone destroys the key. */
    private readonly keys: ShreddingKeys,
    /** The conversation's disappearing timer, read at each send (the message records its own expiry). */
    private readonly timers?: Pick<DisappearingService, 'secondsFor'>,
  ) {}

  /**
   * Sends a message: durable when this resolves, answered without waiting for its projection (the reply is built
   * from the event; a following REST request waits for the projections, see mountRoutes).
   */
  async send(senderId: string, input: SendInput, metadata: CommandMetadata): Promise<SendResult> {
    // Not waiting afterwards, a sender waits before while the projections are far behind (backpressure).
    await this.projections.admit();
    const target: MessageTarget =
      input.groupId !== undefined ? { kind: 'group', groupId: input.groupId } : { kind: 'direct', recipientId: input.recipientId! };
    const conversationId = this.access.conversationIdOf(senderId, { with: input.recipientId, groupId: input.groupId });
    // The message id derives from the sender and the client's id, so a retried send lands on the same stream.
    const messageId = deriveId('message', senderId, input.clientMessageId ?? metadata.commandId);
    const standing = target.kind === 'group' ? await this.groupStanding(target.groupId, senderId) : null;
    const targetReachable = target.kind === 'group' ? standing!.member : await isRegistered(this.commands, target.recipientId);
    const postingAllowed = standing?.mayPost ?? true;
    // Only the blocker is refused: a send to someone who blocked you is accepted and kept from them (the projections
    // check blocks as of its position), so nobody learns they were blocked.
    const blocked = target.kind === 'direct' && (await this.blocks.hasBlocked(senderId, target.recipientId));
    const attachments = [...new Set(input.attachments ?? [])];
    const owned = await this.media.claimAttachments(senderId, attachments, metadata);
    const attachmentsValid = attachments.every((id) => owned.has(id));
    // A reply to a message sent a moment ago (its send answered before its projection): wait until it is readable.
    if (input.replyTo !== undefined) await this.caughtUp();
    const replyToValid =
      input.replyTo === undefined ||
      (await this.readStore
        .collection<MessageDoc>(messageCollectionOf(conversationId))
        .countDocuments({ _id: input.replyTo, conversationId })) === 1;
    // A reply in a thread: its root must be readable now (a send answered a moment ago may not be projected yet).
    if (input.threadRootId !== undefined) await this.caughtUp();
    const threadRootId = await checkedThreadRoot(this.readStore, this.access, senderId, conversationId, input.threadRootId);
    const result = await this.commands.handle(
      messageDecider,
      messageStream(messageId),
      {
        type: 'SendMessage',
        data: {
          messageId,
          conversationId,
          senderId,
          target,
          content: await storedContentOf(this.keys, messageId, contentOf(input), metadata),
          replyTo: input.replyTo ?? null,
          ...(threadRootId === undefined ? {} : { threadRootId }),
          attachments,
          clientMessageId: input.clientMessageId ?? messageId,
          targetReachable,
          postingAllowed,
          replyToValid,
          blocked,
          attachmentsValid,
          disappearAfterSeconds: (await this.timers?.secondsFor(conversationId)) ?? null,
        },
        metadata,
      },
      { expectNew: true },
    );
    const sent = result.events[0];
    if (result.position !== null && sent?.type === 'MessageSent') {
      const { messageId: id, ...data } = sent.data;
      const doc: MessageBody = {
        _id: id,
        ...data,
        content: contentOf(input),
        editedAt: null,
        deletedAt: null,
        hiddenFor: [],
        position: result.position,
        // As the projection marks it (projections/messageDocs.ts).
        ...(metadata.actorIsBot && metadata.userId === senderId ? { senderIsBot: true } : {}),
      };
      const message = toPublicMessage(doc, await this.filesOf([doc]));
      return { message, created: true };
    }
    // A retry: the first send may not be projected yet.
    await this.caughtUp();
    return { message: await this.requireMessage(messageId, conversationId), created: false };
  }

  async edit(
    actorId: string,
    messageId: string,
    content: { text?: string | undefined; encrypted?: SendInput['encrypted'] },
    metadata: CommandMetadata,
  ): Promise<PublicMessage> {
    const doc = await this.visibleMessage(actorId, messageId);
    const result = await this.commands.handle(messageDecider, messageStream(messageId), {
      type: 'EditMessage',
      data: { messageId, actorId, content: await storedContentOf(this.keys, messageId, contentOf(content), metadata) },
      metadata,
    });
    if (result.position !== null) await this.projections.waitFor(result.position);
    return this.requireMessage(messageId, doc.conversationId);
  }

  async delete(actorId: string, messageId: string, scope: 'everyone' | 'me', metadata: CommandMetadata): Promise<void> {
    await this.visibleMessage(actorId, messageId);
    const result = await this.commands.handle(messageDecider, messageStream(messageId), {
      type: 'DeleteMessage',
      data: { messageId, actorId, scope, actorIsParticipant: true },
      metadata,
    });
    // Deleted for everyone is erased: the content key goes (after the append, so a failed append erases nothing; a
    // retried delete destroys it again, idempotently). The projections drop their copies at the event.
    if (scope === 'everyone' && (result.position !== null || result.state.status === 'deleted'))
      await this.keys.destroy(messageKeyId(messageId));
    if (result.position !== null) await this.projections.waitFor(result.position);
  }

  /** The edit history from the event log: the original and every edit, unless deleted for everyone. */
  async history(actorId: string, messageId: string) {
    const doc = await this.visibleMessage(actorId, messageId);
    const events = doc.deletedAt
      ? []
      : await Promise.all((await this.commands.readStream(messageStream(messageId))).map((event) => revealEvent(event, this.keys)));
    const versions = events.flatMap(({ position, ...recorded }) => {
      const event = eventOf<MessageEvent>(messageEventTypes, recorded);
      if (event.type === 'MessageSent') return [{ content: revealedContent(event.data.content), at: event.data.sentAt, position }];
      if (event.type === 'MessageEdited') return [{ content: revealedContent(event.data.content), at: event.data.editedAt, position }];
      return [];
    });
    return { messageId, deleted: doc.deletedAt !== null, versions };
  }

  /** Moves the caller's read watermark up to `messageId` (one event per move, none if not forward). */
  async markRead(userId: string, name: ConversationName, messageId: string, metadata: CommandMetadata, awaitProjection = true) {
    return this.moveWatermark('MarkRead', userId, name, messageId, metadata, awaitProjection);
  }

  async markDelivered(userId: string, name: ConversationName, messageId: string, metadata: CommandMetadata, awaitProjection = true) {
    return this.moveWatermark('MarkDelivered', userId, name, messageId, metadata, awaitProjection);
  }

  private async moveWatermark(
    type: 'MarkRead' | 'MarkDelivered',
    userId: string,
    name: ConversationName,
    messageId: string,
    metadata: CommandMetadata,
    awaitProjection: boolean,
  ) {
    const conversationId = this.access.conversationIdOf(userId, name);
    await this.access.assertCanRead(userId, conversationId);
    const doc = await this.readStore
      .collection<MessageDoc>(messageCollectionOf(conversationId))
      .findOne({ _id: messageId, conversationId });
    if (!doc || doc.hiddenFor.includes(userId)) throw new NotFoundError('Message');
    const result = await this.commands.handle(receiptDecider, receiptStream(conversationId, userId), {
      type,
      data: { conversationId, userId, upTo: { messageId, position: doc.position } },
      metadata,
    });
    if (result.position !== null && awaitProjection) await this.projections.waitFor(result.position);
    return { conversationId, messageId, upTo: doc.position, position: result.position };
  }

  /** One page of a conversation, newest first; fetching marks what others sent as delivered to the caller. */
  async list(
    userId: string,
    query: ConversationName & { before?: number | undefined; after?: number | undefined; limit: number },
    metadata: CommandMetadata,
  ) {
    const conversationId = this.access.conversationIdOf(userId, query);
    await this.access.assertCanRead(userId, conversationId);
    const filter: Filter = { conversationId, hiddenFor: { $ne: userId } };
    if (query.before !== undefined) filter.position = { $lt: query.before };
    if (query.after !== undefined) filter.position = { $gt: query.after };
    // A group member reads what was said while they were a member, as `sync` replays it.
    if (conversationId.startsWith('group:')) {
      filter.$or = (await this.access.windowsOf(userId, conversationId)).map((window) => ({
        position: window.to === null ? { $gte: window.from } : { $gte: window.from, $lt: window.to },
      }));
    }
    const collection = this.readStore.collection<MessageDoc>(messageCollectionOf(conversationId));
    // `after` fills a gap forwards: take the oldest ones after the cursor, then present them newest first.
    const page = await collection.find(filter, { sort: { position: query.after !== undefined ? 1 : -1 }, limit: query.limit + 1 });
    const hasMore = page.length > query.limit;
    const docs = page.slice(0, query.limit);
    if (query.after !== undefined) docs.reverse();
    const receipts = await this.receiptsFor(conversationId, userId);
    const files = await this.filesOf(docs);
    const reactions = await reactionSummaries(
      this.readStore,
      userId,
      docs.map((doc) => doc._id),
    );
    const transcripts = await transcriptsOf(
      this.readStore.collection<TranscriptDoc>(MESSAGE_TRANSCRIPTS),
      docs.filter((doc) => doc.attachments.length > 0).map((doc) => doc._id),
    );
    const threads = await threadSummaries(
      this.readStore,
      docs.map((doc) => doc._id),
    );
    const messages = docs.map((doc) => ({
      ...toPublicMessage(doc, files),
      ...(transcripts.has(doc._id) ? { transcripts: transcripts.get(doc._id)! } : {}),
      ...(doc.senderId === userId ? receipts(doc.position) : {}),
      reactions: reactions.get(doc._id) ?? [],
      ...(threads.has(doc._id) ? { thread: threads.get(doc._id)! } : {}),
    }));
    const newestFromOthers = docs.find((doc) => doc.senderId !== userId);
    if (newestFromOthers) {
      await this.markDelivered(
        userId,
        query,
        newestFromOthers._id,
        { ...metadata, commandId: deriveId(metadata.commandId, 'delivered') },
        false,
      );
    }
    return {
      conversationId,
      messages,
      hasMore,
      cursors: { before: docs.at(-1)?.position ?? null, after: docs[0]?.position ?? null },
    };
  }

  /**
   * Per-message receipt state of the caller's own messages, from the other members' watermarks. Read receipts follow
   * `privacy.readReceipts` both ways (off: yours are hidden, and you see no one's), and nothing crosses a block.
   */
  private async receiptsFor(conversationId: string, userId: string): Promise<(position: number) => ReceiptSummary> {
    const others = (await this.readStore.collection<ConversationDoc>(CONVERSATIONS).find({ conversationId, active: true })).filter(
      (doc) => doc.userId !== userId,
    );
    const users = await this.readStore.collection<UserDoc>(USERS).find({ _id: { $in: [userId, ...others.map((doc) => doc.userId)] } });
    const sharesReads = new Set(users.filter((user) => user.privacy.readReceipts).map((user) => user._id));
    const readsOf = (doc: ConversationDoc) => (sharesReads.has(userId) && sharesReads.has(doc.userId) ? doc.readUpTo : 0);
    if (conversationId.startsWith('dm:')) {
      const peer = others[0];
      if (!peer || (await this.blocks.between(userId, peer.userId))) return () => ({ status: 'sent' });
      return (position) => ({ status: readsOf(peer) >= position ? 'read' : peer.deliveredUpTo >= position ? 'delivered' : 'sent' });
    }
    // Receipts do not cross a block: members with a block either way are not counted.
    const blocked = await this.blocks.among(
      userId,
      others.map((doc) => doc.userId),
    );
    const counted = others.filter((doc) => !blocked.has(doc.userId));
    return (position) => ({
      deliveredCount: counted.filter((doc) => doc.deliveredUpTo >= position).length,
      readCount: counted.filter((doc) => readsOf(doc) >= position).length,
    });
  }

  private filesOf(docs: ReadonlyArray<Pick<MessageDoc, 'attachments'>>) {
    return attachmentFilesOf(this.readStore.collection<MediaDoc>(MEDIA_FILES), docs);
  }

  /** The caller's conversations, most recent activity first, each with its last message and unread count. */
  conversations(userId: string, query: { before?: number | undefined; limit: number }): Promise<ConversationListItem[]> {
    return listConversations(this.readStore, userId, query);
  }

  /** A message the caller may see (participant, not hidden for them), or 404. */
  private async visibleMessage(userId: string, messageId: string): Promise<MessageDoc> {
    const doc =
      (await this.readStore.collection<MessageDoc>(MESSAGES).findOne({ _id: messageId })) ??
      (await this.readStore.collection<MessageDoc>(GROUP_MESSAGES).findOne({ _id: messageId }));
    if (!doc || doc.hiddenFor.includes(userId) || !(await this.access.canReadAt(userId, doc.conversationId, doc.position)))
      throw new NotFoundError('Message');
    return doc;
  }

  private async requireMessage(messageId: string, conversationId: string): Promise<PublicMessage> {
    const collection = this.readStore.collection<MessageDoc>(messageCollectionOf(conversationId));
    let doc = await collection.findOne({ _id: messageId });
    if (!doc) {
      await this.projections.waitFor(await this.projections.headPosition());
      doc = await collection.findOne({ _id: messageId });
    }
    if (!doc) throw new NotFoundError('Message');
    return toPublicMessage(doc, await this.filesOf([doc]));
  }

  /** Whether the sender is a member, and whether the group's settings let them post. */
  private async groupStanding(groupId: string, userId: string): Promise<{ member: boolean; mayPost: boolean }> {
    const { state } = await this.commands.load(groupDecider, groupStream(groupId));
    return { member: state.status === 'active' && state.members.has(userId), mayPost: mayPost(state, userId) };
  }
}
