import { pushEventTypes, type PushEvent } from '../commands/push.ts';
import { assertNever, eventOf } from '../commands/shared/events.ts';
import { isSealed } from '../commands/shared/sealed.ts';
import type { AccountDeleted } from '../commands/users.ts';
import type { ProjectedDoc, Projector, Unpositioned } from '../src/projection/projector.ts';

/**
 * `push_subscriptions`: one document per device subscription, with the endpoint and keys the deliveries encrypt to
 * (opened from the event; a subscription whose key was erased has no document). `push_settings`: one per user who
 * changed a push setting or muted a conversation.
 */
export interface PushSubscriptionDoc extends ProjectedDoc {
  userId: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  origin: string;
  createdAt: string;
}

export interface PushSettingsDoc extends ProjectedDoc {
  pushPreview: boolean;
  /** Conversation id → muted until (ISO) or null for ever. */
  mutes: Record<string, string | null>;
}

export const PUSH_SUBSCRIPTIONS = 'push_subscriptions';
export const PUSH_SETTINGS = 'push_settings';

/** What the sealed `subscription` field of PushSubscriptionAdded holds once opened. */
export interface PushSubscriptionSecret {
  endpoint: string;
  p256dh: string;
  auth: string;
}

const blankSettings = (userId: string): Unpositioned<PushSettingsDoc> => ({ _id: userId, pushPreview: true, mutes: {} });

export const pushProjector: Projector = {
  name: PUSH_SUBSCRIPTIONS,
  collections: { [PUSH_SUBSCRIPTIONS]: [{ key: { userId: 1 } }, { key: { endpoint: 1 } }], [PUSH_SETTINGS]: [] },
  handles: new Set([...pushEventTypes, 'AccountDeleted']),
  async apply(recorded, context) {
    if (recorded.type === 'AccountDeleted') {
      // A deleted account's endpoints and keys are personal data: gone from the read store with it.
      const { userId } = recorded.data as AccountDeleted['data'];
      await context.projectMany<PushSubscriptionDoc>(PUSH_SUBSCRIPTIONS, { userId }, recorded, () => null);
      return context.project<PushSettingsDoc>(PUSH_SETTINGS, userId, recorded, () => null);
    }
    const event = eventOf<PushEvent>(pushEventTypes, recorded);
    const { userId } = event.data;
    switch (event.type) {
      case 'PushSubscriptionAdded': {
        const { subscriptionId, subscription, origin, at } = event.data;
        // Still sealed here: the user's key is gone (erased), so is the subscription.
        const opened = isSealed(subscription) ? null : (JSON.parse(subscription.plain) as PushSubscriptionSecret);
        return context.project<PushSubscriptionDoc>(PUSH_SUBSCRIPTIONS, subscriptionId, recorded, () =>
          opened ? { _id: subscriptionId, userId, ...opened, origin, createdAt: at } : null,
        );
      }
      case 'PushSubscriptionRemoved':
        return context.project<PushSubscriptionDoc>(PUSH_SUBSCRIPTIONS, event.data.subscriptionId, recorded, () => null);
      case 'PushPreviewChanged':
        return context.project<PushSettingsDoc>(PUSH_SETTINGS, userId, recorded, (doc) => ({
          ...(doc ?? blankSettings(userId)),
          pushPreview: event.data.pushPreview,
        }));
      case 'ConversationMuted':
        return context.project<PushSettingsDoc>(PUSH_SETTINGS, userId, recorded, (doc) => {
          const settings = doc ?? blankSettings(userId);
          return { ...settings, mutes: { ...settings.mutes, [event.data.conversationId]: event.data.until } };
        });
      case 'ConversationUnmuted':
        return context.project<PushSettingsDoc>(PUSH_SETTINGS, userId, recorded, (doc) => {
          if (!doc) return null;
          const mutes = { ...doc.mutes };
          delete mutes[event.data.conversationId];
          return { ...doc, mutes };
        });
      default:
        return assertNever(event);
    }
  },
};
