import type { Logger } from 'pino';
import type { EventUpcaster } from '../../commands/shared/upcasting.ts';
import { UnavailableError } from '../../commands/shared/errors.ts';
import type { EventStore, RecordedEvent, Subscription } from '../eventstore/port.ts';
import type { Doc, ReadStore } from '../readstore/port.ts';
import { applyInOrder } from './applyInOrder.ts';
import { createProjectionContext } from './context.ts';
import type { Projector, Publication } from './projector.ts';

export const CHECKPOINTS = '_checkpoints';

interface Checkpoint extends Doc {
  position: number;
}

interface Waiter {
  position: number;
  resolve: () => void;
}

export interface ProjectionStatus {
  projector: string;
  position: number;
}

class CheckpointsRewound extends Error {}

/**
 * Runs every projector from one subscription. Each projector keeps its own checkpoint; a batch of events is
 * applied to all projectors, with their checkpoints, in one read-store transaction. Events at or below a
 * projector's stored checkpoint are skipped, so a restart or a concurrent rebuild never applies one twice.
 */
export class ProjectionRunner {
  private readonly positions = new Map<string, number>();
  private subscription: Subscription | null = null;
  private waiters: Waiter[] = [];
  private readonly publicationListeners = new Set<(publications: readonly Publication[]) => void>();
  private stopped = false;

  constructor(
    private readonly eventStore: EventStore,
    private readonly readStore: ReadStore,
    readonly projectors: readonly Projector[],
    private readonly upcaster: EventUpcaster,
    private readonly logger: Logger,
    /** How long a burst of commits may gather before it is projected as one batch. */
    private readonly coalesceMs = 0,
  ) {}

  async start(): Promise<void> {
    for (const projector of this.projectors) {
      for (const [collection, indexes] of Object.entries(projector.collections)) {
        await this.readStore.ensureIndexes(collection, indexes);
      }
      this.positions.set(projector.name, await this.readCheckpoint(projector.name));
    }
    this.subscribe();
  }

  private async readCheckpoint(name: string): Promise<number> {
    const doc = await this.readStore.collection<Checkpoint>(CHECKPOINTS).findOne({ _id: name });
    return doc?.position ?? 0;
  }

  private subscribe(): void {
    const subscription = this.eventStore.subscribeToAll({ after: this.position, coalesceMs: this.coalesceMs }, (events) => this.applyBatch(events));
    this.subscription = subscription;
    subscription.done.catch(async (error: unknown) => {
      if (this.stopped) return;
      if (error instanceof CheckpointsRewound) {
        this.logger.info('projection checkpoints were reset (a rebuild swapped collections); resubscribing');
        for (const projector of this.projectors) this.positions.set(projector.name, await this.readCheckpoint(projector.name));
        this.subscribe();
        return;
      }
      // A failing event must never be skipped silently: log it and retry from the checkpoints.
      this.logger.error({ err: error }, 'projection failed; retrying from the checkpoints');
      setTimeout(() => {
        if (!this.stopped) this.subscribe();
      }, 1_000).unref();
    });
  }

  private async applyBatch(events: readonly RecordedEvent[]): Promise<void> {
    const last = events[events.length - 1]!.position;
    const checkpoints = this.readStore.collection<Checkpoint>(CHECKPOINTS);
    const published: Publication[] = [];
    const context = createProjectionContext(this.readStore, undefined, (publication) => published.push(publication));
    const reached = await this.readStore.withTransaction(async () => {
      const stored = new Map<string, number>();
      for (const projector of this.projectors) {
        const checkpoint = await this.readCheckpoint(projector.name);
        // Behind what we applied: a rebuild swapped in collections built up to an earlier position.
        if (checkpoint < (this.positions.get(projector.name) ?? 0)) throw new CheckpointsRewound();
        stored.set(projector.name, checkpoint);
      }
      await applyInOrder(events, this.projectors, context, this.upcaster, (projector) => stored.get(projector.name)!);
      const reached = new Map<string, number>();
      for (const projector of this.projectors) {
        const checkpoint = stored.get(projector.name)!;
        if (last > checkpoint) {
          await checkpoints.replaceOne({ _id: projector.name }, { _id: projector.name, position: last }, { upsert: true });
        }
        reached.set(projector.name, Math.max(last, checkpoint));
      }
      return reached;
    });
    for (const [name, position] of reached) this.positions.set(name, position);
    // Live updates go out only once the batch is committed, so a pushed change is always readable.
    for (const listener of this.publicationListeners) listener(published);
    this.releaseWaiters();
  }
  /** Receives, after each committed batch, what projectors published for live delivery. */
  onPublished(listener: (publications: readonly Publication[]) => void): () => void {
    this.publicationListeners.add(listener);
    return () => this.publicationListeners.delete(listener);
  }

  /** The position every projector has reached. */
  get position(): number {
    let lowest = Number.POSITIVE_INFINITY;
    for (const position of this.positions.values()) lowest = Math.min(lowest, position);
    return Number.isFinite(lowest) ? lowest : 0;
  }

  /** Resolves once every projector has applied the event at `position`, so a read after a write sees it. */
  waitFor(position: number, timeoutMs = 10_000): Promise<void> {
    if (this.position >= position) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== entry);
        reject(new UnavailableError('Projections are lagging; the write is stored and will appear shortly', { position }));
      }, timeoutMs);
      const entry: Waiter = { position, resolve: () => { clearTimeout(timer); resolve(); } };
      this.waiters.push(entry);
    });
  }

  private releaseWaiters(): void {
    if (this.waiters.length === 0) return;
    const reached = this.position;
    const pending: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.position <= reached) waiter.resolve();
      else pending.push(waiter);
    }
    this.waiters = pending;
  }

  headPosition(): Promise<number> {
    return this.eventStore.headPosition();
  }

  async status(): Promise<{ head: number; projectors: ProjectionStatus[]; lag: number }> {
    const head = await this.eventStore.headPosition();
    const projectors = this.projectors.map((projector) => ({
      projector: projector.name,
      position: this.positions.get(projector.name) ?? 0,
    }));
    return { head, projectors, lag: Math.max(0, head - this.position) };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.subscription?.stop();
    this.subscription = null;
  }
}
