import type { Logger } from 'pino';
import type { EventUpcaster } from '../../commands/shared/upcasting.ts';
import { PUSH_SUBSCRIPTIONS, type PushSubscriptionDoc } from '../../projections/push.ts';
import type { EventStore, RecordedEvent } from '../eventstore/port.ts';
import { LeasedLogConsumer } from '../projection/leasedLogConsumer.ts';
import { revealEvent } from '../privacy/sealing.ts';
import type { ShreddingKeys } from '../privacy/shreddingKeys.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { PushCheckpoints } from './pushCheckpoints.ts';
import type { PlannedPush, PushPlanner } from './pushNotifications.ts';
import type { PushAnswer, PushSender } from './pushSender.ts';
import type { PushService } from './pushService.ts';
import type { PushSettings } from './pushSettings.ts';

/** The event types that can cause a push (everything else only moves the checkpoint). */
const PUSHED_TYPES = new Set(['MessageSent', 'CallInitiated', 'CallEnded']);

export interface PushDeliveryDeps {
  eventStore: EventStore;
  readStore: ReadStore;
  projections: Projections;
  upcaster: EventUpcaster;
  keys: Pick<ShreddingKeys, 'get'>;
  planner: PushPlanner;
  sender: PushSender;
  service: Pick<PushService, 'expire'>;
  checkpoints: PushCheckpoints;
  /** Whether the user has a live socket anywhere now: then the socket tells them, and no push goes. */
  isOnline: (userId: string) => Promise<boolean>;
  settings: Pick<PushSettings, 'concurrency' | 'maxAttempts' | 'retryBaseMs' | 'maxRetryDelayMs'>;
  clock: () => Date;
  logger: Logger;
  owner: string;
}

/** What became of one delivery (tests and metrics). */
export type DeliveryOutcome = 'delivered' | 'expired' | 'refused' | 'failed' | 'aborted';

/**
 * The push deliveries: a checkpointed consumer of the event log, off the request path. Events are planned in order
 * (after the projections applied them, so subscriptions, members and settings are as of the event); the requests
 * run with bounded concurrency; the checkpoint only passes an event once all its deliveries ended (sent, gone, or
 * given up after retries), so a restart resends what was in flight rather than losing it.
 */
export class PushDeliveries {
  private readonly consumer: LeasedLogConsumer;
  /** Event position → deliveries of it still running. */
  private readonly pending = new Map<number, number>();
  private planned = 0;
  private saved = 0;
  private running = 0;
  private readonly slotWaiters: Array<() => void> = [];
  private readonly abort = new AbortController();
  private readonly jobs = new Set<Promise<void>>();
  private saving: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly outcomeListeners: Array<(outcome: DeliveryOutcome, push: PlannedPush) => void> = [];

  constructor(private readonly deps: PushDeliveryDeps) {
    this.consumer = new LeasedLogConsumer({
      name: 'push deliveries',
      eventStore: deps.eventStore,
      logger: deps.logger,
      owner: deps.owner,
      hold: (owner, ttlMs) => deps.checkpoints.hold(owner, ttlMs),
      load: () => deps.checkpoints.load(),
      initialize: async (head) => {
        await deps.checkpoints.save(head, deps.owner);
      },
      begin: (checkpoint) => {
        this.planned = checkpoint;
        this.saved = checkpoint;
      },
      onBatch: (events) => this.onBatch(events),
    });
  }

  /** The position of the last event whose pushes were decided here (sent off or skipped); 0 before this instance began. */
  decidedThrough(): number {
    return this.planned;
  }

  onOutcome(listener: (outcome: DeliveryOutcome, push: PlannedPush) => void): void {
    this.outcomeListeners.push(listener);
  }

  /** Starts consuming when this instance holds the lease (at once on one server), checking again every few seconds. */
  start(): Promise<void> {
    return this.consumer.start();
  }

  private async onBatch(events: readonly RecordedEvent[]): Promise<void> {
    const last = events.at(-1);
    if (!last || this.stopped) return;
    const pushable = events.some((event) => PUSHED_TYPES.has(event.type));
    if (pushable) await this.deps.projections.waitFor(last.position, 60_000);
    // While nobody has a push subscription (as of these events), a batch costs one read.
    const pushing = pushable && (await this.deps.readStore.collection<PushSubscriptionDoc>(PUSH_SUBSCRIPTIONS).findOne({})) !== null;
    for (const event of events) {
      if (this.stopped) return;
      if (pushing && PUSHED_TYPES.has(event.type)) await this.dispatch(event);
      this.planned = event.position;
    }
    this.saveSoon();
  }

