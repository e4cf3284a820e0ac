import { ConflictError, DomainError, ForbiddenError, NotFoundError, ValidationError } from './shared/errors.ts';
import { BlockedError } from './contacts.ts';
import { AdminsOnlyError } from './groups.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';
import { isSealed, textOf, type SealedText } from './shared/sealed.ts';

/**
 * The message aggregate: one stream per message (`message-<id>`), so sends never contend with each other and
 * edits and deletes lock only their message. The message id derives from the sender and the client's
 * `clientMessageId`, so a retried send lands on the same stream and appends nothing.
 */
export const messageStream = (messageId: string) => `message-${messageId}`;

export const MAX_TEXT_LENGTH = 4_000;

/** Either readable text or an end-to-end encrypted payload the server stores and relays without reading. */
export type MessageContent =
  | { kind: 'text'; text: string }
  | { kind: 'encrypted'; ciphertext: string; nonce: string; algorithm: string; recipientKeyId: string; senderKeyId?: string | undefined };

/**
 * Content as events store it (MessageSent and MessageEdited v2): a text is sealed under the message's content key
 * (`message:<messageId>`, see src/privacy/), so deleting the message for everyone erases it by destroying the key.
 * v1 events stored the text in clear; their upcaster gives `{ plain }`.
 */
export type StoredMessageContent = { kind: 'text'; text: SealedText } | Extract<MessageContent, { kind: 'encrypted' }>;

/** What readers show: the opened text, or `[erased]` when its key is gone. */
export const revealedContent = (content: StoredMessageContent): MessageContent =>
  content.kind === 'text' ? { kind: 'text', text: textOf(content.text) } : content;

/** The content key of a message: its text is sealed with it and with no other (src/privacy/shreddingKeys.ts names it). */
export const messageContentKeyId = (messageId: string) => `message:${messageId}`;

/** A new text is sealed with its message's own key: a clear or foreign-keyed text would escape erasure. */
function assertSealedFor(content: StoredMessageContent, messageId: string): void {
  if (content.kind === 'text' && !(isSealed(content.text) && content.text.kid === messageContentKeyId(messageId))) {
    throw new ValidationError("content: a text must be sealed with its message's content key", { field: 'content' });
  }
}

export type MessageTarget = { kind: 'direct'; recipientId: string } | { kind: 'group'; groupId: string };

/** What a sender composes (its text sealed by the shell); the event adds the time it was sent. */
export interface OutgoingMessage {
  messageId: string;
  conversationId: string;
  senderId: string;
  target: MessageTarget;
  content: StoredMessageContent;
  replyTo: string | null;
  attachments: string[];
  clientMessageId: string;
  /**
   * A reply in the thread of this root message (same conversation, itself not a reply; checked by the shell). Optional
   * rather than a new version: events without it were all sent outside any thread.
   */
  threadRootId?: string;
}

export type MessageSent = Event<
  'MessageSent',
  OutgoingMessage & {
    sentAt: string;
    /**
     * When the message disappears (its conversation's timer at the send, see commands/disappearing.ts); absent for a
     * message kept for good. Optional rather than a new version: events without it were all sent with no timer.
     */
    expiresAt?: string;
  }
>;
/** An attachment that is not a live file of the sender's: 422, so no one reaches another's file by naming it. */
export class InvalidAttachmentError extends DomainError {
  constructor() {
    super('invalid_attachment', 422, 'attachments: each must be a file you uploaded, not deleted');
  }
}

export type MessageEdited = Event<
  'MessageEdited',
  {
    messageId: string;
    conversationId: string;
    senderId: string;
    content: StoredMessageContent;
    editedAt: string;
  }
>;
export type MessageDeleted = Event<'MessageDeleted', { messageId: string; conversationId: string; deletedBy: string; deletedAt: string }>;
/** Deleted for one participant only: hidden from their views, kept for everyone else. */
export type MessageHidden = Event<'MessageHidden', { messageId: string; conversationId: string; userId: string; hiddenAt: string }>;
/**
 * Gone from every view (its disappearing timer ran out, or the operator's retention passed it): appended before its
 * content key is destroyed, so a crash between the two is found and the key destroyed on the next pass.
 */
export type MessageExpired = Event<
  'MessageExpired',
  { messageId: string; conversationId: string; reason: 'timer' | 'retention'; expiredAt: string }
