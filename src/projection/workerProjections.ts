import { Worker } from 'node:worker_threads';
import { workerExecArgv } from '../workerThreads.ts';
import { UnavailableError } from '../../commands/shared/errors.ts';
import type { Logger } from 'pino';
import type { EventStore } from '../eventstore/port.ts';
import type { CheckpointStatus } from '../sqlite/checkpointer.ts';
import { DEFAULT_WAIT_TIMEOUT_MS, PositionWaiters } from './positionWaiters.ts';
import { admitWithin, reachedPosition, type Projections, type ProjectionsStatus } from './projections.ts';
import type { CommittedBatch, ProjectionProgress, ProjectionRunnerOptions } from './runner.ts';
import type { FromWorker, ToWorker } from './workerProtocol.ts';
import type { Keyring } from '../secrets/keyring.ts';

export interface WorkerProjectionsOptions {
  storageDir: string;
  logLevel: string;
  nodeEnv: string;
  walLimitBytes?: number | undefined;
  runner: ProjectionRunnerOptions;
  forwardEventTypes: string[];
  /** The worker opens sealed fields with the content keys of STORAGE_DIR/secrets.sqlite, unsealed with this keyring. */
  keyring: Keyring;
  /**
   * The module the worker runs, resolved at each start: by default projectionWorker.mjs beside this code (the sources
   * through tsx, or `npm run build`'s compiled worker). Tests pass one compiled once per test process.
   */
  entry?: (() => Promise<URL>) | undefined;
}

/**
 * The projections of the embedded stores, run in a worker thread (src/projection/projectionWorkerMain.ts) with its
 * own connections: a projection batch never holds up the frames and requests of the serving thread. The
 * serving thread tells it of each commit of the event log; it answers with each committed batch (positions,
 * live updates, the events the server reacts to).
 */
export class WorkerProjections implements Projections {
  private worker: Worker | null = null;
  private positions = new Map<string, number>();
  private held = new Set<string>();
  private mainPosition = 0;
  private readonly waiters = new PositionWaiters(() => this.position);
  private readonly listeners = new Set<(batch: CommittedBatch) => void>();
  private readonly statusRequests = new Map<number, (message: Extract<FromWorker, { type: 'status' }>) => void>();
  private nextRequest = 1;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly stopCommitHook: () => void;

  constructor(
    private readonly eventStore: EventStore & { onCommit(listener: () => void): () => void },
    private readonly logger: Logger,
    private readonly options: WorkerProjectionsOptions,
  ) {
    // Each commit of the serving thread's appends wakes the worker's subscription.
    this.stopCommitHook = eventStore.onCommit(() => this.post({ type: 'wake' }));
  }

  async start(): Promise<void> {
    const entry = (await this.options.entry?.()) ?? new URL('./projectionWorker.mjs', import.meta.url);
    // A restart whose wait for the entry outlasted stop(): no worker is left running behind it.
    if (this.stopping) return;
    return new Promise((resolve, reject) => {
      const worker = new Worker(entry, {
        execArgv: workerExecArgv(),
        workerData: {
          storageDir: this.options.storageDir,
          logLevel: this.options.logLevel,
          nodeEnv: this.options.nodeEnv,
          walLimitBytes: this.options.walLimitBytes,
          runner: this.options.runner,
          forwardEventTypes: this.options.forwardEventTypes,
          keyring: this.options.keyring,
        },
      });
      this.worker = worker;
      let started = false;
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          started = true;
          this.apply(message.progress);
          resolve();
        } else if (message.type === 'failed' && !started) {
          reject(new Error(`The projection worker could not start: ${message.error}`));
        } else {
          this.receive(message);
        }
      });
      worker.on('error', (error) => {
        this.logger.error({ err: error }, 'the projection worker failed');
        if (!started) reject(error);
      });
      worker.on('exit', (code) => {
        if (this.worker === worker) this.worker = null;
        if (this.stopping || !started) return;
        // It resumes from its checkpoints: nothing is lost, updates are late meanwhile.
        this.logger.error({ code }, 'the projection worker exited; restarting it in 1 s');
        this.restartTimer = setTimeout(() => {
          this.restartTimer = null;
          this.start().catch((error: unknown) => this.logger.error({ err: error }, 'restarting the projection worker failed'));
        }, 1_000);
        this.restartTimer.unref();
      });
    });
  }

  private post(message: ToWorker): void {
    this.worker?.postMessage(message);
  }

  private receive(message: FromWorker): void {
    switch (message.type) {
      case 'committed': {
        this.apply(message.progress);
        const batch: CommittedBatch = {
          events: message.events,
          publications: message.publications,
          trace: message.trace,
          ...(message.timing ? { timing: message.timing } : {}),
        };
        for (const listener of this.listeners) {
          try {
            listener(batch);
          } catch (error) {
            this.logger.error({ err: error }, 'a listener of committed projection batches failed');
          }
        }
        this.waiters.release();
        return;
      }
      case 'status':
        this.statusRequests.get(message.id)?.(message);
        this.statusRequests.delete(message.id);
        return;
      case 'failed':
        this.logger.error({ error: message.error }, 'the projection worker failed');
        return;
      case 'ready':
      case 'stopped':
        return;
    }
  }

  private apply(progress: ProjectionProgress): void {
    this.positions = new Map(progress.positions);
    this.held = new Set(progress.held);
    this.mainPosition = progress.mainPosition;
  }

  get position(): number {
    return reachedPosition(this.positions, (name) => this.held.has(name), this.mainPosition);
  }

  positionOf(name: string): number {
    return this.positions.get(name) ?? 0;
  }

  waitFor(position: number, timeoutMs = this.options.runner.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS): Promise<void> {
    return this.waiters.waitFor(position, timeoutMs);
  }

  onCommitted(listener: (batch: CommittedBatch) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  headPosition(): Promise<number> {
    return this.eventStore.headPosition();
  }

  admit(): Promise<void> {
    return admitWithin(this);
  }

  private request(): Promise<Extract<FromWorker, { type: 'status' }>> {
    if (!this.worker) return Promise.reject(new UnavailableError('The projection worker is restarting'));
    const id = this.nextRequest++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.statusRequests.delete(id);
        reject(new UnavailableError('The projection worker did not answer'));
      }, 5_000);
      this.statusRequests.set(id, (message) => {
        clearTimeout(timer);
        resolve(message);
      });
      this.post({ type: 'status', id });
    });
  }

  async status(): Promise<ProjectionsStatus> {
    const answer = await this.request();
    if (!answer.status) throw new Error(answer.error ?? 'no status');
    return answer.status;
  }

  async readStoreStatus(): Promise<CheckpointStatus | undefined> {
    return (await this.request()).storage;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopCommitHook();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'stopped') done();
      });
      worker.once('exit', done);
      worker.postMessage({ type: 'stop' } satisfies ToWorker);
    });
    await worker.terminate();
    this.worker = null;
  }
}
