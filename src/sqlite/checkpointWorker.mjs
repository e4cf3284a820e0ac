// Plain JavaScript on purpose: worker threads do not inherit the TypeScript loader the main thread runs under.
/**
 * Runs in a worker thread: checkpoints one SQLite WAL file in the background, so the copy back into the
 * database file (and its fsync) never stalls the event loop that serves requests.
 *
 * PASSIVE every tick copies what no reader still needs and blocks nobody. A WAL written without pause is never
 * reset by PASSIVE alone, so once it passes its limit the worker tells the store ('wal-large'); the store pauses
 * its writes for a moment and asks for a 'drain': a PASSIVE checkpoint that, with no writer in the way, copies
 * everything; the store's next write then starts the WAL over from the beginning (and journal_size_limit cuts
 * the file back). Only if that keeps failing (a reader that never lets go) does the worker fall back to
 * TRUNCATE, which makes writers and new readers wait.
 */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { file, intervalMs, walLimitBytes } = workerData;
/** Over the limit this long (in ticks), or this far over it, and the worker truncates by force. */
const FALLBACK_TICKS = 20;
const FALLBACK_FACTOR = 4;

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
const isBusy = (error) =>
  typeof error?.code === 'string' && (error.code.startsWith('SQLITE_BUSY') || error.code.startsWith('SQLITE_LOCKED'));
const failure = (error) => ({
  type: 'failed',
  walBytes: walBytes(),
  error: isBusy(error) ? 'database busy' : String(error?.message ?? error),
});

let ticksOverLimit = 0;
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    const size = walBytes();
    if (size <= walLimitBytes) {
      ticksOverLimit = 0;
      return;
    }
    ticksOverLimit++;
    if (ticksOverLimit < FALLBACK_TICKS && size < walLimitBytes * FALLBACK_FACTOR) {
      parentPort.postMessage({ type: 'wal-large', walBytes: size });
      return;
    }
    // The store's drains did not reset it: wait for the writer and the readers, copy everything, cut to zero.
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)');
    ticksOverLimit = 0;
    if (result?.busy)
      parentPort.postMessage({
        type: 'failed',
        walBytes: walBytes(),
        error: 'TRUNCATE checkpoint could not finish: the database stayed busy',
      });
    else parentPort.postMessage({ type: 'checkpointed', walBytes: walBytes(), truncated: true });
  } catch (error) {
    // A busy lock is retried on the next tick; anything else (I/O, disk full, corruption) is reported.
    parentPort.postMessage(failure(error));
  }
}, intervalMs);

parentPort.on('message', (message) => {
  if (message === 'drain') {
    try {
      const [result] = db.pragma('wal_checkpoint(PASSIVE)');
      parentPort.postMessage({ type: 'drained', complete: !result?.busy && result?.log === result?.checkpointed, walBytes: walBytes() });
    } catch (error) {
      parentPort.postMessage({ ...failure(error), type: 'drained', complete: false });
    }
    return;
  }
  if (message !== 'stop') return;
  clearInterval(timer);
  // A last report first, so the store's status is current when it closes; then the answer.
  parentPort.postMessage({ type: 'checkpointed', walBytes: walBytes() });
  db.close();
  parentPort.postMessage('stopped');
});
