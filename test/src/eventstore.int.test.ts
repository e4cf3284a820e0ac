import test from 'ava';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EventStoreDbEventStore } from '../../src/eventstore/eventstoredb.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { eventStoreContract } from './eventstore.contract.ts';

/** The store's own (private) connection, for pragmas that are per connection. */
const connectionOf = (store: SqliteEventStore) => Reflect.get(store, 'db') as Database.Database;

const dir = mkdtempSync(join(tmpdir(), 'letsapp-events-'));
const file = join(dir, 'events.sqlite');

eventStoreContract('embedded SQLite', { open: async () => new SqliteEventStore(file) });

const esdb = process.env.EVENTSTORE_CONNECTION_STRING;
eventStoreContract(
  'EventStoreDB',
  esdb
    ? { open: () => EventStoreDbEventStore.connect(esdb) }
    : { skip: 'EVENTSTORE_CONNECTION_STRING is not set, so no EventStoreDB server to run against' },
);

test('embedded event store commits with synchronous=FULL in WAL mode', async (t) => {
  const store = new SqliteEventStore(join(dir, 'pragma.sqlite'));
  await store.close();
  const db = new Database(join(dir, 'pragma.sqlite'));
  t.is(db.pragma('journal_mode', { simple: true }), 'wal');
  db.close();
  // synchronous is per connection: read it from the store's own connection.
  const probe = new SqliteEventStore(join(dir, 'pragma.sqlite'));
  t.is(connectionOf(probe).pragma('synchronous', { simple: true }), 2, 'FULL');
  await probe.close();
});

test('embedded event store commits appends of one turn together and isolates a failing one', async (t) => {
  const store = new SqliteEventStore(join(dir, 'group.sqlite'));
  const meta = (id: string) => ({ eventId: id, correlationId: id, causationId: id, userId: null, timestamp: new Date().toISOString() });
  const results = await Promise.allSettled([
    store.append('s-1', [{ type: 'A', data: {}, metadata: meta('00000000-0000-4000-8000-000000000001') }], 'no-stream'),
    store.append('s-2', [{ type: 'A', data: {}, metadata: meta('00000000-0000-4000-8000-000000000002') }], 5),
    store.append('s-3', [{ type: 'A', data: {}, metadata: meta('00000000-0000-4000-8000-000000000003') }], 'no-stream'),
  ]);
  t.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  t.deepEqual(
    (await store.readAll()).map((e) => e.stream),
    ['s-1', 's-3'],
  );
  await store.close();
});

test('embedded event store: an append refused by SQLite itself leaves the others of its commit; a rolled-back commit stores none of them', async (t) => {
  const file = join(dir, 'refused.sqlite');
  await new SqliteEventStore(file).close();
  // Triggers stand in for failures inside SQLite: ABORT backs out one statement, ROLLBACK the whole transaction (as a
  // full disk or an I/O error may).
  const raw = new Database(file);
  raw.exec(`CREATE TRIGGER refuse_one BEFORE INSERT ON events WHEN NEW.type = 'Refused' BEGIN SELECT RAISE(ABORT, 'refused'); END;
    CREATE TRIGGER refuse_all BEFORE INSERT ON events WHEN NEW.type = 'Fatal' BEGIN SELECT RAISE(ROLLBACK, 'rolled back'); END;`);
  raw.close();
  const store = new SqliteEventStore(file);
  t.teardown(() => store.close());
  let n = 0;
  const append = (stream: string, type: string) => {
    const id = `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
    return store.append(
      stream,
      [
        {
          type,
          data: {},
          metadata: { eventId: id, correlationId: id, causationId: id, userId: null, timestamp: new Date().toISOString() },
        },
      ],
      'no-stream',
    );
  };
  const one = await Promise.allSettled([append('a-1', 'A'), append('a-2', 'Refused'), append('a-3', 'A')]);
  t.deepEqual(
    one.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  t.deepEqual(
    (await store.readAll()).map((e) => e.stream),
    ['a-1', 'a-3'],
  );
  const all = await Promise.allSettled([append('b-1', 'A'), append('b-2', 'Fatal'), append('b-3', 'A')]);
  t.deepEqual(
    all.map((r) => r.status),
    ['rejected', 'rejected', 'rejected'],
    'nothing acknowledged that was rolled back, nothing committed on its own',
  );
  t.deepEqual(
    (await store.readAll()).map((e) => e.stream),
    ['a-1', 'a-3'],
  );
  await append('c-1', 'A');
  t.deepEqual(
    (await store.readAll()).map((e) => e.stream),
    ['a-1', 'a-3', 'c-1'],
    'and the log goes on',
  );
});

test('embedded event store checkpoints its WAL in the background, not inside commits', async (t) => {
  const path = join(dir, 'checkpoint.sqlite');
  const store = new SqliteEventStore(path);
  const probe = { db: connectionOf(store) };
  t.is(probe.db.pragma('wal_autocheckpoint', { simple: true }), 0, 'commits never checkpoint');
  const sizeBefore = statSync(path).size;
  const meta = (i: number) => ({
    eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    correlationId: 'c',
    causationId: 'c',
    userId: null,
    timestamp: new Date().toISOString(),
  });
  await Promise.all(
    Array.from({ length: 500 }, (_, i) =>
      store.append(`cp-${i}`, [{ type: 'Filler', data: { pad: 'x'.repeat(500) }, metadata: meta(i) }], 'no-stream'),
    ),
  );
  // Wait for the condition (the worker ticks every 500 ms), not for a fixed time.
  const deadline = Date.now() + 10_000;
  while (statSync(path).size <= sizeBefore + 100_000 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.true(statSync(path).size > sizeBefore + 100_000, 'the worker copied the WAL into the database file');
  await store.close();
});
