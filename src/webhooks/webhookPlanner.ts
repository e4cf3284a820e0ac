import { groupConversationId } from '../../commands/conversations.ts';
import type { JoinRequestApproved, MemberAdded, MemberJoined, MemberLeft, MemberRemoved } from '../../commands/groups.ts';
import {
  revealedContent,
  type MessageContent,
  type MessageDeleted,
  type MessageEdited,
  type MessageSent,
} from '../../commands/messages.ts';
import type { ReactionAdded, ReactionRemoved } from '../../commands/reactions.ts';
import type { WebhookEventKind } from '../../commands/webhooks.ts';
import { GROUPS, type GroupDoc } from '../../projections/groups.ts';
import { WEBHOOKS, type WebhookDoc } from '../../projections/webhooks.ts';
import type { RecordedEvent } from '../eventstore/port.ts';
import { deriveId } from '../ids.ts';
import type { ReadStore } from '../readstore/port.ts';
import { isBotAccount, mayWatchGroup } from './mayWatchGroup.ts';

/** The event types that can cause a delivery, and the kind each is delivered as. */
const KIND_OF: Readonly<Record<string, WebhookEventKind>> = {
  MessageSent: 'message.created',
  MessageEdited: 'message.edited',
  MessageDeleted: 'message.deleted',
  ReactionAdded: 'reaction.added',
  ReactionRemoved: 'reaction.removed',
  MemberAdded: 'member.joined',
  MemberJoined: 'member.joined',
  JoinRequestApproved: 'member.joined',
  MemberLeft: 'member.left',
  MemberRemoved: 'member.left',
};

/** The event types that can cause a delivery (everything else only moves the checkpoint). */
export const WEBHOOK_SOURCE_TYPES: ReadonlySet<string> = new Set(Object.keys(KIND_OF));

/**
 * What a delivery's JSON body holds: a protocol shape mapped from the event, never the domain event itself. A message's
 * text is the opened text (the watcher may read it), `[erased]` when its key is gone; an end-to-end encrypted message
 * stays ciphertext.
 */
export interface WebhookPayload {
  /** The delivery's id, the same as the X-LetsApp-Delivery header: a receiver drops a second copy by it. */
  id: string;
  type: WebhookEventKind;
  webhookId: string;
  occurredAt: string;
  data: WebhookPayloadData;
}

export type WebhookPayloadData =
  | {
      message: {
        id: string;
        conversationId: string;
        senderId: string;
        groupId: string | null;
        content: MessageContent;
        replyTo: string | null;
        threadRootId: string | null;
        attachmentIds: string[];
        sentAt: string;
      };
    }
  | { message: { id: string; conversationId: string; senderId: string; content: MessageContent; editedAt: string } }
  | { message: { id: string; conversationId: string; deletedBy: string; deletedAt: string } }
  | { reaction: { messageId: string; conversationId: string; userId: string; emoji: string; at: string } }
  | {
      member: {
        groupId: string;
        conversationId: string;
        userId: string;
        /** How they came or went. */
        via: 'added' | 'invite' | 'request' | 'left' | 'removed';
        by: string | null;
        at: string;
      };
    };

export interface PlannedWebhookDelivery {
  webhook: WebhookDoc;
  deliveryId: string;
  kind: WebhookEventKind;
  body: string;
}

/** The idempotency key of one webhook's delivery of one event: the same at every try and after any restart. */
export const webhookDeliveryId = (webhookId: string, eventId: string) => deriveId('webhook-delivery', webhookId, eventId);

