import { Worker } from 'node:worker_threads';

/** Past this size a WAL is checkpointed with TRUNCATE (in the worker), and a reset WAL is cut back to it. */
export const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** Consecutive failed or incomplete TRUNCATE checkpoints before the store reports itself unhealthy. */
const FAILURES_REPORTED = 3;

export interface SqliteStoreOptions {
  /** WAL size that triggers a TRUNCATE checkpoint; WAL_SIZE_LIMIT_BYTES by default (tests lower it). */
  walLimitBytes?: number | undefined;
  /** Told when checkpoints keep failing (or start working again), for the log. */
  onCheckpointProblem?: ((problem: CheckpointStatus) => void) | undefined;
}

export interface CheckpointStatus {
  walBytes: number;
  lastCheckpointAt: string | null;
  /** TRUNCATE checkpoints in a row that failed or could not finish; 0 when healthy. */
  consecutiveFailures: number;
  lastError: string | null;
  healthy: boolean;
}

interface WorkerReport {
  type: 'checkpointed' | 'failed';
  walBytes: number;
  error?: string;
}

/**
 * Moves WAL checkpoints off the main thread. The connection that writes turns automatic checkpoints off
 * (`wal_autocheckpoint = 0`): with them on, every few thousand pages one commit also copies the WAL into the
 * database and fsyncs it, a stall of tens to hundreds of milliseconds for every client. The worker checkpoints
 * PASSIVE every tick, and TRUNCATE once the WAL passes its limit: PASSIVE alone never resets a WAL that is
 * written without pause, which then grows without bound. A TRUNCATE waits for the lock in the worker thread;
 * writers on the serving thread meanwhile get SQLITE_BUSY and retry asynchronously.
 */
export class BackgroundCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private current: CheckpointStatus = { walBytes: 0, lastCheckpointAt: null, consecutiveFailures: 0, lastError: null, healthy: true };

  /** `onFailure` runs if the worker dies: the store then turns its own automatic checkpoints back on. */
  constructor(file: string, options: SqliteStoreOptions & { onFailure: (error: unknown) => void; intervalMs?: number }) {
    const walLimitBytes = options.walLimitBytes ?? WAL_SIZE_LIMIT_BYTES;
    this.worker = new Worker(new URL('./checkpointWorker.mjs', import.meta.url), {
      workerData: { file, intervalMs: options.intervalMs ?? 500, walLimitBytes },
    });
    this.worker.on('error', (error) => {
      this.record({ type: 'failed', walBytes: this.current.walBytes, error: `checkpoint worker died: ${String(error)}` }, options);
      options.onFailure(error);
    });
    this.worker.on('message', (message: WorkerReport | 'stopped') => {
      if (message !== 'stopped') this.record(message, options);
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
      walBytes: report.walBytes,
      lastCheckpointAt: report.type === 'checkpointed' ? new Date().toISOString() : this.current.lastCheckpointAt,
      consecutiveFailures,
      lastError: report.type === 'failed' ? report.error ?? 'unknown' : this.current.lastError,
      healthy: consecutiveFailures < FAILURES_REPORTED,
    };
    if (wasHealthy !== this.current.healthy) options.onCheckpointProblem?.({ ...this.current });
  }

  status(): CheckpointStatus {
    return { ...this.current };
  }

  async stop(): Promise<void> {
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
