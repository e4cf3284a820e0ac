import type { Logger } from 'pino';
import type { EventUpcaster } from '../../commands/shared/upcasting.ts';
import type { EventStore, RecordedEvent, Subscription } from '../eventstore/port.ts';
import { isDuplicateId, type Doc, type ReadStore, type ReadStoreTransaction } from '../readstore/port.ts';
import { MAX_TIMER_MS } from '../timers.ts';
import { applyInOrder, ProjectorFailed } from './applyInOrder.ts';
import { createProjectionContext } from './context.ts';
import { LeaseLost, ProjectionLease } from './lease.ts';
import { CHECKPOINTS, type Projector, type Publication } from './projector.ts';
import { DEFAULT_WAIT_TIMEOUT_MS, PositionWaiters } from './positionWaiters.ts';
import { admitWithin, reachedPosition, type Projections, type ProjectionsStatus } from './projections.ts';
import { rebuildProjections } from './rebuild.ts';
import { checkReadOrder, readersOf } from './dependencies.ts';
import { loadSkips, notSkipped } from './skips.ts';
import { isMainThread } from 'node:worker_threads';
import { batchTraceOf, epochMs, type BatchTrace } from '../tracing/batchTrace.ts';

export { CHECKPOINTS } from './projector.ts';

/** The read-store notice the projecting instance sends with each batch it commits (its last position). */
const PROJECTED_NOTICE = 'projected';

interface Checkpoint extends Doc {
  position: number;
  /** The projector version that wrote the collections (1 when absent). */
  version?: number;
}

export interface ProjectionStatus {
  projector: string;
  position: number;
}

/** A projector held at an event it could not apply (or waiting for one it reads from); shown on /ping. */
export interface ProjectionStall {
  projector: string;
  /** The event it is held at: nothing at or after it is applied until it succeeds or is skipped. */
  position: number;
  eventId: string;
  eventType: string;
  error: string;
  since: string;
  attempts: number;
  nextRetryAt: string | null;
}

/** What a committed batch carried, for live reactions (delivery, token revocation). */
export interface CommittedBatch {
  readonly events: readonly RecordedEvent[];
  readonly publications: readonly Publication[];
  /** The batch's timing and the trace contexts of its traced events (absent when none was traced). */
  readonly trace?: BatchTrace | undefined;
  /** How long the batch took to apply and commit, and each projector's share of the applying (metrics). */
  readonly timing?: BatchTiming;
}

export interface BatchTiming {
  seconds: number;
  byProjector: ReadonlyArray<readonly [string, number]>;
}

export interface ProjectionRunnerOptions {
  /** First retry of a held projector after this long, doubling up to `maxRetryMs`. */
  retryBaseMs?: number;
  maxRetryMs?: number;
  /**
   * Project only while holding the lease in the read store (several instances on one MongoDB). Instances
   * without it follow the checkpoints instead, so their read-your-writes waits still work.
   */
  exclusive?: { ttlMs: number; owner?: string } | null;
  /** Events applied per transaction while a held projector catches up. */
  catchUpPageSize?: number;
  /** How long a read-your-writes wait lasts before the write is answered 503 (stored, not yet readable). */
  waitTimeoutMs?: number;
  /**
   * At start, checkpoints beyond the log's head (a log restored from a backup, the read store kept) rebuild every
   * collection from the log, instead of refusing to start (the operator's `--rebuild-projections`).
   */
  rebuildBeyondHead?: boolean;
}

/** What the start found and did about checkpoints beyond the log's head; shown on /ping. */
export interface RebuiltAtStart {
  reason: 'checkpoints_beyond_head';
  /** The log's head at start. */
  head: number;
  /** The checkpoints that were beyond it. */
  checkpoints: ProjectionStatus[];
  at: string;
}

/**
 * Checkpoints beyond the log's head: the log is shorter than what the read store was built from. Events appended now
 * would get positions the projectors have passed, and acknowledged writes would never be shown.
 */
