import {
  pushDecider,
  pushStream,
  userDataKeyId,
  type PushCommand,
  type PushEvent,
  type PushSubscriptionRemovalReason,
} from '../../commands/push.ts';
import { ConflictError, ValidationError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { PUSH_SETTINGS, PUSH_SUBSCRIPTIONS, type PushSettingsDoc, type PushSubscriptionDoc } from '../../projections/push.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { deriveId, newId } from '../ids.ts';
import type { ConversationAccess } from '../messaging/access.ts';
import { eventIdFor, sealWithKey } from '../privacy/sealing.ts';
import type { ShreddingKeyId, ShreddingKeys } from '../privacy/shreddingKeys.ts';
import type { ReadStore } from '../readstore/port.ts';
import { endpointProblem } from './pushSettings.ts';

export interface PushSubscriptionInput {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** A subscription as its owner sees it: which push service, never the device's token or keys. */
export interface PushSubscriptionView {
  id: string;
  origin: string;
  createdAt: string;
}

export interface PushSettingsView {
  pushPreview: boolean;
  mutes: Array<{ conversationId: string; until: string | null }>;
}

/** A subscription's id: one per (user, endpoint), so registering the same device again replaces its keys. */
export const pushSubscriptionId = (userId: string, endpoint: string) => deriveId('push-subscription', userId, endpoint);

/** Push subscriptions, the preview setting and mutes: the lookups, the command, then the collections. */
export class PushService {
  constructor(
    private readonly deps: {
      commands: CommandHandler;
      readStore: ReadStore;
      access: ConversationAccess;
      keys: ShreddingKeys;
      vapidPublicKey: string | null;
      allowPrivateEndpoints: boolean;
    },
  ) {}

  /** The key browsers subscribe with (`applicationServerKey`), or null when push is off. */
  get vapidPublicKey(): string | null {
    return this.deps.vapidPublicKey;
  }

  /** The key, or 409 `push_disabled`. */
  requireVapidPublicKey(): string {
    if (this.deps.vapidPublicKey === null) throw new ConflictError('push_disabled', 'Web Push is turned off on this server');
    return this.deps.vapidPublicKey;
  }

  async subscribe(userId: string, input: PushSubscriptionInput, metadata: CommandMetadata): Promise<PushSubscriptionView> {
    this.requireVapidPublicKey();
    const problem = endpointProblem(input.endpoint, this.deps.allowPrivateEndpoints);
    if (problem) throw new ValidationError(`endpoint: ${problem}`, { field: 'endpoint' });
    const subscriptionId = pushSubscriptionId(userId, input.endpoint);
    const stream = pushStream(userId);
    const origin = new URL(input.endpoint).origin;
    const secret = JSON.stringify({ endpoint: input.endpoint, p256dh: input.keys.p256dh, auth: input.keys.auth });
    const subscription = await sealWithKey(this.deps.keys, userDataKeyId(userId) as ShreddingKeyId, secret, {
      eventId: eventIdFor(metadata, stream),
      stream,
      field: 'subscription',
    });
    await this.run(userId, { type: 'AddPushSubscription', data: { userId, subscriptionId, subscription, origin }, metadata });
    // The browser now belongs to this user's session: another user's subscription of the same endpoint would get
    // this user's notifications' neighbours (and theirs would reach this user), so it goes.
    const others = await this.deps.readStore
      .collection<PushSubscriptionDoc>(PUSH_SUBSCRIPTIONS)
      .find({ endpoint: input.endpoint, userId: { $ne: userId } }, { limit: 10 });
    for (const other of others) await this.remove(other.userId, other._id, 'moved', systemMetadata(metadata.now, metadata.correlationId));
    return { id: subscriptionId, origin, createdAt: metadata.now };
  }

  async list(userId: string): Promise<PushSubscriptionView[]> {
    const docs = await this.deps.readStore
      .collection<PushSubscriptionDoc>(PUSH_SUBSCRIPTIONS)
      .find({ userId }, { sort: { createdAt: 1 }, limit: 100 });
    return docs.map((doc) => ({ id: doc._id, origin: doc.origin, createdAt: doc.createdAt }));
  }

  /** The owner's removal: someone else's subscription (or none) is not found. */
  async unsubscribe(userId: string, subscriptionId: string, metadata: CommandMetadata): Promise<void> {
    await this.remove(userId, subscriptionId, 'removed', metadata);
  }

  /** The push service said the subscription is gone (404 or 410). */
  async expire(userId: string, subscriptionId: string, now: Date): Promise<void> {
    await this.remove(userId, subscriptionId, 'expired', systemMetadata(now.toISOString()));
  }

  async settings(userId: string): Promise<PushSettingsView> {
    const doc = await this.deps.readStore.collection<PushSettingsDoc>(PUSH_SETTINGS).findOne({ _id: userId });
    return viewOf(doc);
  }

  async setPreview(userId: string, pushPreview: boolean, metadata: CommandMetadata): Promise<PushSettingsView> {
    const state = await this.run(userId, { type: 'SetPushPreview', data: { userId, pushPreview }, metadata });
    return stateView(state);
  }

  async mute(userId: string, conversationId: string, until: string | null, metadata: CommandMetadata): Promise<PushSettingsView> {
    const canRead = await this.deps.access.canRead(userId, conversationId);
    return stateView(await this.run(userId, { type: 'MuteConversation', data: { userId, conversationId, until, canRead }, metadata }));
  }

  async unmute(userId: string, conversationId: string, metadata: CommandMetadata): Promise<PushSettingsView> {
    return stateView(await this.run(userId, { type: 'UnmuteConversation', data: { userId, conversationId }, metadata }));
  }

  private async remove(userId: string, subscriptionId: string, reason: PushSubscriptionRemovalReason, metadata: CommandMetadata) {
    await this.run(userId, { type: 'RemovePushSubscription', data: { userId, subscriptionId, reason }, metadata });
  }

  private async run(userId: string, command: PushCommand) {
    return (
      await this.deps.commands.handle<PushCommand, PushEvent, typeof pushDecider.initialState>(pushDecider, pushStream(userId), command)
    ).state;
  }
}

const viewOf = (doc: PushSettingsDoc | null): PushSettingsView => ({
  pushPreview: doc?.pushPreview ?? true,
  mutes: Object.entries(doc?.mutes ?? {}).map(([conversationId, until]) => ({ conversationId, until })),
});

const stateView = (state: typeof pushDecider.initialState): PushSettingsView => ({
  pushPreview: state.pushPreview,
  mutes: [...state.mutes].map(([conversationId, until]) => ({ conversationId, until })),
});

function systemMetadata(now: string, correlationId = `push:${newId()}`): CommandMetadata {
  return { commandId: newId(), correlationId, causationId: correlationId, userId: null, now };
}
