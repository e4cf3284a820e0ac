import { Worker } from 'node:worker_threads';

/**
 * Moves WAL checkpoints off the main thread. The connection that writes turns automatic checkpoints off
 * (`wal_autocheckpoint = 0`): with them on, every few thousand pages one commit also copies the WAL into the
 * database and fsyncs it, a stall of tens to hundreds of milliseconds for every client.
 */
export class BackgroundCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  /** `onFailure` runs if the worker dies: the store then turns its own automatic checkpoints back on. */
  constructor(file: string, onFailure: (error: unknown) => void, intervalMs = 500) {
    this.worker = new Worker(new URL('./checkpointWorker.mjs', import.meta.url), { workerData: { file, intervalMs } });
    this.worker.unref();
    this.worker.on('error', onFailure);
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
  }

  async stop(): Promise<void> {
    this.worker.postMessage('stop');
    await Promise.race([new Promise((resolve) => this.worker.once('message', resolve)), this.exited]);
    await this.worker.terminate();
  }
}