export class CheckpointsBeyondHead extends Error {
  constructor(
    readonly head: number,
    readonly checkpoints: readonly ProjectionStatus[],
  ) {
    super(
      `Projection checkpoints beyond the event log's head (position ${head}): ` +
        `${checkpoints.map((checkpoint) => `${checkpoint.projector} at ${checkpoint.position}`).join(', ')}. The log is shorter than what the ` +
        'read store was built from (restored from a backup?): new events would get positions the projectors have passed and never be shown. ' +
        'Restore the read store that matches this log, or start with --rebuild-projections to rebuild every collection from this log.',
    );
    this.name = 'CheckpointsBeyondHead';
  }
}

export interface ProjectionProgress {
  positions: Array<[string, number]>;
  held: string[];
  mainPosition: number;
}

class CheckpointsRewound extends Error {}

/** Where a read or write of checkpoints goes: the store, or a batch's transaction. */
type Scope = Pick<ReadStore | ReadStoreTransaction, 'collection'>;

/**
 * Runs every projector from one subscription. Each projector keeps its own checkpoint; a batch of events is
 * applied to all projectors, with their checkpoints, in one read-store transaction. Events at or below a
 * projector's stored checkpoint are skipped, so a restart or a concurrent rebuild never applies one twice.
 *
 * A projector that throws on an event is held there (with every projector that reads its collections), the
 * batch is applied again without them, and the others go on; the held ones are retried with backoff and catch
 * up on their own, or pass over the event once an operator records a skip (`npm run skip-event`).
 */
export class ProjectionRunner implements Projections {
  private readonly positions = new Map<string, number>();
  private readonly stalls = new Map<string, ProjectionStall>();
  /** For each held projector, the one whose failure holds it (itself, or one it reads from): retried together. */
  private readonly heldBy = new Map<string, string>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private subscription: Subscription | null = null;
  private readonly waiters = new PositionWaiters(() => this.position);
  private readonly batchListeners = new Set<(batch: CommittedBatch) => void>();
  private readonly progressListeners = new Set<() => void>();
  private stopNotices: (() => void) | null = null;
  /** A follower's refresh of the checkpoints: one at a time, and one more when a notice came meanwhile. */
  private following: Promise<void> | null = null;
  private followAgain = false;
  private stopped = false;
  /** Position of the last batch the subscription committed: held projectors catch up to it. */
  private mainPosition = 0;
  private subscriptionFailures = 0;
  private resubscribeTimer: NodeJS.Timeout | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  private readonly lease: ProjectionLease | null;
  private readonly leaseTtlMs: number;
  private leader = true;
  /** Taking over as the projecting instance (rebuilding what another version wrote first): one at a time. */
  private takingOver: Promise<void> | null = null;
  private readonly options: Required<Omit<ProjectionRunnerOptions, 'exclusive'>>;
  private rebuiltAtStart: RebuiltAtStart | null = null;

  constructor(
    private readonly eventStore: EventStore,
    private readonly readStore: ReadStore,
    readonly projectors: readonly Projector[],
    private readonly upcaster: EventUpcaster,
    private readonly logger: Logger,
    options: ProjectionRunnerOptions = {},
  ) {
    this.options = {
      retryBaseMs: options.retryBaseMs ?? 1_000,
      maxRetryMs: options.maxRetryMs ?? 60_000,
      catchUpPageSize: options.catchUpPageSize ?? 500,
      waitTimeoutMs: options.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS,
      rebuildBeyondHead: options.rebuildBeyondHead ?? false,
    };
    this.leaseTtlMs = options.exclusive?.ttlMs ?? 0;
    this.lease = options.exclusive ? new ProjectionLease(readStore, this.leaseTtlMs, Date.now, options.exclusive.owner) : null;
    this.leader = this.lease === null;
    // Followers learn of another instance's batches at once (read-your-writes, live pushes), not at the next lease check.
    if (this.lease) this.stopNotices = readStore.onNotice?.(PROJECTED_NOTICE, () => void this.follow()) ?? null;
    checkReadOrder(projectors);
  }

