import type { Logger } from 'pino';
import type { EventUpcaster } from '../../commands/shared/upcasting.ts';
import { WEBHOOKS, type WebhookDoc } from '../../projections/webhooks.ts';
import type { EventStore, RecordedEvent } from '../eventstore/port.ts';
import { LeasedLogConsumer } from '../projection/leasedLogConsumer.ts';
import { revealEvent } from '../privacy/sealing.ts';
import type { ShreddingKeys } from '../privacy/shreddingKeys.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import { userMayWatchGroup } from './mayWatchGroup.ts';
import type { AttemptOutcome, DueDelivery, PlannedDelivery, WebhookDeliveryStore } from './webhookDeliveryStore.ts';
import { WEBHOOK_SOURCE_TYPES, type WebhookPlanner } from './webhookPlanner.ts';
import type { WebhookAnswer, WebhookSender } from './webhookSender.ts';
import type { WebhookSettings } from './webhookSettings.ts';

export interface WebhookDeliveryDeps {
  eventStore: EventStore;
  readStore: ReadStore;
  projections: Projections;
  upcaster: EventUpcaster;
  keys: Pick<ShreddingKeys, 'get'>;
  planner: WebhookPlanner;
  sender: WebhookSender;
  store: WebhookDeliveryStore;
  /** The webhook's signing secret now, or null when it has none (deleted). */
  secretOf: (webhookId: string) => Promise<string | null>;
  /** Appends WebhookDisabled (reason `failures`). */
  disable: (webhookId: string, consecutiveFailures: number) => Promise<void>;
  settings: WebhookSettings;
  clock: () => Date;
  logger: Logger;
  owner: string;
  /** Jitter's randomness (tests fix it). */
  random?: () => number;
}

/**
 * Outgoing webhooks' deliveries, in two parts off the request path.
 *
 * The planner is a checkpointed consumer of the event log: each event's deliveries (one per webhook that hears it, its
 * id derived from the webhook and the event) are inserted into the delivery store in the same transaction that moves
 * the checkpoint past the event, so a restart neither loses an event nor plans it twice.
 *
 * The sender takes due deliveries from the store: at most one attempt per webhook at a time and `concurrency` in all,
 * so a receiver that hangs holds one slot for at most the request timeout and never the others' turns. A failed
 * attempt is retried with exponential backoff and jitter until `retryWindowMs` after the event; `failureThreshold`
 * failures in a row disable the webhook. With several instances on PostgreSQL only the lease holder does either.
 */
export class WebhookDeliveries {
  private readonly consumer: LeasedLogConsumer;
  private stopped = false;
  private pollTimer: NodeJS.Timeout | null = null;
  /** Webhook id → its attempt in flight. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private pumping = false;
  private pumpAgain = false;
  private readonly attemptListeners: Array<(delivery: DueDelivery, outcome: AttemptOutcome) => void> = [];

  constructor(private readonly deps: WebhookDeliveryDeps) {
    this.consumer = new LeasedLogConsumer({
      name: 'webhook planning',
      eventStore: deps.eventStore,
      logger: deps.logger,
      owner: deps.owner,
      hold: (owner, ttlMs) => deps.store.hold(owner, ttlMs),
      load: () => deps.store.load(),
      initialize: async (head) => {
        await deps.store.enqueue([], head, deps.owner, deps.settings.maxPending);
      },
      held: () => this.wake(),
      onBatch: (events) => this.onBatch(events),
    });
  }

  /** Told of each attempt's outcome (tests wait on it). */
  onAttempt(listener: (delivery: DueDelivery, outcome: AttemptOutcome) => void): void {
    this.attemptListeners.push(listener);
  }

  async start(): Promise<void> {
    await this.consumer.start();
    this.pollTimer = setInterval(() => this.wake(), this.deps.settings.pollIntervalMs);
    this.pollTimer.unref();
  }

  private async onBatch(events: readonly RecordedEvent[]): Promise<void> {
    const last = events.at(-1);
    if (!last || this.stopped) return;
    let relevant = events.filter((event) => WEBHOOK_SOURCE_TYPES.has(event.type));
    // Webhooks, groups and roles as of the events: after the projections applied them.
    if (relevant.length > 0) await this.deps.projections.waitFor(last.position, 60_000);
    // While no webhook exists at all (most servers, most of the time), a batch costs one read.
    if (relevant.length > 0 && !(await this.deps.planner.anyWebhooks())) relevant = [];
    const planned: PlannedDelivery[] = [];
    const createdAt = this.deps.clock().getTime();
    for (const recorded of relevant) {
      const upcast = this.deps.upcaster.upcast(recorded);
      const listeners = await this.deps.planner.listeners(upcast);
      if (listeners.length === 0) continue;
      const event = await revealEvent(upcast, this.deps.keys);
      for (const delivery of this.deps.planner.deliveries(event, listeners))
        planned.push({
          id: delivery.deliveryId,
          webhookId: delivery.webhook._id,
          eventId: event.metadata.eventId,
          position: event.position,
          kind: delivery.kind,
          payload: delivery.body,
          createdAt,
        });
    }
    if (this.stopped) return;
    const saved = await this.deps.store.enqueue(planned, last.position, this.deps.owner, this.deps.settings.maxPending);
    // A lost lease: the subscription throws, the next holder plans these events from the checkpoint.
    if (!saved) throw new Error('webhook lease lost while planning');
    if (planned.length > 0) this.wake();
  }

