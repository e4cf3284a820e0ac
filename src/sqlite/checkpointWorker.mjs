// Plain JavaScript on purpose: worker threads do not inherit the TypeScript loader the main thread runs under.
/**
 * Runs in a worker thread: checkpoints one SQLite WAL file in the background, so the copy back into the
 * database file (and its fsync) never stalls the event loop that serves requests. Reports to the main thread
 * after each TRUNCATE attempt and on every error other than a busy lock.
 */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { file, intervalMs, walLimitBytes } = workerData;
const db = new Database(file);
// Waits for locks happen here, off the serving thread.
db.pragma('busy_timeout = 2000');
db.pragma('synchronous = FULL');

const walBytes = () => {
  try {
    return statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
};
const isBusy = (error) => typeof error?.code === 'string' && (error.code.startsWith('SQLITE_BUSY') || error.code.startsWith('SQLITE_LOCKED'));

const timer = setInterval(() => {
  try {
    // PASSIVE copies what no reader still needs and never blocks the writer or the readers.
    db.pragma('wal_checkpoint(PASSIVE)');
    if (walBytes() <= walLimitBytes) return;
    // Too big: wait for the writer and the readers to let go, copy everything back and cut the WAL to zero.
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)');
    const size = walBytes();
    if (result?.busy) parentPort.postMessage({ type: 'failed', walBytes: size, error: 'TRUNCATE checkpoint could not finish: the database stayed busy' });
    else parentPort.postMessage({ type: 'checkpointed', walBytes: size });
  } catch (error) {
    // A busy lock is retried on the next tick; anything else (I/O, disk full, corruption) is reported.
    parentPort.postMessage({ type: 'failed', walBytes: walBytes(), error: isBusy(error) ? 'database busy' : String(error?.message ?? error) });
  }
}, intervalMs);

parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  // A last report first, so the store's status is current when it closes; then the answer.
  parentPort.postMessage({ type: 'checkpointed', walBytes: walBytes() });
  db.close();
  parentPort.postMessage('stopped');
});
