import { ConflictError, NotFoundError, ValidationError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';
import { isSealed, type SealedText } from './shared/sealed.ts';

/**
 * One user's Web Push settings (`push-<userId>`): the devices' push subscriptions, whether a push shows a preview
 * of the message, and the conversations they muted. A subscription's endpoint and keys are personal data: the events
 * hold them sealed under the user's data key (`user:<userId>`, src/privacy/), so erasing the user erases them.
 */
export const pushStream = (userId: string) => `push-${userId}`;

/** A device past this many must drop one first (each is a request per notification). */
export const MAX_PUSH_SUBSCRIPTIONS = 10;
/** Muted conversations one user may hold (the settings document carries them all). */
export const MAX_MUTED_CONVERSATIONS = 1_000;

/** The user's data key: the only key a subscription's endpoint and keys may be sealed with. */
export const userDataKeyId = (userId: string) => `user:${userId}`;

/** Why a subscription went: its owner removed it, the push service said it is gone (404/410), or another user took the endpoint. */
export type PushSubscriptionRemovalReason = 'removed' | 'expired' | 'moved';

export type PushSubscriptionAdded = Event<
  'PushSubscriptionAdded',
  {
    userId: string;
    subscriptionId: string;
    /** JSON `{ endpoint, p256dh, auth }`, sealed with the user's data key. */
    subscription: SealedText;
    /** The endpoint's origin (`https://push.example.com`): which push service, without the device's token. */
    origin: string;
    at: string;
  }
>;
export type PushSubscriptionRemoved = Event<
  'PushSubscriptionRemoved',
  { userId: string; subscriptionId: string; reason: PushSubscriptionRemovalReason; at: string }
>;
export type PushPreviewChanged = Event<'PushPreviewChanged', { userId: string; pushPreview: boolean; at: string }>;
/** `until` null: muted until unmuted. */
export type ConversationMuted = Event<'ConversationMuted', { userId: string; conversationId: string; until: string | null; at: string }>;
export type ConversationUnmuted = Event<'ConversationUnmuted', { userId: string; conversationId: string; at: string }>;

export type PushEvent = PushSubscriptionAdded | PushSubscriptionRemoved | PushPreviewChanged | ConversationMuted | ConversationUnmuted;
export const pushEventTypes = [
  'PushSubscriptionAdded',
  'PushSubscriptionRemoved',
  'PushPreviewChanged',
  'ConversationMuted',
  'ConversationUnmuted',
] as const satisfies readonly PushEvent['type'][];

export type AddPushSubscription = Command<
  'AddPushSubscription',
  { userId: string; subscriptionId: string; subscription: SealedText; origin: string }
>;
export type RemovePushSubscription = Command<
  'RemovePushSubscription',
  { userId: string; subscriptionId: string; reason: PushSubscriptionRemovalReason }
>;
export type SetPushPreview = Command<'SetPushPreview', { userId: string; pushPreview: boolean }>;
/** `canRead`: looked up by the shell, the user may read the conversation now. */
export type MuteConversation = Command<
  'MuteConversation',
  { userId: string; conversationId: string; until: string | null; canRead: boolean }
>;
export type UnmuteConversation = Command<'UnmuteConversation', { userId: string; conversationId: string }>;
export type PushCommand = AddPushSubscription | RemovePushSubscription | SetPushPreview | MuteConversation | UnmuteConversation;

export interface PushState {
  subscriptions: ReadonlySet<string>;
  pushPreview: boolean;
  /** Conversation id → muted until (ISO) or null for ever. */
  mutes: ReadonlyMap<string, string | null>;
}

/** Previews are on until the user turns them off. */
export const initialState: PushState = { subscriptions: new Set(), pushPreview: true, mutes: new Map() };

export function evolve(state: PushState, event: PushEvent): PushState {
  switch (event.type) {
    case 'PushSubscriptionAdded':
      return { ...state, subscriptions: new Set(state.subscriptions).add(event.data.subscriptionId) };
    case 'PushSubscriptionRemoved': {
      const subscriptions = new Set(state.subscriptions);
      subscriptions.delete(event.data.subscriptionId);
      return { ...state, subscriptions };
    }
    case 'PushPreviewChanged':
      return { ...state, pushPreview: event.data.pushPreview };
    case 'ConversationMuted':
      return { ...state, mutes: new Map(state.mutes).set(event.data.conversationId, event.data.until) };
    case 'ConversationUnmuted': {
      const mutes = new Map(state.mutes);
      mutes.delete(event.data.conversationId);
      return { ...state, mutes };
    }
    default:
      return assertNever(event);
  }
}

export function decide(command: PushCommand, state: PushState): Decision<PushEvent> {
  const at = command.metadata.now;
  const { userId } = command.data;
  switch (command.type) {
    case 'AddPushSubscription': {
      const { subscriptionId, subscription, origin } = command.data;
      // A clear or foreign-keyed endpoint would escape the user's erasure.
      if (!isSealed(subscription) || subscription.kid !== userDataKeyId(userId))
        throw new ValidationError("subscription: must be sealed with the user's data key", { field: 'subscription' });
      if (!state.subscriptions.has(subscriptionId) && state.subscriptions.size >= MAX_PUSH_SUBSCRIPTIONS)
        throw new ConflictError('push_subscriptions_limit', `At most ${MAX_PUSH_SUBSCRIPTIONS} push subscriptions; remove one first`);
      // Registered again (new keys, or the same): the newest keys win.
      return [{ type: 'PushSubscriptionAdded', data: { userId, subscriptionId, subscription, origin, at } }];
    }
    case 'RemovePushSubscription': {
      const { subscriptionId, reason } = command.data;
      if (!state.subscriptions.has(subscriptionId)) {
        if (reason === 'removed') throw new NotFoundError('Push subscription', { subscriptionId });
        return [];
      }
      return [{ type: 'PushSubscriptionRemoved', data: { userId, subscriptionId, reason, at } }];
    }
    case 'SetPushPreview':
      return state.pushPreview === command.data.pushPreview
        ? []
        : [{ type: 'PushPreviewChanged', data: { userId, pushPreview: command.data.pushPreview, at } }];
    case 'MuteConversation': {
      const { conversationId, until, canRead } = command.data;
      if (!canRead) throw new NotFoundError('Conversation', { conversationId });
      if (until !== null && Date.parse(until) <= Date.parse(at))
        throw new ValidationError('until: must be in the future', { field: 'until' });
      if (state.mutes.has(conversationId) && state.mutes.get(conversationId) === until) return [];
      if (!state.mutes.has(conversationId) && state.mutes.size >= MAX_MUTED_CONVERSATIONS)
        throw new ConflictError('mutes_limit', `At most ${MAX_MUTED_CONVERSATIONS} muted conversations`);
      return [{ type: 'ConversationMuted', data: { userId, conversationId, until, at } }];
    }
    case 'UnmuteConversation':
      return state.mutes.has(command.data.conversationId)
        ? [{ type: 'ConversationUnmuted', data: { userId, conversationId: command.data.conversationId, at } }]
        : [];
    default:
      return assertNever(command);
  }
}

/** Whether a mute (as the settings hold it) silences the conversation at `now`. */
export const isMutedAt = (until: string | null | undefined, now: Date): boolean =>
  until !== undefined && (until === null || Date.parse(until) > now.getTime());

export const pushDecider: Decider<PushCommand, PushEvent, PushState> = {
  eventTypes: pushEventTypes,
  initialState,
  evolve,
  decide,
};
