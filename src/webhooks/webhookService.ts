import { randomBytes } from 'node:crypto';
import { userDataKeyId } from '../../commands/push.ts';
import { NotFoundError, ValidationError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import {
  webhookDecider,
  webhookStream,
  type WebhookCommand,
  type WebhookDisabledReason,
  type WebhookEvent,
  type WebhookEventKind,
  type WebhookScope,
} from '../../commands/webhooks.ts';
import { WEBHOOKS, type WebhookDoc } from '../../projections/webhooks.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { newId } from '../ids.ts';
import type { AddressResolver } from '../net/privateAddress.ts';
import { eventIdFor, sealWithKey } from '../privacy/sealing.ts';
import type { ShreddingKeyId, ShreddingKeys } from '../privacy/shreddingKeys.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { SecretBox } from '../secrets/secretBox.ts';
import type { SecretStore } from '../secrets/secretStore.ts';
import { userMayWatchGroup } from './mayWatchGroup.ts';
import type { DeliveryRecord, WebhookDeliveryStore } from './webhookDeliveryStore.ts';
import { originOf, receiverUrlProblem } from './webhookUrl.ts';

/** A webhook as its owner sees it (the URL is theirs: shown to them only). */
export interface WebhookView {
  id: string;
  scope: WebhookScope;
  url: string;
  origin: string;
  events: WebhookEventKind[];
  enabled: boolean;
  disabledReason: WebhookDisabledReason | null;
  createdAt: string;
  updatedAt: string;
}

export interface WebhookDeliveryView {
  id: string;
  eventId: string;
  type: string;
  status: DeliveryRecord['status'];
  attempts: number;
  createdAt: string;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  durationMs: number | null;
  finishedAt: string | null;
}

export interface WebhookInput {
  url: string;
  events: string[];
  /** A group's webhook; absent: the caller's direct conversations. */
  groupId?: string | undefined;
}

export interface WebhookChanges {
  url?: string | undefined;
  events?: string[] | undefined;
  enabled?: boolean | undefined;
}

/** Where a webhook's signing secret is kept (the secrets store, sealed by SecretBox): never in an event. */
const secretContext = (webhookId: string) => ({ purpose: 'webhook-secret', subject: `webhook:${webhookId}` });

/** `whsec_` and 32 random bytes, base64url. */
const newSecret = () => `whsec_${randomBytes(32).toString('base64url')}`;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Webhooks: registration, changes and the delivery log, for their owners. */
export class WebhookService {
  constructor(
    private readonly deps: {
      commands: CommandHandler;
      readStore: ReadStore;
      projections: Projections;
      keys: ShreddingKeys;
      secrets: SecretStore;
      box: SecretBox;
      store: WebhookDeliveryStore | null;
      allowPrivate: boolean;
      resolve: AddressResolver;
    },
  ) {}

  async register(userId: string, input: WebhookInput, metadata: CommandMetadata): Promise<{ webhook: WebhookView; secret: string }> {
    await this.checkUrl(input.url);
    const webhookId = newId();
    const scope: WebhookScope = input.groupId ? { kind: 'group', groupId: input.groupId } : { kind: 'direct' };
    const webhooks = this.deps.readStore.collection<WebhookDoc>(WEBHOOKS);
    const ownerWebhooks = await webhooks.countDocuments({ ownerId: userId });
    const groupWebhooks = scope.kind === 'group' ? await webhooks.countDocuments({ groupId: scope.groupId }) : 0;
    const mayWatch = scope.kind === 'direct' || (await this.mayWatch(scope.groupId, userId));
    const stream = webhookStream(webhookId);
    const url = await sealWithKey(this.deps.keys, userDataKeyId(userId) as ShreddingKeyId, input.url, {
      eventId: eventIdFor(metadata, stream),
      stream,
      field: 'url',
    });
    const secret = newSecret();
    await this.putSecret(webhookId, secret);
    try {
      await this.run(webhookId, {
        type: 'RegisterWebhook',
        data: {
          webhookId,
          ownerId: userId,
          scope,
          url,
          origin: originOf(input.url),
          events: input.events,
          mayWatch,
          ownerWebhooks,
          groupWebhooks,
        },
        metadata,
      });
    } catch (error) {
      await this.deps.secrets.delete(secretContext(webhookId).purpose, secretContext(webhookId).subject);
      throw error;
    }
    return { webhook: await this.view(userId, webhookId), secret };
  }

  async list(userId: string): Promise<WebhookView[]> {
    const docs = await this.deps.readStore
      .collection<WebhookDoc>(WEBHOOKS)
      .find({ ownerId: userId }, { sort: { createdAt: 1 }, limit: 100 });
    return docs.map(viewOf);
  }

  /** The owner's webhook; anyone else's (or none) is not found. */
  async get(userId: string, webhookId: string): Promise<WebhookView> {
    return viewOf(await this.owned(userId, webhookId));
  }

  async update(userId: string, webhookId: string, changes: WebhookChanges, metadata: CommandMetadata): Promise<WebhookView> {
    const doc = await this.owned(userId, webhookId);
    if (changes.url !== undefined) await this.checkUrl(changes.url);
    const mayWatch = doc.groupId === null || (await this.mayWatch(doc.groupId, userId));
    const stream = webhookStream(webhookId);
    const url =
      changes.url === undefined
        ? undefined
        : await sealWithKey(this.deps.keys, userDataKeyId(userId) as ShreddingKeyId, changes.url, {
            eventId: eventIdFor(metadata, stream),
            stream,
            field: 'url',
          });
    const fields = {
      ...(url !== undefined ? { url, origin: originOf(changes.url!) } : {}),
      ...(changes.events !== undefined ? { events: changes.events } : {}),
    };
    // One event per command: the URL and events first, then the enabled state on its own.
    const hasFields = Object.keys(fields).length > 0;
    if (hasFields)
      await this.run(webhookId, { type: 'UpdateWebhook', data: { webhookId, actorId: userId, ...fields, mayWatch }, metadata });
    if (changes.enabled !== undefined) {
      const enabledMetadata = hasFields ? { ...metadata, commandId: `${metadata.commandId}:enabled` } : metadata;
      const state = await this.run(webhookId, {
        type: 'UpdateWebhook',
        data: { webhookId, actorId: userId, enabled: changes.enabled, mayWatch },
        metadata: enabledMetadata,
      });
      // Re-enabled: its run of failures starts again from zero.
      if (changes.enabled && state.enabled) await this.deps.store?.resetFailures(webhookId);
    }
    return this.view(userId, webhookId);
  }

  async delete(userId: string, webhookId: string, metadata: CommandMetadata): Promise<void> {
    await this.owned(userId, webhookId);
    await this.run(webhookId, { type: 'DeleteWebhook', data: { webhookId, actorId: userId }, metadata });
    const context = secretContext(webhookId);
    await this.deps.secrets.delete(context.purpose, context.subject);
  }

  /** A new secret (shown once); the old one signs nothing from now on. */
  async rotateSecret(userId: string, webhookId: string, metadata: CommandMetadata): Promise<{ secret: string }> {
    await this.owned(userId, webhookId);
    await this.run(webhookId, { type: 'RotateWebhookSecret', data: { webhookId, actorId: userId }, metadata });
    const secret = newSecret();
    await this.putSecret(webhookId, secret);
    return { secret };
  }

  async deliveries(
    userId: string,
    webhookId: string,
    page: { before?: string | undefined; limit: number },
  ): Promise<{ deliveries: WebhookDeliveryView[]; nextBefore: string | null }> {
    await this.owned(userId, webhookId);
    if (!this.deps.store) return { deliveries: [], nextBefore: null };
    const before = page.before === undefined ? null : Number(page.before);
    const records = await this.deps.store.page(webhookId, before, page.limit + 1);
    const shown = records.slice(0, page.limit);
    return {
      deliveries: shown.map((record) => ({
        id: record.id,
        eventId: record.eventId,
        type: record.kind,
        status: record.status,
        attempts: record.attempts,
        createdAt: iso(record.createdAt)!,
        nextAttemptAt: record.status === 'pending' ? iso(record.nextAttemptAt) : null,
        lastAttemptAt: iso(record.lastAttemptAt),
        lastStatus: record.lastStatus,
        lastError: record.lastError,
        durationMs: record.durationMs,
        finishedAt: iso(record.finishedAt),
      })),
      nextBefore: records.length > page.limit ? String(shown.at(-1)!.seq) : null,
    };
  }

  /** The signing secret now (the deliveries sign with it), or null. */
  async secretOf(webhookId: string): Promise<string | null> {
    const context = secretContext(webhookId);
    const envelope = await this.deps.secrets.get(context.purpose, context.subject);
    return envelope === null ? null : this.deps.box.open(envelope, context);
  }

  /** The deliveries' own command: the receiver failed too many times in a row. */
  async disableFailing(webhookId: string, consecutiveFailures: number, now: Date): Promise<void> {
    const correlationId = `webhooks:${newId()}`;
    await this.run(webhookId, {
      type: 'DisableFailingWebhook',
      data: { webhookId, consecutiveFailures },
      metadata: { commandId: newId(), correlationId, causationId: correlationId, userId: null, now: now.toISOString() },
    });
  }

  private async putSecret(webhookId: string, secret: string): Promise<void> {
    const context = secretContext(webhookId);
    await this.deps.secrets.put(context.purpose, context.subject, this.deps.box.seal(secret, context));
  }

  private async checkUrl(url: string): Promise<void> {
    const problem = await receiverUrlProblem(url, this.deps.allowPrivate, this.deps.resolve);
    if (problem) throw new ValidationError(`url: ${problem}`, { field: 'url' });
  }

  private async mayWatch(groupId: string, userId: string): Promise<boolean> {
    return userMayWatchGroup(this.deps.readStore, groupId, userId);
  }

  private async owned(userId: string, webhookId: string): Promise<WebhookDoc> {
    const doc = await this.deps.readStore.collection<WebhookDoc>(WEBHOOKS).findOne({ _id: webhookId });
    if (!doc || doc.ownerId !== userId) throw new NotFoundError('Webhook', { webhookId });
    return doc;
  }

  /** The webhook as projected once the command's event is applied. */
  private async view(userId: string, webhookId: string): Promise<WebhookView> {
    await this.deps.projections.waitFor(this.deps.commands.acknowledgedPosition);
    return this.get(userId, webhookId);
  }

  private async run(webhookId: string, command: WebhookCommand) {
    return (
      await this.deps.commands.handle<WebhookCommand, WebhookEvent, typeof webhookDecider.initialState>(
        webhookDecider,
        webhookStream(webhookId),
        command,
      )
    ).state;
  }
}

const viewOf = (doc: WebhookDoc): WebhookView => ({
  id: doc._id,
  scope: doc.groupId === null ? { kind: 'direct' } : { kind: 'group', groupId: doc.groupId },
  url: doc.url,
  origin: doc.origin,
  events: doc.events,
  enabled: doc.enabled,
  disabledReason: doc.disabledReason,
  createdAt: doc.createdAt,
  updatedAt: doc.updatedAt,
});
