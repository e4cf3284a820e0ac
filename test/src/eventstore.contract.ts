import test from 'ava';
import { randomUUID } from 'node:crypto';
import { ConcurrencyError } from '../../commands/shared/errors.ts';
import type { EventStore, NewEvent, RecordedEvent } from '../../src/eventstore/port.ts';

/** A factory for a fresh store, or the reason the run is skipped (reported, never counted as a pass). */
export type StoreFactory = { open: () => Promise<EventStore> } | { skip: string };

const event = (type: string, data: unknown = {}, userId: string | null = 'user-1'): NewEvent => ({
  type,
  data,
  metadata: { eventId: randomUUID(), correlationId: randomUUID(), causationId: randomUUID(), userId, timestamp: new Date().toISOString() },
});

/** Appends events one by one, each with the exact expected revision. */
async function appendAll(store: EventStore, stream: string, events: readonly NewEvent[]): Promise<void> {
  for (const [index, next] of events.entries()) await store.append(stream, [next], index === 0 ? 'no-stream' : index - 1);
}

/** The event store contract, run against every adapter. Streams are unique per test so real servers can be reused. */
export function eventStoreContract(adapter: string, factory: StoreFactory): void {
  if ('skip' in factory) {
    test.skip(`${adapter} event store contract — skipped: ${factory.skip}`, () => undefined);
    return;
  }
  const it = (title: string, body: (store: EventStore, stream: string) => Promise<void>) =>
    test.serial(`${adapter} event store: ${title}`, async (t) => {
      const store = await factory.open();
      try {
        await body(store, `contract-${randomUUID()}`);
      } finally {
        await store.close();
      }
      t.pass();
    });

  it('appends to a new stream and reads it back with revisions, positions and metadata', async (store, stream) => {
    const first = event('ThingHappened', { n: 1 });
    await store.append(stream, [first], 'no-stream');
    const result = await store.append(stream, [event('ThingHappened', { n: 2 })], 0);
    const events = await store.readStream(stream);
    assertEqual(
      events.map((e) => e.revision),
      [0, 1],
    );
    assertEqual(
      events.map((e) => e.data),
      [{ n: 1 }, { n: 2 }],
    );
    assertEqual(result.revision, 1);
    assertEqual(result.position, events[1]!.position);
    assert(events[0]!.position < events[1]!.position, 'positions increase');
    assertEqual(events[0]!.metadata, first.metadata);
  });

  it('rejects a stale expected revision with a concurrency error and appends nothing', async (store, stream) => {
    await appendAll(store, stream, [event('A'), event('B')]);
    await assertRejects(store.append(stream, [event('C')], 0), ConcurrencyError);
    await assertRejects(store.append(stream, [event('C')], 'no-stream'), ConcurrencyError);
    assertEqual((await store.readStream(stream)).length, 2);
    await store.append(stream, [event('C')], 1);
    await store.append(stream, [event('D')], 'any');
    assertEqual(
      (await store.readStream(stream)).map((e) => e.type),
      ['A', 'B', 'C', 'D'],
    );
  });

  it('refuses an append of several events, or none, and stores nothing', async (store, stream) => {
    await assertRejects(store.append(stream, [event('A'), event('B')], 'no-stream'), Error);
    await assertRejects(store.append(stream, [], 'no-stream'), Error);
    assertEqual(await store.readStream(stream), []);
  });

  it('expects an exact revision on a missing stream to fail', async (store, stream) => {
    await assertRejects(store.append(stream, [event('A')], 0), ConcurrencyError);
    assertEqual(await store.readStream(stream), []);
  });

  it('is idempotent by event id: the same events appended again are stored once', async (store, stream) => {
    const [a, b] = [event('A'), event('B')];
    await store.append(stream, [a], 'no-stream');
    const first = await store.append(stream, [b], 0);
    const again = await store.append(stream, [b], 0);
    assertEqual(again, first);
    assertEqual(await store.append(stream, [a], 'no-stream'), { revision: 0, position: (await store.readStream(stream))[0]!.position });
    assertEqual((await store.readStream(stream)).length, 2);
  });

  it('lets exactly one of two racing appends at the same revision win', async (store, stream) => {
    await store.append(stream, [event('A')], 'no-stream');
    const results = await Promise.allSettled([store.append(stream, [event('B')], 0), store.append(stream, [event('C')], 0)]);
    assertEqual(results.filter((r) => r.status === 'fulfilled').length, 1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert(rejected.reason instanceof ConcurrencyError, 'the loser gets a concurrency error');
    assertEqual((await store.readStream(stream)).length, 2);
  });

  it('reads a stream forwards from a revision', async (store, stream) => {
    await appendAll(store, stream, [event('A'), event('B'), event('C')]);
    assertEqual(
      (await store.readStream(stream, { fromRevision: 1 })).map((e) => e.type),
      ['B', 'C'],
    );
    assertEqual(
      (await store.readStream(stream, { fromRevision: 1, maxCount: 1 })).map((e) => e.type),
      ['B'],
    );
  });

  it('reads all events after a global position, in order', async (store, stream) => {
    const head = await store.headPosition();
    await appendAll(store, stream, [event('A'), event('B')]);
    await store.append(`${stream}-other`, [event('C')], 'no-stream');
    const all = (await store.readAll({ after: head })).filter((e) => e.stream.startsWith(stream));
    assertEqual(
      all.map((e) => e.type),
      ['A', 'B', 'C'],
    );
    const afterFirst = await store.readAll({ after: all[0]!.position, maxCount: 2 });
    assertEqual(afterFirst[0]!.position, all[1]!.position);
    assertEqual(await store.headPosition(), all[2]!.position);
  });

  it('subscribes: catch-up, then live, each position once, in order, through a slow consumer', async (store, stream) => {
    const head = await store.headPosition();
    for (let i = 0; i < 5; i++) await store.append(stream, [event('Before', { i })], i === 0 ? 'no-stream' : i - 1);
    const seen: RecordedEvent[] = [];
    let expected = 15;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const subscription = store.subscribeToAll({ after: head }, async (batch) => {
      await new Promise((resolve) => setTimeout(resolve, 5)); // a slow consumer
      for (const e of batch) if (e.stream === stream) seen.push(e);
      if (seen.length >= expected) finish();
    });
    for (let i = 5; i < 15; i++) await store.append(stream, [event('Live', { i })], i - 1);
    await Promise.race([finished, new Promise((_, reject) => setTimeout(() => reject(new Error(`saw ${seen.length}`)), 10_000))]);
    await subscription.stop();
    expected = 0;
    assertEqual(
      seen.map((e) => (e.data as { i: number }).i),
      [...Array(15).keys()],
    );
    const positions = seen.map((e) => e.position);
    assert(
      positions.every((p, i) => i === 0 || p > positions[i - 1]!),
      'positions strictly increase',
    );
  });

  it('keeps an acknowledged append across a reopen', async (store, stream) => {
    await store.append(stream, [event('Durable')], 'no-stream');
    await store.close();
    const reopened = await factory.open();
    try {
      assertEqual(
        (await reopened.readStream(stream)).map((e) => e.type),
        ['Durable'],
      );
    } finally {
      await reopened.close();
    }
  });
}

function assert(condition: boolean, message: string): void {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

function assertEqual(actual: unknown, expected: unknown): void {
  const a = JSON.stringify(actual);
  const b = JSON.stringify(expected);
  if (a !== b) throw new Error(`expected ${b}\n     got ${a}`);
}

async function assertRejects(promise: Promise<unknown>, type: new (...args: any[]) => Error): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof type) return;
    throw new Error(`expected ${type.name}, got ${String(error)}`, { cause: error });
  }
  throw new Error(`expected ${type.name}, but it resolved`);
}
