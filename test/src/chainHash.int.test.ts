import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { firstBreak, type ChainedRow } from '../../src/eventstore/chainHash.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { tempDir } from '../helpers/app.ts';

const metadata = () => ({ eventId: randomUUID(), correlationId: 'c', causationId: 'c', userId: null, timestamp: '2026-01-01T00:00:00.000Z' });
const rowsOf = (file: string) => {
  const db = new Database(file, { readonly: true });
  const rows = db.prepare<[], ChainedRow & { chain_hash: string | null }>('SELECT * FROM events ORDER BY position').all();
  db.close();
  return rows;
};

test('every append extends the hash chain, and a log written before the chain gets it once at open, its events untouched', async (t) => {
  const file = join(tempDir(), 'events.sqlite');
  // A log as an earlier version wrote it: no chain column.
  const old = new Database(file);
  old.exec(`CREATE TABLE events (position INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, stream TEXT NOT NULL, revision INTEGER NOT NULL,
    type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL, UNIQUE (stream, revision))`);
  for (let i = 0; i < 3; i++) {
    old.prepare('INSERT INTO events (event_id, stream, revision, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)')
      .run(randomUUID(), 's-old', i, 'Happened', JSON.stringify({ i }), JSON.stringify(metadata()));
  }
  const before = old.prepare('SELECT position, data, metadata FROM events ORDER BY position').all();
  old.close();

  const store = new SqliteEventStore(file, { checkpoints: false });
  t.teardown(() => store.close());
  await store.append('s-new', [{ type: 'Happened', data: { i: 3 }, metadata: metadata() }], 'no-stream');
  await store.append('s-new', [{ type: 'Happened', data: { i: 4 }, metadata: metadata() }], 0);
  const rows = rowsOf(file);
  t.is(rows.length, 5);
  t.true(rows.every((row) => /^[0-9a-f]{64}$/.test(row.chain_hash ?? '')));
  t.is(firstBreak(rows), null, 'the chain holds from the first event to the last');
  t.deepEqual(rows.slice(0, 3).map(({ position, data, metadata: m }) => ({ position, data, metadata: m })), before, 'old events are not rewritten');
  t.is(new Set(rows.map((row) => row.chain_hash)).size, 5);
  const tampered = rows.map((row) => (row.position === 2 ? { ...row, data: row.data.replace('1', '9') } : row));
  t.is(firstBreak(tampered)?.position, 2);
});

test('the tail check recomputes the newest events from the hash before them and names a break', async (t) => {
  const file = join(tempDir(), 'events.sqlite');
  const store = new SqliteEventStore(file, { checkpoints: false });
  t.teardown(() => store.close());
  for (let i = 0; i < 5; i++) await store.append(`s${i}`, [{ type: 'Happened', data: { i }, metadata: metadata() }], 'no-stream');
  t.deepEqual(store.verifyTail(3), { checked: 3, breakAt: null });
  const db = new Database(file);
  db.prepare(`UPDATE events SET data = '{"i":99}' WHERE position = 4`).run();
  db.close();
  t.deepEqual(store.verifyTail(3), { checked: 3, breakAt: 4 });
  t.deepEqual(store.verifyTail(1), { checked: 1, breakAt: null }, 'outside the checked tail: the full verify finds it');
});

test('events a chain-unaware writer added after the chain existed are chained at the next open', async (t) => {
  const file = join(tempDir(), 'events.sqlite');
  const first = new SqliteEventStore(file, { checkpoints: false });
  await first.append('s', [{ type: 'Happened', data: { i: 0 }, metadata: metadata() }], 'no-stream');
  await first.close();
  const older = new Database(file);
  older.prepare('INSERT INTO events (event_id, stream, revision, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)')
    .run(randomUUID(), 's', 1, 'Happened', JSON.stringify({ i: 1 }), JSON.stringify(metadata()));
  older.close();
  t.is(rowsOf(file)[1]!.chain_hash, null);

  const reopened = new SqliteEventStore(file, { checkpoints: false });
  t.teardown(() => reopened.close());
  const rows = rowsOf(file);
  t.true(rows.every((row) => /^[0-9a-f]{64}$/.test(row.chain_hash ?? '')));
  t.is(firstBreak(rows), null);
});
