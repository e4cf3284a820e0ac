// Plain JavaScript on purpose: worker threads do not inherit the TypeScript loader the main thread runs under.
/**
 * Runs in a worker thread: checkpoints one SQLite WAL file in the background, so the copy back into the
 * database file (and its fsync) never stalls the event loop that serves requests.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { file, intervalMs } = workerData;
const db = new Database(file);
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = FULL');

const timer = setInterval(() => {
  try {
    // PASSIVE copies what no reader still needs and never blocks the writer or the readers.
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy: the next tick tries again.
  }
}, intervalMs);

parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.postMessage('stopped');
});