  /** Looks for due deliveries now (after planning, after an attempt, on the poll). */
  wake(): void {
    if (this.stopped || !this.consumer.holding) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void this.pump()
      .catch((error: unknown) => this.deps.logger.error({ err: error }, 'webhook deliveries failed to start attempts'))
      .finally(() => {
        this.pumping = false;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.wake();
        }
      });
  }

  private async pump(): Promise<void> {
    const free = this.deps.settings.concurrency - this.inFlight.size;
    if (free <= 0 || this.stopped) return;
    const now = this.deps.clock().getTime();
    // Claimed for longer than an attempt can take: no other claimer takes it meanwhile.
    const claimMs = this.deps.settings.requestTimeoutMs + 30_000;
    const due = await this.deps.store.claimDue(now, free, [...this.inFlight.keys()], claimMs);
    for (const delivery of due) {
      if (this.stopped) {
        await this.deps.store.release(delivery.id);
        continue;
      }
      const attempt = this.attempt(delivery)
        .catch((error: unknown) => this.deps.logger.error({ err: error, deliveryId: delivery.id }, 'webhook attempt failed'))
        .finally(() => {
          this.inFlight.delete(delivery.webhookId);
          this.wake();
        });
      this.inFlight.set(delivery.webhookId, attempt);
    }
  }

  private async attempt(delivery: DueDelivery): Promise<void> {
    const { settings } = this.deps;
    const webhook = await this.deps.readStore.collection<WebhookDoc>(WEBHOOKS).findOne({ _id: delivery.webhookId });
    const stopReason = await this.whyNot(webhook);
    const at = () => this.deps.clock().getTime();
    if (stopReason) return this.finish(delivery, { ...ended('cancelled', delivery.attempts, at()), lastError: stopReason });
    const secret = await this.deps.secretOf(delivery.webhookId);
    if (secret === null)
      return this.finish(delivery, { ...ended('cancelled', delivery.attempts, at()), lastError: 'the webhook has no secret' });
    const answer: WebhookAnswer = await this.deps.sender.send(
      { url: webhook!.url, body: delivery.payload, secret, deliveryId: delivery.id, kind: delivery.kind, webhookId: delivery.webhookId },
      this.abort.signal,
    );
    const attempts = delivery.attempts + 1;
    if (answer.aborted) {
      // Cut off by a stop before an answer: the attempt does not count; the next start (or holder) makes it again, under the same id.
      await this.deps.store.release(delivery.id);
      return;
    }
    const now = at();
    const base = { attempts, at: now, lastStatus: answer.status > 0 ? answer.status : null, durationMs: answer.durationMs };
    if (answer.status >= 200 && answer.status < 300) {
      await this.deps.store.resetFailures(delivery.webhookId);
      return this.finish(delivery, { ...base, status: 'delivered', nextAttemptAt: null, lastError: null });
    }
    const lastError = answer.error ?? `answered ${answer.status}`;
    const failures = await this.deps.store.failed(delivery.webhookId);
    if (failures >= settings.failureThreshold) {
      await this.deps.disable(delivery.webhookId, failures);
      return this.finish(delivery, {
        ...base,
        status: 'failed',
        nextAttemptAt: null,
        lastError: `${lastError}; webhook disabled after ${failures} failures`,
      });
    }
    const delay = this.backoff(attempts, answer.retryAfterMs);
    if (now + delay > delivery.createdAt + settings.retryWindowMs)
      return this.finish(delivery, { ...base, status: 'failed', nextAttemptAt: null, lastError: `${lastError}; given up` });
    return this.finish(delivery, { ...base, status: 'pending', nextAttemptAt: now + delay, lastError });
  }

  /** Why the webhook no longer hears anything, or null when it does. */
  private async whyNot(webhook: WebhookDoc | null): Promise<string | null> {
    if (!webhook) return 'the webhook was deleted';
    if (!webhook.enabled) return 'the webhook is disabled';
    if (webhook.groupId !== null) {
      if (!(await userMayWatchGroup(this.deps.readStore, webhook.groupId, webhook.ownerId)))
        return "the webhook's owner may no longer watch the group";
    }
    return null;
  }

  /** Exponential from retryBaseMs, at most maxRetryDelayMs, with jitter (half fixed, half random); a Retry-After is a floor. */
  private backoff(attempts: number, retryAfterMs: number | null): number {
    const { retryBaseMs, maxRetryDelayMs } = this.deps.settings;
    const exponential = Math.min(maxRetryDelayMs, retryBaseMs * 2 ** Math.min(attempts - 1, 30));
    const jittered = exponential / 2 + (this.deps.random ?? Math.random)() * (exponential / 2);
    return Math.round(Math.min(maxRetryDelayMs, Math.max(jittered, retryAfterMs ?? 0)));
  }

  private async finish(delivery: DueDelivery, outcome: AttemptOutcome): Promise<void> {
    await this.deps.store.record(delivery.id, outcome, this.deps.settings.keepDeliveries);
    for (const listener of this.attemptListeners) listener(delivery, outcome);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    // Attempts in flight get a moment to hear their answer (one cut off is made again after the restart, same id).
    const grace = new Promise<void>((resolve) => setTimeout(resolve, Math.min(2_000, this.deps.settings.requestTimeoutMs)).unref());
    await Promise.race([Promise.allSettled([...this.inFlight.values()]), grace]);
    this.abort.abort();
    await this.consumer.stop();
    await Promise.allSettled([...this.inFlight.values()]);
  }
}

const ended = (status: 'cancelled', attempts: number, at: number): AttemptOutcome => ({
  status,
  attempts,
  at,
  nextAttemptAt: null,
  lastStatus: null,
  lastError: null,
  durationMs: null,
});