  async start(): Promise<void> {
    for (const projector of this.projectors) {
      for (const [collection, indexes] of Object.entries(projector.collections)) {
        await this.readStore.ensureIndexes(collection, indexes);
      }
    }
    // Checkpoints beyond the log's head refuse the start unless the operator asked for a rebuild (which, with a lease,
    // its holder does once it holds it, like any rebuild).
    const beyond = await this.checkpointsBeyondHead();
    if (beyond && !this.options.rebuildBeyondHead) throw new CheckpointsBeyondHead(beyond.head, beyond.checkpoints);
    // With a lease, only its holder rebuilds (a rolling deploy's new version must not drop collections the old one
    // still projects into), and only once it holds it.
    if (this.lease) return this.holdLease();
    await this.rebuildBeyondHead();
    await this.rebuildOutdated();
    await this.refreshPositions();
    this.mainPosition = this.position;
    this.subscribe();
  }

  /**
   * Each projector's checkpoint (null: none yet), in one read through `scope`: the store, or inside a batch the
   * batch's transaction.
   */
  private async readCheckpoints(names: readonly string[], scope: Scope = this.readStore): Promise<Map<string, number | null>> {
    const docs = await scope.collection<Checkpoint>(CHECKPOINTS).find({ _id: { $in: [...names] } });
    const found = new Map(docs.map((doc) => [doc._id, doc.position]));
    return new Map(names.map((name) => [name, found.get(name) ?? null]));
  }

  /** Checkpoints are positions that exist: those beyond the log's head, or null when there are none. */
  private async checkpointsBeyondHead(): Promise<{ head: number; checkpoints: ProjectionStatus[] } | null> {
    const head = await this.eventStore.headPosition();
    const checkpoints: ProjectionStatus[] = [];
    for (const [projector, position] of await this.readCheckpoints(this.projectors.map((each) => each.name))) {
      if (position !== null && position > head) checkpoints.push({ projector, position });
    }
    return checkpoints.length === 0 ? null : { head, checkpoints };
  }

  /** As the operator asked (`--rebuild-projections`): checkpoints beyond the log's head rebuild every collection from it. */
  private async rebuildBeyondHead(fence?: (tx: ReadStoreTransaction) => Promise<void>): Promise<void> {
    const beyond = await this.checkpointsBeyondHead();
    if (!beyond) return;
    this.logger.warn(
      beyond,
      "projection checkpoints beyond the event log's head: rebuilding every collection from the log (--rebuild-projections)",
    );
    const summary = await rebuildProjections({
      eventStore: this.eventStore,
      readStore: this.readStore,
      projectors: this.projectors,
      upcaster: this.upcaster,
      ...(fence ? { fence } : {}),
    });
    this.logger.info(summary, 'rebuilt every collection from the event log');
    this.rebuiltAtStart = { reason: 'checkpoints_beyond_head', ...beyond, at: new Date().toISOString() };
  }

  /** Collections written by another version of their projector are rebuilt from the log before anything is served. */
  private async rebuildOutdated(): Promise<void> {
    const checkpoints = this.readStore.collection<Checkpoint>(CHECKPOINTS);
    const outdated: Projector[] = [];
    for (const projector of this.projectors) {
      const checkpoint = await checkpoints.findOne({ _id: projector.name });
      if (checkpoint && (checkpoint.version ?? 1) !== (projector.version ?? 1)) outdated.push(projector);
    }
    if (outdated.length === 0) return;
    this.logger.warn(
      { projectors: outdated.map((projector) => projector.name) },
      'projector versions changed: rebuilding their collections from the log',
    );
    const lease = this.lease;
    const summary = await rebuildProjections({
      eventStore: this.eventStore,
      readStore: this.readStore,
      projectors: outdated,
      all: this.projectors,
      upcaster: this.upcaster,
      ...(lease ? { fence: (tx: ReadStoreTransaction) => lease.fence(tx) } : {}),
    });
    this.logger.info(summary, 'rebuilt the collections of changed projectors');
  }

  private async refreshPositions(): Promise<void> {
    for (const [name, position] of await this.readCheckpoints(this.projectors.map((projector) => projector.name))) {
      this.positions.set(name, position ?? 0);
    }
  }