>;
/** The expired message's content key was destroyed: nothing of its text can be opened any more. */
export type MessageContentShredded = Event<'MessageContentShredded', { messageId: string; conversationId: string; shreddedAt: string }>;
export type MessageEvent = MessageSent | MessageEdited | MessageDeleted | MessageHidden | MessageExpired | MessageContentShredded;
export const messageEventTypes = [
  'MessageSent',
  'MessageEdited',
  'MessageDeleted',
  'MessageHidden',
  'MessageExpired',
  'MessageContentShredded',
] as const satisfies readonly MessageEvent['type'][];

export type SendMessage = Command<
  'SendMessage',
  OutgoingMessage & {
    /** Looked up by the shell: the direct recipient is a registered user, or the sender is a member of the group. */
    targetReachable: boolean;
    /** Looked up by the shell: the group's settings let the sender post (an announcement group: admins only); true for a direct message. */
    postingAllowed: boolean;
    /** Looked up by the shell: the replied-to message exists in the same conversation (true when no reply). */
    replyToValid: boolean;
    /** Looked up by the shell: for a direct message, the sender has blocked the recipient (the other way is not refused). */
    blocked: boolean;
    /** Looked up by the shell: every attachment is a live file the sender uploaded (nobody attaches someone else's). */
    attachmentsValid: boolean;
    /** Looked up by the shell: the conversation's disappearing timer in seconds (absent or null: off). */
    disappearAfterSeconds?: number | null;
  }
>;
export type EditMessage = Command<'EditMessage', { messageId: string; actorId: string; content: StoredMessageContent }>;
export type DeleteMessage = Command<
  'DeleteMessage',
  {
    messageId: string;
    actorId: string;
    scope: 'everyone' | 'me';
    /** Looked up by the shell: the actor may read this conversation now. */
    actorIsParticipant: boolean;
  }
>;
/**
 * `timer`: the message's own `expiresAt` has come. `retention`: it was sent before `sentBefore` (RETENTION_DAYS).
 */
export type ExpireMessage = Command<'ExpireMessage', { messageId: string; reason: 'timer' | 'retention'; sentBefore?: string }>;
/** After an expiry, once the content key is destroyed. */
export type RecordContentShredded = Command<'RecordContentShredded', { messageId: string }>;
export type MessageCommand = SendMessage | EditMessage | DeleteMessage | ExpireMessage | RecordContentShredded;

/** Only what `decide` needs: the folded state is cached, so the message body (up to 64 KiB) is not kept. */
export type MessageState =
  | { status: 'none' }
  | {
      status: 'sent' | 'deleted' | 'expired';
      messageId: string;
      conversationId: string;
      senderId: string;
      contentKind: MessageContent['kind'];
      hiddenFor: ReadonlySet<string>;
      sentAt: string;
      expiresAt: string | null;
      shredded: boolean;
    };

export const initialState: MessageState = { status: 'none' };

export function evolve(state: MessageState, event: MessageEvent): MessageState {
  switch (event.type) {
    case 'MessageSent': {
      const { messageId, conversationId, senderId, content, sentAt, expiresAt } = event.data;
      return {
        status: 'sent',
        messageId,
        conversationId,
        senderId,
        contentKind: content.kind,
        hiddenFor: new Set(),
        sentAt,
        expiresAt: expiresAt ?? null,
        shredded: false,
      };
    }
    case 'MessageEdited':
      return state;
    case 'MessageDeleted':
      return state.status === 'none' || state.status === 'expired' ? state : { ...state, status: 'deleted' };
    case 'MessageHidden':
      return state.status === 'none' ? state : { ...state, hiddenFor: new Set([...state.hiddenFor, event.data.userId]) };
    case 'MessageExpired':
      return state.status === 'none' ? state : { ...state, status: 'expired' };
    case 'MessageContentShredded':
      return state.status === 'none' ? state : { ...state, shredded: true };
    default:
      return assertNever(event);
  }
}