  private async dispatch(recorded: RecordedEvent): Promise<void> {
    const upcast = this.deps.upcaster.upcast(recorded);
    const subscriptions = this.deps.readStore.collection<PushSubscriptionDoc>(PUSH_SUBSCRIPTIONS);
    // Most events reach nobody with a push subscription: one indexed read then, no opening and no planning.
    const audience = await this.deps.planner.audience(upcast);
    if (audience?.length === 0) return;
    if (audience && (await subscriptions.find({ userId: { $in: audience } }, { limit: 1 })).length === 0) return;
    const event = await revealEvent(upcast, this.deps.keys);
    const planned = await this.deps.planner.plan(event, this.deps.clock(), audience);
    for (const push of planned) {
      const devices = await subscriptions.find({ userId: push.userId }, { limit: 20 });
      if (devices.length === 0 || (await this.deps.isOnline(push.userId))) continue;
      for (const device of devices) {
        await this.slot();
        if (this.stopped) return;
        this.track(event.position, +1);
        const job = this.deliver(push, device).then(
          (outcome) => {
            if (outcome !== 'aborted') this.track(event.position, -1);
            for (const listener of this.outcomeListeners) listener(outcome, push);
          },
          (error: unknown) => {
            this.deps.logger.error({ err: error }, 'push delivery failed');
            this.track(event.position, -1);
          },
        );
        const owned = job.finally(() => {
          this.jobs.delete(owned);
          this.running--;
          this.slotWaiters.shift()?.();
          this.saveSoon();
        });
        this.jobs.add(owned);
      }
    }
  }

  private async deliver(push: PlannedPush, device: PushSubscriptionDoc): Promise<DeliveryOutcome> {
    const { maxAttempts, retryBaseMs, maxRetryDelayMs } = this.deps.settings;
    const payload = JSON.stringify(push.payload);
    for (let attempt = 1; ; attempt++) {
      if (this.abort.signal.aborted) return 'aborted';
      let answer: PushAnswer;
      try {
        answer = await this.deps.sender.send(device, payload, push.options);
      } catch (error) {
        this.deps.logger.warn({ err: error, origin: device.origin }, 'push refused before sending');
        return 'refused';
      }
      if (answer.status >= 200 && answer.status < 300) return 'delivered';
      if (answer.status === 404 || answer.status === 410) {
        await this.deps.service.expire(device.userId, device._id, this.deps.clock());
        return 'expired';
      }
      if (answer.status === -1) return 'refused';
      const retryable = answer.status === 0 || answer.status === 429 || answer.status >= 500;
      if (!retryable || attempt >= maxAttempts) {
        this.deps.logger.warn({ status: answer.status, attempt, origin: device.origin }, 'push given up');
        return 'failed';
      }
      const delay = Math.min(maxRetryDelayMs, answer.retryAfterMs ?? retryBaseMs * 2 ** (attempt - 1));
      if (!(await this.sleep(delay))) return 'aborted';
    }
  }

  /** Resolves true after `ms`, or false at once when stopping. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.abort.signal.aborted) return resolve(false);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.abort.signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private slot(): Promise<void> {
    if (this.running < this.deps.settings.concurrency) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.slotWaiters.push(() => {
        this.running++;
        resolve();
      }),
    );
  }

  private track(position: number, change: 1 | -1): void {
    const left = (this.pending.get(position) ?? 0) + change;
    if (left > 0) this.pending.set(position, left);
    else this.pending.delete(position);
  }

  /** Every event at or before this has all its deliveries ended. */
  private get checkpoint(): number {
    let lowest = Infinity;
    for (const position of this.pending.keys()) lowest = Math.min(lowest, position);
    return lowest === Infinity ? this.planned : Math.min(this.planned, lowest - 1);
  }

  private saveSoon(): void {
    this.saving = this.saving
      .then(async () => {
        const position = this.checkpoint;
        if (position <= this.saved) return;
        if (await this.deps.checkpoints.save(position, this.deps.owner)) this.saved = position;
      })
      .catch((error: unknown) => this.deps.logger.error({ err: error }, 'push checkpoint not saved'));
  }

  /** Saved up to (tests wait for it). */
  get savedPosition(): number {
    return this.saved;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    for (const wake of this.slotWaiters.splice(0)) wake();
    await this.consumer.stop();
    await Promise.allSettled([...this.jobs]);
    this.saveSoon();
    await this.saving;
  }
}
