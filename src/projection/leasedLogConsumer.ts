import type { Logger } from 'pino';
import type { BatchHandler, EventStore, Subscription } from '../eventstore/port.ts';

/** How long a consumer's lease lasts unless renewed; it is renewed every RENEW_EVERY_MS. */
export const CONSUMER_LEASE_TTL_MS = 10_000;
const RENEW_EVERY_MS = 3_000;

export interface LeasedLogConsumerDeps {
  /** Names the consumer in logs ("push deliveries"). */
  name: string;
  eventStore: EventStore;
  logger: Logger;
  owner: string;
  /** Takes or renews the consumer's lease for `owner`; false while another instance holds it. */
  hold: (owner: string, ttlMs: number) => Promise<boolean>;
  /** The position the consumer has passed, or null before its first start. */
  load: () => Promise<number | null>;
  /** Records the first start's checkpoint (the head then: history is not consumed, only what comes from now on). */
  initialize: (head: number) => Promise<void>;
  /** Called with the checkpoint each time consuming begins (at the first hold, and after a lost lease or a failure). */
  begin?: (checkpoint: number) => void;
  /** Called at each pass that holds the lease. */
  held?: () => void;
  onBatch: BatchHandler;
}

/**
 * A checkpointed consumer of the event log that runs on one instance at a time: every few seconds it takes or renews
 * its lease; while holding it, it is subscribed from its checkpoint; when the lease is lost it stops (another instance
 * resumes from the checkpoint), and when its subscription fails it resubscribes at the next pass.
 */
export class LeasedLogConsumer {
  private subscription: Subscription | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Whether the last pass held the lease. */
  holding = false;

  constructor(private readonly deps: LeasedLogConsumerDeps) {}

  async start(): Promise<void> {
    await this.pass();
    this.timer = setInterval(
      () => void this.pass().catch((error: unknown) => this.deps.logger.error({ err: error }, `${this.deps.name}: lease failed`)),
      RENEW_EVERY_MS,
    );
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    this.holding = await this.deps.hold(this.deps.owner, CONSUMER_LEASE_TTL_MS);
    if (!this.holding) {
      if (this.subscription) await this.pause('lease lost');
      return;
    }
    this.deps.held?.();
    if (this.subscription) return;
    let checkpoint = await this.deps.load();
    if (checkpoint === null) {
      checkpoint = await this.deps.eventStore.headPosition();
      await this.deps.initialize(checkpoint);
    }
    this.deps.begin?.(checkpoint);
    const subscription = this.deps.eventStore.subscribeToAll({ after: checkpoint, batchSize: 100 }, this.deps.onBatch);
    this.subscription = subscription;
    subscription.done.catch((error: unknown) => {
      if (this.stopped) return;
      this.deps.logger.error({ err: error }, `${this.deps.name} stopped: resuming from the checkpoint`);
      if (this.subscription === subscription) this.subscription = null;
    });
  }

  private async pause(reason: string): Promise<void> {
    this.deps.logger.warn({ reason }, `${this.deps.name} paused`);
    const subscription = this.subscription;
    this.subscription = null;
    await subscription?.stop();
  }

  /** No more passes; the subscription stops after the batch it is handling. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.subscription?.stop().catch(() => undefined);
    this.subscription = null;
  }
}