  /**
   * Moves checkpoints forward (never back: an older writer cannot set one back): one write for all that reach the
   * same position, and an upsert for each that does not exist yet. A batch's cost does not grow with the projectors.
   */
  private async advanceCheckpoints(moves: ReadonlyArray<{ name: string; from: number | null; to: number }>, scope: Scope): Promise<void> {
    const existing = new Map<number, string[]>();
    for (const { name, from, to } of moves) {
      if (from !== null && to <= from) continue;
      if (from === null) await this.writeCheckpoint(name, to, scope);
      else existing.set(to, [...(existing.get(to) ?? []), name]);
    }
    for (const [to, names] of existing) {
      await scope
        .collection<Checkpoint>(CHECKPOINTS)
        .updateMany({ _id: { $in: names }, position: { $lt: to } }, { $set: { position: to } });
    }
  }

  /** A new checkpoint, or one moved forward, with its projector's version. */
  private async writeCheckpoint(name: string, position: number, scope: Scope): Promise<void> {
    try {
      const version = this.projectors.find((projector) => projector.name === name)?.version ?? 1;
      await scope
        .collection<Checkpoint>(CHECKPOINTS)
        .updateOne({ _id: name, position: { $lt: position } }, { $set: { position, version } }, { upsert: true });
    } catch (error) {
      // The upsert met a checkpoint at or past `position`: nothing to do.
      if (!isDuplicateId(error)) throw error;
    }
  }

  /**
   * With a lease: renew it every third of its lifetime (also while taking over, which may rebuild for minutes);
   * project while it is ours, follow the checkpoints (for read-your-writes) while another instance has it. Resolves
   * once the first check, and the take-over it may start, are done.
   */
  private async holdLease(): Promise<void> {
    const lease = this.lease!;
    const tick = async () => {
      if (this.stopped) return;
      try {
        const ours = await lease.tryAcquire();
        if (ours && !this.leader && !this.takingOver) {
          this.takingOver = this.takeOver().finally(() => {
            this.takingOver = null;
          });
        } else if (!ours && this.leader) {
          await this.stepDown('projection lease lost: another instance projects');
        } else if (!ours) {
          await this.follow();
        }
      } catch (error) {
        this.logger.error({ err: error }, 'projection lease check failed');
      }
      if (!this.stopped) {
        this.leaseTimer = setTimeout(() => void tick(), Math.max(50, Math.floor(this.leaseTtlMs / 3)));
        this.leaseTimer.unref();
      }
    };
    await tick();
    await this.takingOver;
  }

  /** Holding the lease: rebuild what another version wrote (fenced by the lease), then project from the checkpoints. */
  private async takeOver(): Promise<void> {
    try {
      // Holds from an earlier turn as the projecting instance are found again when their events are re-applied.
      for (const timer of this.retryTimers.values()) clearTimeout(timer);
      this.retryTimers.clear();
      this.stalls.clear();
      this.heldBy.clear();
      if (this.options.rebuildBeyondHead) {
        const lease = this.lease!;
        await this.rebuildBeyondHead((tx) => lease.fence(tx));
      }
      await this.rebuildOutdated();
      await this.refreshPositions();
      if (this.stopped) return;
      this.mainPosition = this.position;
      this.leader = true;
      this.logger.info('projection lease taken: this instance projects');
      this.subscribe();
    } catch (error) {
      // The lease was lost meanwhile (the fence refused the rebuild) or the store failed: the next check decides.
      this.logger.error({ err: error }, 'taking over projection failed; the next lease check retries');
    }
  }

  private async stepDown(reason: string): Promise<void> {
    this.leader = false;
    this.logger.warn(reason);
    const subscription = this.subscription;
    this.subscription = null;
    await subscription?.stop();
  }

  private subscribe(): void {
    if (this.stopped) return;
    const subscription = this.eventStore.subscribeToAll({ after: this.mainPosition }, (events) => this.applyBatch(events));
    this.subscription = subscription;
    subscription.done.then(
      () => undefined,
      (error: unknown) => this.subscriptionFailed(subscription, error),
    );
  }

