import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

/**
 * Moves WAL checkpoints off the main thread. The connection that writes turns automatic checkpoints off
 * (`wal_autocheckpoint = 0`): with them on, every few thousand pages one commit also copies the WAL into the
 * database and fsyncs it, a stall of tens to hundreds of milliseconds for every client.
 */
export class BackgroundCheckpointer {
  private readonly worker: Worker;

  constructor(file: string, intervalMs = 500) {
    this.worker = new Worker(new URL('./checkpointWorker.mjs', import.meta.url), { workerData: { file, intervalMs } });
    this.worker.unref();
  }

  async stop(): Promise<void> {
    this.worker.postMessage('stop');
    await once(this.worker, 'message');
    await this.worker.terminate();
  }
}
