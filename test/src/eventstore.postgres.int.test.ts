import { randomUUID } from 'node:crypto';
import { PostgresEventStore } from '../../src/eventstore/postgres.ts';
import type { NewEvent, RecordedEvent } from '../../src/eventstore/port.ts';
import { postgresFactory, postgresTest, rawClient } from '../helpers/postgres.ts';
import { eventStoreContract } from './eventstore.contract.ts';

eventStoreContract(
  'PostgreSQL',
  postgresFactory((settings) => PostgresEventStore.connect(settings)),
);

const event = (type: string, data: unknown = {}): NewEvent => {
  const id = randomUUID();
  return { type, data, metadata: { eventId: id, correlationId: id, causationId: id, userId: null, timestamp: new Date().toISOString() } };
};

/**
 * $all shows an event once every transaction older than its own has ended, in the whole cluster: other test files'
 * transactions may hold it back for a moment, so reads that expect an event wait for it.
 */
async function readAllWhen(
  store: PostgresEventStore,
  after: number,
  ready: (events: RecordedEvent[]) => boolean,
): Promise<RecordedEvent[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const events = await store.readAll({ after });
    if (ready(events) || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Inserts an event as a writer that ignores the append lock would: a position taken, not yet committed. */
const insertRaw = (
  client: { query: (sql: string, params: unknown[]) => Promise<unknown> },
  schema: string,
  position: number,
  stream: string,
) =>
  client.query(
    `INSERT INTO "${schema}".events (position, event_id, stream, revision, type, data, metadata, chain_hash)
    VALUES ($1, $2, $3, 0, 'Raw', '{}', '{}', 'not chained')`,
    [position, randomUUID(), stream],
  );

postgresTest('PostgreSQL event log: a reader skips nothing when a later position commits before an earlier one', async (t, settings) => {
  const store = await PostgresEventStore.connect(settings);
  t.teardown(() => store.close());
  await store.append('first', [event('First')], 'no-stream');
  const seen: RecordedEvent[] = [];
  const subscription = store.subscribeToAll({ after: 0 }, (batch) => {
    seen.push(...batch);
  });
  t.teardown(() => subscription.stop());

  // Two sessions take positions 2 and 3; the one holding 3 commits first.
  const [earlier, later] = [await rawClient(t), await rawClient(t)];
  await earlier.query('BEGIN');
  await insertRaw(earlier, settings.schema!, 2, 'earlier');
  await later.query('BEGIN');
  await insertRaw(later, settings.schema!, 3, 'later');
  await later.query('COMMIT');
  // Position 3 is committed, but a reader that took it now would move past 2 for good: it is held back.
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.deepEqual(
    (await store.readAll({ after: 1 })).map((e) => e.position),
    [],
    'nothing after 1 is readable while 2 may still commit',
  );
  t.deepEqual(
    seen.map((e) => e.position),
    [1],
  );

  await earlier.query('COMMIT');
  t.deepEqual(
    (await readAllWhen(store, 1, (events) => events.length >= 2)).map((e) => e.position),
    [2, 3],
  );
  const deadline = Date.now() + 5_000;
  while (seen.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  t.deepEqual(
    seen.map((e) => e.position),
    [1, 2, 3],
    'the subscription saw every position, in order',
  );
});

postgresTest(
  'PostgreSQL event log: $all is read in (transaction id, position) order, so even a writer whose position order disagrees with its transaction order is not skipped',
  async (t, settings) => {
    const store = await PostgresEventStore.connect(settings);
    t.teardown(() => store.close());
    const [older, younger] = [await rawClient(t), await rawClient(t)];
    // `older` gets its transaction id first but the larger position, and commits first.
    await older.query('BEGIN');
    await older.query('SELECT pg_current_xact_id()');
    await younger.query('BEGIN');
    await insertRaw(younger, settings.schema!, 1, 'younger');
    await insertRaw(older, settings.schema!, 2, 'older');
    await older.query('COMMIT');
    const first = await readAllWhen(store, 0, (events) => events.length > 0);
    t.deepEqual(
      first.map((e) => e.stream),
      ['older'],
      'the older transaction is complete, so its event is readable',
    );
    await younger.query('COMMIT');
    t.deepEqual(
      (await readAllWhen(store, first[0]!.position, (events) => events.length > 0)).map((e) => e.stream),
      ['younger'],
      'and the younger one comes after it, not lost below position 2',
    );
  },
);

postgresTest(
  'PostgreSQL event log: appends from two instances get dense positions in commit order, one hash chain, and transaction ids in position order',
  async (t, settings) => {
    const [a, b] = [await PostgresEventStore.connect(settings), await PostgresEventStore.connect(settings)];
    t.teardown(async () => {
      await a.close();
      await b.close();
    });
    await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).append(`s-${i}`, [event('E', { i })], 'no-stream')));
    const all = await readAllWhen(a, 0, (events) => events.length >= 60);
    t.deepEqual(
      all.map((e) => e.position),
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    t.deepEqual(await b.verifyTail(), { checked: 60, breakAt: null });
    const client = await rawClient(t);
    const rows = (await client.query(`SELECT position FROM "${settings.schema}".events ORDER BY transaction_id, position`)).rows.map((r) =>
      Number(r.position),
    );
    t.deepEqual(
      rows,
      all.map((e) => e.position),
      'transaction-id order is position order',
    );
    // The chain check can fail: alter one event's data as stored.
    await client.query(`UPDATE "${settings.schema}".events SET data = '{"i":999}' WHERE position = 30`);
    t.deepEqual(await a.verifyTail(), { checked: 60, breakAt: 30 });
  },
);

postgresTest('PostgreSQL event log: appends of one turn share a commit, and a refused one leaves the others', async (t, settings) => {
  const store = await PostgresEventStore.connect(settings);
  t.teardown(() => store.close());
  const client = await rawClient(t);
  const results = await Promise.allSettled([
    store.append('g-1', [event('A')], 'no-stream'),
    store.append('g-2', [event('A')], 5),
    store.append('g-3', [event('A')], 'no-stream'),
  ]);
  t.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  t.deepEqual(
    (await readAllWhen(store, 0, (events) => events.length >= 2)).map((e) => e.stream),
    ['g-1', 'g-3'],
  );
  const txIds = (await client.query(`SELECT DISTINCT transaction_id FROM "${settings.schema}".events`)).rowCount;
  t.is(txIds, 1, 'both accepted appends were committed by one transaction');
});

postgresTest(
  "PostgreSQL event log: a subscription is woken by another instance's commit through NOTIFY, well before its poll",
  async (t, settings) => {
    const [reader, writer] = [await PostgresEventStore.connect(settings), await PostgresEventStore.connect(settings)];
    t.teardown(async () => {
      await reader.close();
      await writer.close();
    });
    let resolveSeen!: (at: number) => void;
    const seenAt = new Promise<number>((resolve) => {
      resolveSeen = resolve;
    });
    const subscription = reader.subscribeToAll({ after: 0 }, (batch) => {
      if (batch.length > 0) resolveSeen(performance.now());
    });
    t.teardown(() => subscription.stop());
    // Let the subscription read the empty log, park, and its session LISTEN.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const appendedAt = performance.now();
    await writer.append('notified', [event('N')], 'no-stream');
    const latency = (await seenAt) - appendedAt;
    t.true(latency < 500, `seen after ${latency.toFixed(0)} ms (the poll would take up to 1,000 ms)`);
  },
);