  /** Every failure of the subscription is handled here: logged, then a resubscription with backoff. */
  private subscriptionFailed(subscription: Subscription, error: unknown): void {
    if (this.stopped || this.subscription !== subscription) return;
    this.subscription = null;
    if (error instanceof LeaseLost) {
      // Fenced out: another instance holds the lease now. The next lease check makes this one a follower.
      this.leader = false;
      this.logger.warn('projection lease taken over by another instance: this one stops projecting');
      return;
    }
    if (error instanceof CheckpointsRewound) {
      this.logger.info('projection checkpoints were reset (a rebuild swapped collections); resubscribing');
      this.subscriptionFailures = 0;
    } else {
      this.subscriptionFailures++;
      this.logger.error(
        { err: error, attempt: this.subscriptionFailures },
        'projection subscription failed; resubscribing from the checkpoints',
      );
    }
    this.scheduleResubscribe(this.subscriptionFailures === 0 ? 0 : this.backoff(this.subscriptionFailures));
  }

  private scheduleResubscribe(delayMs: number): void {
    this.resubscribeTimer = setTimeout(() => {
      this.resubscribeTimer = null;
      if (this.stopped) return;
      this.refreshPositions().then(
        () => {
          this.mainPosition = this.position;
          this.subscribe();
        },
        (error: unknown) => {
          this.subscriptionFailures++;
          this.logger.error({ err: error, attempt: this.subscriptionFailures }, 'reading the projection checkpoints failed; retrying');
          this.scheduleResubscribe(this.backoff(this.subscriptionFailures));
        },
      );
    }, delayMs);
    this.resubscribeTimer.unref();
  }

  private backoff(attempt: number): number {
    return Math.min(this.options.maxRetryMs, this.options.retryBaseMs * 2 ** Math.min(attempt - 1, 20), MAX_TIMER_MS);
  }

  private held(projector: Projector, position: number): boolean {
    const stall = this.stalls.get(projector.name);
    return stall !== undefined && position >= stall.position;
  }

  private async applyBatch(events: readonly RecordedEvent[]): Promise<void> {
    for (;;) {
      try {
        await this.commitBatch(events);
        this.subscriptionFailures = 0;
        return;
      } catch (error) {
        // The batch was rolled back: hold the failing projector (and its readers) and apply it again without them.
        if (!(error instanceof ProjectorFailed)) throw error;
        this.hold(error);
      }
    }
  }

  private async commitBatch(events: readonly RecordedEvent[]): Promise<void> {
    const last = events[events.length - 1]!.position;
    const startedAt = epochMs();
    const published: Publication[] = [];
    const started = performance.now();
    const timings = new Map<string, number>();
    const reached = await this.readStore.withTransaction(async (tx) => {
      if (this.lease) await this.lease.fence(tx);
      const context = createProjectionContext(tx, undefined, (publication) => published.push(publication));
      const found = await this.readCheckpoints(
        this.projectors.map((projector) => projector.name),
        tx,
      );
      const stored = new Map<string, number>();
      for (const [name, checkpoint] of found) {
        // Behind what we applied: a rebuild swapped in collections built up to an earlier position.
        if ((checkpoint ?? 0) < (this.positions.get(name) ?? 0)) throw new CheckpointsRewound();
        stored.set(name, checkpoint ?? 0);
      }
      await applyInOrder(
        events,
        this.projectors,
        context,
        this.upcaster,
        (projector, event) => event.position > stored.get(projector.name)! && !this.held(projector, event.position),
        timings,
      );
      const reached = new Map<string, number>();
      const moves: Array<{ name: string; from: number | null; to: number }> = [];
      for (const projector of this.projectors) {
        const stall = this.stalls.get(projector.name);
        // A held projector reaches the last event of the batch before the one it is held at: a position the log has
        // (EventStoreDB's are sparse: `position - 1` names no event, and a read from it fails).
        const target = stall ? lastBefore(events, stall.position) : last;
        const checkpoint = stored.get(projector.name)!;
        moves.push({ name: projector.name, from: found.get(projector.name)!, to: target });
        reached.set(projector.name, Math.max(target, checkpoint));
      }
      await this.advanceCheckpoints(moves, tx);
      if (this.lease) await tx.notify?.(PROJECTED_NOTICE, String(last));
      return reached;
    });
    for (const [name, position] of reached) this.positions.set(name, position);
    this.mainPosition = Math.max(this.mainPosition, last);
    // Live updates go out only once the batch is committed, so a pushed change is always readable.
    this.emit({
      events,
      publications: published,
      trace: batchTraceOf(events, startedAt, isMainThread ? 'serving' : 'worker'),
      timing: { seconds: (performance.now() - started) / 1000, byProjector: [...timings] },
    });
    this.waiters.release();
    this.progressed();
  }

