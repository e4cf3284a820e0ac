import { Worker } from 'node:worker_threads';
import { workerExecArgv } from '../workerThreads.ts';

/** Past this size a WAL is checkpointed with TRUNCATE (in the worker), and a reset WAL is cut back to it. */
export const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** Consecutive failed or incomplete TRUNCATE checkpoints before the store reports itself unhealthy. */
const FAILURES_REPORTED = 3;

export interface SqliteStoreOptions {
  /** WAL size that triggers a TRUNCATE checkpoint; WAL_SIZE_LIMIT_BYTES by default (tests lower it). */
  walLimitBytes?: number | undefined;
  /** Told when checkpoints keep failing (or start working again), for the log. */
  onCheckpointProblem?: ((problem: CheckpointStatus) => void) | undefined;
  /**
   * False for a second connection to a database that another one in this process writes and checkpoints (the
   * projection worker's reader of the event log, the serving thread's reader of the read store).
   */
  checkpoints?: boolean;
}

export interface CheckpointStatus {
  walBytes: number;
  lastCheckpointAt: string | null;
  /** TRUNCATE checkpoints in a row that failed or could not finish; 0 when healthy. */
  consecutiveFailures: number;
  lastError: string | null;
  healthy: boolean;
  /** WAL resets by a drain between writes (the usual way), and by the worker's TRUNCATE backstop. */
  drains: number;
  truncations: number;
}

interface WorkerReport {
  type: 'checkpointed' | 'failed' | 'wal-large' | 'drained';
  walBytes: number;
  error?: string;
  /** For 'drained': every frame of the WAL is in the database now. */
  complete?: boolean;
  /** For 'checkpointed': the worker's TRUNCATE backstop ran. */
  truncated?: boolean;
}

/** Drains asked for in a row before the store writes again anyway (the worker's TRUNCATE is the backstop). */
const DRAIN_ATTEMPTS = 3;
const DRAIN_TIMEOUT_MS = 1_000;

/**
 * Moves WAL checkpoints off the main thread. The connection that writes turns automatic checkpoints off
 * (`wal_autocheckpoint = 0`): with them on, every few thousand pages one commit also copies the WAL into the
 * database and fsyncs it, a stall of tens to hundreds of milliseconds for every client.
 *
 * The worker checkpoints PASSIVE every tick, which blocks nobody but never resets a WAL that is written without
 * pause. Once the WAL passes its limit, the store calls `resetBeforeWrite()` before its next write: it pauses
 * its writes (asynchronously) until a drain has copied every frame, so that write starts the WAL over. A
 * TRUNCATE in the worker is only the backstop (measured: TRUNCATE on every pass of the limit took p99 at
 * 1,000 msg/s from 53 to 174 ms, as it makes writers and new readers wait).
 */
export class BackgroundCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private resetWanted = false;
  private pendingDrain: ((complete: boolean) => void) | null = null;
  private current: CheckpointStatus = {
    walBytes: 0,
    lastCheckpointAt: null,
    consecutiveFailures: 0,
    lastError: null,
    healthy: true,
    drains: 0,
    truncations: 0,
  };

  /** `onFailure` runs if the worker dies: the store then turns its own automatic checkpoints back on. */
  constructor(file: string, options: SqliteStoreOptions & { onFailure: (error: unknown) => void; intervalMs?: number }) {
    const walLimitBytes = options.walLimitBytes ?? WAL_SIZE_LIMIT_BYTES;
    this.worker = new Worker(new URL('./checkpointWorker.mjs', import.meta.url), {
      workerData: { file, intervalMs: options.intervalMs ?? 100, walLimitBytes },
      execArgv: workerExecArgv(),
    });
    this.worker.on('error', (error) => {
      this.record({ type: 'failed', walBytes: this.current.walBytes, error: `checkpoint worker died: ${String(error)}` }, options);
      options.onFailure(error);
    });
    this.worker.on('message', (message: WorkerReport | 'stopped') => {
      if (message === 'stopped') return;
      if (message.type === 'wal-large') {
        this.resetWanted = true;
        this.current = { ...this.current, walBytes: message.walBytes };
        return;
      }
      if (message.type === 'drained') {
        const resolve = this.pendingDrain;
        this.pendingDrain = null;
        resolve?.(message.complete === true);
        if (message.complete) {
          this.current.drains++;
          this.record({ type: 'checkpointed', walBytes: message.walBytes }, options);
        } else if (message.error) this.record(message, options);
        return;
      }
      if (message.type === 'checkpointed' && message.truncated) this.current.truncations++;
      this.record(message, options);
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    // After the listeners: a 'message' listener refs the worker again, and a checkpointer must never keep a
    // process alive.
    this.worker.unref();
  }

  private record(report: WorkerReport, options: SqliteStoreOptions): void {
    const wasHealthy = this.current.healthy;
    const consecutiveFailures = report.type === 'failed' ? this.current.consecutiveFailures + 1 : 0;
    this.current = {
      ...this.current,
      walBytes: report.walBytes,
      lastCheckpointAt: report.type === 'checkpointed' ? new Date().toISOString() : this.current.lastCheckpointAt,
      consecutiveFailures,
      lastError: report.type === 'failed' ? (report.error ?? 'unknown') : this.current.lastError,
      healthy: consecutiveFailures < FAILURES_REPORTED,
    };
    if (wasHealthy !== this.current.healthy) options.onCheckpointProblem?.({ ...this.current });
  }

  /** True once the WAL has passed its limit: the store should call `resetBeforeWrite` before its next write. */
  get wantsReset(): boolean {
    return this.resetWanted;
  }

  /**
   * Called by the store with its writes paused: asks the worker to drain the WAL into the database, a few times
   * if readers hold frames back. The store's next write then restarts the WAL from the beginning.
   */
  async resetBeforeWrite(): Promise<void> {
    if (!this.resetWanted) return;
    this.resetWanted = false;
    for (let attempt = 0; attempt < DRAIN_ATTEMPTS; attempt++) {
      const complete = await new Promise<boolean>((resolve) => {
        // A worker that does not answer (it died) must not hold the store's writes back.
        const timer = setTimeout(() => resolve(false), DRAIN_TIMEOUT_MS);
        this.pendingDrain = (done) => {
          clearTimeout(timer);
          resolve(done);
        };
        this.worker.postMessage('drain');
      });
      if (complete) return;
    }
  }

  status(): CheckpointStatus {
    return { ...this.current };
  }

  async stop(): Promise<void> {
    this.pendingDrain?.(false);
    this.pendingDrain = null;
    this.resetWanted = false;
    // Waiting for the worker's answer must keep the process alive.
    this.worker.ref();
    this.worker.postMessage('stop');
    // Reports may still arrive before the answer: wait for 'stopped' itself, not for the next message.
    const stopped = new Promise<void>((resolve) => {
      const listener = (message: unknown) => {
        if (message !== 'stopped') return;
        this.worker.off('message', listener);
        resolve();
      };
      this.worker.on('message', listener);
    });
    await Promise.race([stopped, this.exited]);
    await this.worker.terminate();
  }
}