/** One event's time and payload data (its kind is KIND_OF's), or null when no webhook hears it. */
function describe(event: RecordedEvent): { occurredAt: string; data: WebhookPayloadData } | null {
  switch (event.type) {
    case 'MessageSent': {
      const data = event.data as MessageSent['data'];
      return {
        occurredAt: data.sentAt,
        data: {
          message: {
            id: data.messageId,
            conversationId: data.conversationId,
            senderId: data.senderId,
            groupId: data.target.kind === 'group' ? data.target.groupId : null,
            content: revealedContent(data.content),
            replyTo: data.replyTo,
            threadRootId: data.threadRootId ?? null,
            attachmentIds: [...data.attachments],
            sentAt: data.sentAt,
          },
        },
      };
    }
    case 'MessageEdited': {
      const data = event.data as MessageEdited['data'];
      return {
        occurredAt: data.editedAt,
        data: {
          message: {
            id: data.messageId,
            conversationId: data.conversationId,
            senderId: data.senderId,
            content: revealedContent(data.content),
            editedAt: data.editedAt,
          },
        },
      };
    }
    case 'MessageDeleted': {
      const data = event.data as MessageDeleted['data'];
      return {
        occurredAt: data.deletedAt,
        data: {
          message: { id: data.messageId, conversationId: data.conversationId, deletedBy: data.deletedBy, deletedAt: data.deletedAt },
        },
      };
    }
    case 'ReactionAdded':
    case 'ReactionRemoved': {
      const data = event.data as (ReactionAdded | ReactionRemoved)['data'];
      return {
        occurredAt: data.at,
        data: {
          reaction: { messageId: data.messageId, conversationId: data.conversationId, userId: data.userId, emoji: data.emoji, at: data.at },
        },
      };
    }
    case 'MemberAdded': {
      const data = event.data as MemberAdded['data'];
      return member(data.groupId, data.userId, 'added', data.addedBy, data.addedAt);
    }
    case 'MemberJoined': {
      const data = event.data as MemberJoined['data'];
      return member(data.groupId, data.userId, 'invite', null, data.joinedAt);
    }
    case 'JoinRequestApproved': {
      const data = event.data as JoinRequestApproved['data'];
      return member(data.groupId, data.userId, 'request', data.approvedBy, data.approvedAt);
    }
    case 'MemberLeft': {
      const data = event.data as MemberLeft['data'];
      return member(data.groupId, data.userId, 'left', null, data.leftAt);
    }
    case 'MemberRemoved': {
      const data = event.data as MemberRemoved['data'];
      return member(data.groupId, data.userId, 'removed', data.removedBy, data.removedAt);
    }
    default:
      return null;
  }
}

const member = (
  groupId: string,
  userId: string,
  via: 'added' | 'invite' | 'request' | 'left' | 'removed',
  by: string | null,
  at: string,
) => {
  const conversationId = groupConversationId(groupId);
  return { occurredAt: at, data: { member: { groupId, conversationId, userId, via, by, at } } };
};

/** The two participants of `dm:<a>:<b>`, or null for another kind of conversation. */
const directParticipants = (conversationId: string): string[] | null => {
  const parts = conversationId.split(':');
  return parts[0] === 'dm' && parts.length === 3 ? [parts[1]!, parts[2]!] : null;
};

/**
 * Which webhooks hear an event (its sealed fields already opened), each with its body. Read after the projections
 * applied the event, so membership and roles are as of it: a group's webhooks whose owner may still watch the group
 * (mayWatchGroup), or the direct-conversation webhooks of its two participants; enabled, and asking for the kind.
 */
export class WebhookPlanner {
  constructor(private readonly readStore: ReadStore) {}

  /** Whether any webhook exists (enabled or not). */
  async anyWebhooks(): Promise<boolean> {
    return (await this.readStore.collection<WebhookDoc>(WEBHOOKS).findOne({})) !== null;
  }

  /**
   * The webhooks that hear the event, from fields that are never sealed (its conversation and type), so an event no
   * webhook hears is neither opened nor described.
   */
  async listeners(event: RecordedEvent): Promise<WebhookDoc[]> {
    const kind = KIND_OF[event.type];
    if (!kind) return [];
    const { conversationId, groupId } = event.data as { conversationId?: string; groupId?: string };
    const webhooks = this.readStore.collection<WebhookDoc>(WEBHOOKS);
    let candidates: WebhookDoc[];
    const group = groupId ?? (conversationId?.startsWith('group:') ? conversationId.slice('group:'.length) : null);
    if (group !== null) {
      candidates = [];
      const watching = await webhooks.find({ groupId: group }, { limit: 100 });
      const doc = watching.length > 0 ? await this.readStore.collection<GroupDoc>(GROUPS).findOne({ _id: group }) : null;
      for (const webhook of watching)
        if (mayWatchGroup(doc, webhook.ownerId, await isBotAccount(this.readStore, webhook.ownerId))) candidates.push(webhook);
    } else {
      const participants = directParticipants(conversationId ?? '');
      if (!participants) return [];
      candidates = await webhooks.find({ ownerId: { $in: participants }, scope: 'direct' }, { limit: 100 });
    }
    return candidates.filter((webhook) => webhook.enabled && webhook.events.includes(kind));
  }

  /** The deliveries of an event (its sealed fields opened) to `listeners`, each with its body. */
  deliveries(event: RecordedEvent, listeners: readonly WebhookDoc[]): PlannedWebhookDelivery[] {
    const kind = KIND_OF[event.type];
    const described = describe(event);
    if (!kind || !described) return [];
    return listeners.map((webhook) => {
      const deliveryId = webhookDeliveryId(webhook._id, event.metadata.eventId);
      const payload: WebhookPayload = {
        id: deliveryId,
        type: kind,
        webhookId: webhook._id,
        occurredAt: described.occurredAt,
        data: described.data,
      };
      return { webhook, deliveryId, kind, body: JSON.stringify(payload) };
    });
  }
}