  /**
   * Following the projecting instance: the checkpoints it committed become this instance's positions (its waiters are
   * released, its listeners told). Coalesced: notices arriving during a refresh cause one more, not one each.
   */
  private follow(): Promise<void> {
    if (this.leader) return Promise.resolve();
    if (this.following) {
      this.followAgain = true;
      return this.following;
    }
    this.following = (async () => {
      try {
        do {
          this.followAgain = false;
          await this.refreshPositions();
          this.mainPosition = Math.max(this.mainPosition, this.position);
          this.waiters.release();
          this.progressed();
        } while (this.followAgain && !this.stopped && !this.leader);
      } catch (error) {
        // The next notice or lease check tries again.
        this.logger.warn({ err: error }, 'reading the projection checkpoints of the projecting instance failed');
      } finally {
        this.following = null;
      }
    })();
    return this.following;
  }

  private progressed(): void {
    for (const listener of this.progressListeners) {
      try {
        listener();
      } catch (error) {
        this.logger.error({ err: error }, 'a listener of projection progress failed');
      }
    }
  }

  private emit(batch: CommittedBatch): void {
    for (const listener of this.batchListeners) {
      try {
        listener(batch);
      } catch (error) {
        this.logger.error({ err: error }, 'a listener of committed projection batches failed');
      }
    }
  }

  /** Holds the failing projector at the event, with every projector that reads what it writes. */
  private hold(failure: ProjectorFailed): void {
    const { projector: name, event } = failure;
    const since = new Date().toISOString();
    const previous = this.stalls.get(name);
    const attempts = previous?.position === event.position ? previous.attempts : 0;
    for (const held of [name, ...readersOf(name, this.projectors)]) {
      const existing = this.stalls.get(held);
      if (existing && existing.position <= event.position && held !== name) continue;
      this.stalls.set(held, {
        projector: held,
        position: event.position,
        eventId: event.metadata.eventId,
        eventType: event.type,
        error: held === name ? errorText(failure.reason) : `waits for ${name}`,
        since: existing?.since ?? since,
        attempts,
        nextRetryAt: null,
      });
      this.heldBy.set(held, name);
    }
    this.logger.error(
      { projector: name, position: event.position, eventType: event.type, err: failure.reason },
      'projector failed on an event: it is held there (with its readers) and retried; fix and rebuild, or npm run skip-event',
    );
    this.scheduleRetry(name);
  }

  private scheduleRetry(name: string): void {
    const stall = this.stalls.get(name);
    if (!stall || this.stopped) return;
    clearTimeout(this.retryTimers.get(name));
    stall.attempts++;
    const delay = this.backoff(stall.attempts);
    stall.nextRetryAt = new Date(Date.now() + delay).toISOString();
    const timer = setTimeout(() => {
      this.retryTimers.delete(name);
      void this.catchUp(name);
    }, delay);
    timer.unref();
    this.retryTimers.set(name, timer);
  }