export function decide(command: MessageCommand, state: MessageState): Decision<MessageEvent> {
  const now = command.metadata.now;
  switch (command.type) {
    case 'SendMessage': {
      const { targetReachable, postingAllowed, replyToValid, blocked, attachmentsValid, disappearAfterSeconds, ...message } = command.data;
      // A retried send (same sender, same clientMessageId) finds its message already there.
      if (state.status !== 'none') {
        if (state.senderId !== message.senderId) throw new ConflictError('message_exists', 'A message with this id already exists');
        return [];
      }
      if (!targetReachable) {
        throw message.target.kind === 'direct'
          ? new NotFoundError('Recipient', { recipientId: message.target.recipientId })
          : new ForbiddenError('You are not a member of this group', { groupId: message.target.groupId });
      }
      if (!postingAllowed) throw new AdminsOnlyError('send', 'Only group admins can send messages to this group');
      if (message.target.kind === 'direct' && message.target.recipientId === message.senderId) {
        throw new ValidationError('recipientId: you cannot message yourself', { field: 'recipientId' });
      }
      // The blocker unblocks first.
      if (message.target.kind === 'direct' && blocked) throw new BlockedError();
      if (!replyToValid) throw new ValidationError('replyTo: no such message in this conversation', { field: 'replyTo' });
      if (!attachmentsValid) throw new InvalidAttachmentError();
      assertSealedFor(message.content, message.messageId);
      const expiry = disappearAfterSeconds ? { expiresAt: new Date(Date.parse(now) + disappearAfterSeconds * 1000).toISOString() } : {};
      return [{ type: 'MessageSent', data: { ...message, sentAt: now, ...expiry } }];
    }
    case 'EditMessage': {
      if (state.status === 'none' || state.status === 'expired') throw new NotFoundError('Message');
      if (state.senderId !== command.data.actorId) throw new ForbiddenError('Only the sender can edit a message');
      if (state.status === 'deleted') throw new ConflictError('message_deleted', 'A deleted message cannot be edited');
      if (state.contentKind !== command.data.content.kind) {
        throw new ValidationError('content: an edit keeps the message kind (text or encrypted)', { field: 'content' });
      }
      assertSealedFor(command.data.content, state.messageId);
      return [
        {
          type: 'MessageEdited',
          data: {
            messageId: state.messageId,
            conversationId: state.conversationId,
            senderId: state.senderId,
            content: command.data.content,
            editedAt: now,
          },
        },
      ];
    }
    case 'DeleteMessage': {
      const { actorId, scope, actorIsParticipant } = command.data;
      if (state.status === 'none' || state.status === 'expired' || !actorIsParticipant) throw new NotFoundError('Message');
      if (scope === 'everyone') {
        if (state.senderId !== actorId) throw new ForbiddenError('Only the sender can delete a message for everyone');
        if (state.status === 'deleted') return [];
        return [
          {
            type: 'MessageDeleted',
            data: { messageId: state.messageId, conversationId: state.conversationId, deletedBy: actorId, deletedAt: now },
          },
        ];
      }
      if (state.hiddenFor.has(actorId)) return [];
      return [
        {
          type: 'MessageHidden',
          data: { messageId: state.messageId, conversationId: state.conversationId, userId: actorId, hiddenAt: now },
        },
      ];
    }
    case 'ExpireMessage': {
      if (state.status === 'none') throw new NotFoundError('Message');
      if (state.status === 'expired') return [];
      const { reason, sentBefore } = command.data;
      const due =
        reason === 'timer'
          ? state.expiresAt !== null && Date.parse(state.expiresAt) <= Date.parse(now)
          : sentBefore !== undefined && Date.parse(state.sentAt) < Date.parse(sentBefore);
      if (!due) throw new ConflictError('not_due', 'The message is not due to expire');
      return [
        { type: 'MessageExpired', data: { messageId: state.messageId, conversationId: state.conversationId, reason, expiredAt: now } },
      ];
    }
    case 'RecordContentShredded': {
      if (state.status === 'none') throw new NotFoundError('Message');
      if (state.status !== 'expired') throw new ConflictError('not_expired', 'Only an expired message is shredded this way');
      if (state.shredded) return [];
      return [
        { type: 'MessageContentShredded', data: { messageId: state.messageId, conversationId: state.conversationId, shreddedAt: now } },
      ];
    }
    default:
      return assertNever(command);
  }
}

export const messageDecider: Decider<MessageCommand, MessageEvent, MessageState> = {
  eventTypes: messageEventTypes,
  initialState,
  evolve,
  decide,
};
