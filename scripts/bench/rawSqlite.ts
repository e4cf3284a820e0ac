import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';

export interface RawAppendLimit {
  rowsPerCommit: number;
  appendsPerSecond: number;
}

/**
 * The ceiling of the embedded event log on this machine: the same event rows, the same schema and indexes, WAL
 * with synchronous=FULL, committed `rowsPerCommit` at a time, with no server around it.
 */
export function measureRawAppends(dir: string, rowsPerCommit: number, seconds: number, sampleData: string): RawAppendLimit {
  const db = new Database(join(dir, `raw-${rowsPerCommit}.sqlite`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(`CREATE TABLE events (position INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, stream TEXT NOT NULL,
    revision INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL, UNIQUE (stream, revision))`);
  const insert = db.prepare('INSERT INTO events (event_id, stream, revision, type, data, metadata) VALUES (?, ?, 0, ?, ?, ?)');
  const metadata = JSON.stringify({
    eventId: randomUUID(),
    correlationId: randomUUID(),
    causationId: randomUUID(),
    userId: randomUUID(),
    timestamp: new Date().toISOString(),
    schemaVersion: 1,
  });
  const commit = db.transaction((count: number) => {
    for (let i = 0; i < count; i++) {
      const id = randomUUID();
      insert.run(id, `message-${id}`, 'MessageSent', sampleData, metadata);
    }
  });
  let rows = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    commit(rowsPerCommit);
    rows += rowsPerCommit;
  }
  const elapsed = (performance.now() - started) / 1000;
  db.close();
  return { rowsPerCommit, appendsPerSecond: Math.round(rows / elapsed) };
}