  /**
   * Applies what a held projector and its readers missed, in slices of one transaction each, up to where the
   * subscription is; in the last slice they rejoin it. An event recorded as skipped is passed over.
   */
  private async catchUp(name: string): Promise<void> {
    if (this.stopped || !this.stalls.has(name)) return;
    const group = this.projectors.filter((projector) => this.heldBy.get(projector.name) === name);
    try {
      const skipped = notSkipped(await loadSkips(this.eventStore, group));
      for (let done = false; !done;) {
        const published: Publication[] = [];
        done = await this.readStore.withTransaction(async (tx) => {
          if (this.lease) await this.lease.fence(tx);
          const context = createProjectionContext(tx, undefined, (publication) => published.push(publication));
          const found = await this.readCheckpoints(
            group.map((projector) => projector.name),
            tx,
          );
          const stored = new Map([...found].map(([name, checkpoint]) => [name, checkpoint ?? 0]));
          const from = Math.min(...stored.values());
          const target = this.mainPosition;
          const page =
            from >= target
              ? []
              : (await this.eventStore.readAll({ after: from, maxCount: this.options.catchUpPageSize })).filter(
                  (event) => event.position <= target,
                );
          await applyInOrder(
            page,
            group,
            context,
            this.upcaster,
            (projector, event) => event.position > stored.get(projector.name)! && skipped(projector, event.position),
          );
          const reached = page.length > 0 ? page[page.length - 1]!.position : target;
          await this.advanceCheckpoints(
            group.map((projector) => ({ name: projector.name, from: found.get(projector.name)!, to: reached })),
            tx,
          );
          for (const projector of group) this.positions.set(projector.name, Math.max(reached, stored.get(projector.name)!));
          if (this.lease) await tx.notify?.(PROJECTED_NOTICE, String(reached));
          // Caught up: rejoin the subscription inside the transaction, so no batch can slip between.
          if (reached >= this.mainPosition) {
            for (const projector of group) {
              this.stalls.delete(projector.name);
              this.heldBy.delete(projector.name);
            }
            return true;
          }
          return false;
        });
        this.emit({ events: [], publications: published });
      }
      this.logger.info({ projector: name }, 'held projector caught up and rejoined');
      this.waiters.release();
      this.progressed();
    } catch (error) {
      if (error instanceof ProjectorFailed) this.hold(error);
      else if (error instanceof LeaseLost)
        this.logger.warn({ projector: name }, 'a held projector stops catching up: the projection lease was taken over');
      else {
        this.logger.error({ err: error, projector: name }, 'catching up a held projector failed; retrying');
        this.scheduleRetry(name);
      }
    }
  }

  /** Receives each committed batch: its events and what the projectors published for live delivery. */
  onCommitted(listener: (batch: CommittedBatch) => void): () => void {
    this.batchListeners.add(listener);
    return () => this.batchListeners.delete(listener);
  }

  onProgress(listener: () => void): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  /** The position every projector that is not held has reached (held ones are reported by `status`). */
  get position(): number {
    return reachedPosition(this.positions, (name) => this.stalls.has(name), this.mainPosition);
  }

  /** The position one projector has reached. */
  positionOf(name: string): number {
    return this.positions.get(name) ?? 0;
  }

  /**
   * Resolves once every projector that is not held has applied the event at `position`, so a read after a
   * write sees it. A held projector does not turn every write into a 503: it is on /ping instead.
   */
  waitFor(position: number, timeoutMs = this.options.waitTimeoutMs): Promise<void> {
    return this.waiters.waitFor(position, timeoutMs);
  }

  headPosition(): Promise<number> {
    return this.eventStore.headPosition();
  }

  admit(): Promise<void> {
    return admitWithin(this);
  }

  async status(): Promise<ProjectionsStatus> {
    const head = await this.eventStore.headPosition();
    const projectors = this.projectors.map((projector) => ({
      projector: projector.name,
      position: this.positions.get(projector.name) ?? 0,
    }));
    return {
      head,
      projectors,
      lag: Math.max(0, head - this.position),
      stalled: [...this.stalls.values()].map((stall) => ({ ...stall })),
      leader: this.leader,
      ...(this.lease ? { projectingInstance: await this.lease.holder() } : {}),
      ...(this.rebuiltAtStart ? { rebuiltAtStart: this.rebuiltAtStart } : {}),
    };
  }

  readStoreStatus() {
    return Promise.resolve(this.readStore.checkpointStatus?.());
  }

  /** Where each projector is and which are held: what a worker thread reports to the serving thread. */
  progress(): ProjectionProgress {
    return { positions: [...this.positions], held: [...this.stalls.keys()], mainPosition: this.mainPosition };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopNotices?.();
    for (const timer of this.retryTimers.values()) clearTimeout(timer);
    this.retryTimers.clear();
    if (this.resubscribeTimer) clearTimeout(this.resubscribeTimer);
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    const subscription = this.subscription;
    this.subscription = null;
    await subscription?.stop();
    await this.takingOver;
    if (this.lease) await this.lease.release().catch(() => undefined);
  }
}

/** The position of the last of `events` before `position`, 0 when there is none. */
function lastBefore(events: readonly RecordedEvent[], position: number): number {
  let found = 0;
  for (const event of events) if (event.position < position) found = event.position;
  return found;
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));
