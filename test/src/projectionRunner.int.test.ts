import test from 'ava';
import { join } from 'node:path';
import { pino } from 'pino';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { projectionSkipDecider, projectionSkipStream } from '../../commands/projectionSkips.ts';
import { CommandHandler } from '../../src/commandHandler.ts';
import type { EventStore, NewEvent, RecordedEvent } from '../../src/eventstore/port.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { newId } from '../../src/ids.ts';
import type { Projector } from '../../src/projection/projector.ts';
import { rebuildProjections } from '../../src/projection/rebuild.ts';
import { CHECKPOINTS, ProjectionRunner } from '../../src/projection/runner.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { tempDir } from '../helpers/app.ts';

/** Counts notes per author and remembers every event it was handed. */
function notesProjector(applied: RecordedEvent[]): Projector {
  return {
    name: 'notes',
    collections: { notes: [{ key: { author: 1 } }] },
    handles: new Set(['NoteWritten']),
    async apply(event, context) {
      applied.push(event);
      const { author } = event.data as { author: string };
      await context.project<{ _id: string; _position: number; author: string; count: number }>('notes', author, event, (doc) => ({
        _id: author,
        author,
        count: (doc?.count ?? 0) + 1,
      }));
    },
  };
}

const note = (author: string): NewEvent => ({
  type: 'NoteWritten',
  data: { author },
  metadata: { eventId: newId(), correlationId: 'c', causationId: 'c', userId: null, timestamp: new Date().toISOString() },
});

const silent = pino({ level: 'silent' });

/** Appends one note per author to a new stream, one event per append; the last append's result. */
async function writeNotes(events: SqliteEventStore, stream: string, authors: readonly string[]) {
  let result = { revision: -1, position: 0 };
  for (const author of authors)
    result = await events.append(stream, [note(author)], result.revision === -1 ? 'no-stream' : result.revision);
  return result;
}

async function open(dir: string) {
  return { events: new SqliteEventStore(join(dir, 'events.sqlite')), read: new SqliteReadStore(join(dir, 'read.sqlite')) };
}

test('a command can wait until the projections reach its position, then reads its own write', async (t) => {
  const { events, read } = await open(tempDir());
  const runner = new ProjectionRunner(events, read, [notesProjector([])], eventUpcaster, silent);
  await runner.start();
  const { position } = await writeNotes(events, 'notes-a', ['a', 'a']);
  await runner.waitFor(position);
  t.like(await read.collection('notes').findOne({ _id: 'a' }), { count: 2 });
  t.like(await runner.status(), { lag: 0, head: position });
  await runner.stop();
  await events.close();
  await read.close();
});

test('after a restart each projector resumes at its checkpoint without re-applying an event', async (t) => {
  const dir = tempDir();
  let stores = await open(dir);
  const firstRun: RecordedEvent[] = [];
  let runner = new ProjectionRunner(stores.events, stores.read, [notesProjector(firstRun)], eventUpcaster, silent);
  await runner.start();
  const first = await writeNotes(stores.events, 'notes-a', ['a', 'b']);
  await runner.waitFor(first.position);
  await runner.stop();
  await stores.events.close();
  await stores.read.close();

  stores = await open(dir);
  const secondRun: RecordedEvent[] = [];
  runner = new ProjectionRunner(stores.events, stores.read, [notesProjector(secondRun)], eventUpcaster, silent);
  await runner.start();
  const second = await stores.events.append('notes-a', [note('a')], first.revision);
  await runner.waitFor(second.position);
  t.is(firstRun.length, 2);
  t.deepEqual(
    secondRun.map((e) => e.position),
    [second.position],
    'only the new event is applied',
  );
  t.like(await stores.read.collection('notes').findOne({ _id: 'a' }), { count: 2 });
  await runner.stop();
  await stores.events.close();
  await stores.read.close();
});

test('projection lag is observable while a projector is behind', async (t) => {
  const { events, read } = await open(tempDir());
  await writeNotes(events, 'notes-a', ['a', 'b', 'c']);
  const runner = new ProjectionRunner(events, read, [notesProjector([])], eventUpcaster, silent);
  t.like(await runner.status(), { head: 3, lag: 3 });
  await runner.start();
  await runner.waitFor(3);
  t.like(await runner.status(), { head: 3, lag: 0 });
  await runner.stop();
});

test('a rebuild swaps in the same documents while the runner keeps serving, and the runner carries on after it', async (t) => {
  const { events, read } = await open(tempDir());
  const projector = notesProjector([]);
  const runner = new ProjectionRunner(events, read, [projector], eventUpcaster, silent);
  await runner.start();
  let revision: number | 'no-stream' = 'no-stream';
  for (let i = 0; i < 50; i++) revision = (await events.append('notes-x', [note(i % 2 ? 'odd' : 'even')], revision)).revision;
  await runner.waitFor(await events.headPosition());
  const before = await read.collection('notes').find({}, { sort: { _id: 1 } });

  const progress: number[] = [];
  const summary = await rebuildProjections({
    eventStore: events,
    readStore: read,
    projectors: [notesProjector([])],
    upcaster: eventUpcaster,
    batchSize: 7,
    onProgress: (position) => progress.push(position),
  });
  t.is(summary.events, 50);
  t.true(progress.length >= 7, 'reports progress per batch');
  t.deepEqual(await read.collection('notes').find({}, { sort: { _id: 1 } }), before);

  const next = await events.append('notes-x', [note('odd')], revision);
  await runner.waitFor(next.position);
  t.like(await read.collection('notes').findOne({ _id: 'odd' }), { count: 26 });
  await runner.stop();
});

/** Lists the authors it saw in `seen`, reading the notes collection; throws on the author `poison`. */
function pickyProjector(): Projector {
  return {
    name: 'picky',
    collections: { picky: [] },
    reads: ['notes'],
    handles: new Set(['NoteWritten']),
    async apply(event, context) {
      const { author } = event.data as { author: string };
      if (author === 'poison') throw new Error('cannot digest poison');
      await context.project<{ _id: string; _position: number; authors: string[] }>('picky', 'all', event, (doc) => ({
        _id: 'all',
        authors: [...(doc?.authors ?? []), author],
      }));
    },
  };
}

/** Reads what `picky` wrote: held with it when it is held. */
const readerOfPicky: Projector = {
  name: 'reader',
  collections: { reader: [] },
  reads: ['picky'],
  handles: new Set(['NoteWritten']),
  async apply(event, context) {
    await context.project<{ _id: string; _position: number; n: number }>('reader', 'count', event, (doc) => ({
      _id: 'count',
      n: (doc?.n ?? 0) + 1,
    }));
  },
};

test('a projector that throws is held at that event with its readers; the others go on; an operator skip lets it catch up', async (t) => {
  const { events, read } = await open(tempDir());
  const runner = new ProjectionRunner(events, read, [notesProjector([]), pickyProjector(), readerOfPicky], eventUpcaster, silent, {
    retryBaseMs: 20,
    maxRetryMs: 50,
  });
  await runner.start();
  t.teardown(() => runner.stop());
  const written = await writeNotes(events, 'notes-p', ['a', 'poison', 'b']);
  // The projector that does not read `picky` is not held: waits resolve, notes count all three.
  await runner.waitFor(written.position);
  t.like(await read.collection('notes').findOne({ _id: 'b' }), { count: 1 });
  const poison = (await events.readStream('notes-p'))[1]!;
  const status = await runner.status();
  t.deepEqual(
    status.stalled.map((stall) => [stall.projector, stall.position, stall.eventType]),
    [
      ['picky', poison.position, 'NoteWritten'],
      ['reader', poison.position, 'NoteWritten'],
    ],
  );
  t.regex(status.stalled[0]!.error, /cannot digest poison/);
  t.is(status.stalled[1]!.error, 'waits for picky');
  t.is(status.projectors.find((p) => p.projector === 'picky')!.position, poison.position - 1, 'held just before the event');
  t.like(await read.collection('picky').findOne({ _id: 'all' }), { authors: ['a'] });

  // The operator records a skip (npm run skip-event); the next retry passes over it and catches up.
  await new CommandHandler(events, eventUpcaster).handle(projectionSkipDecider, projectionSkipStream('picky'), {
    type: 'SkipProjectionEvent',
    data: { projector: 'picky', position: poison.position, eventId: poison.metadata.eventId, eventType: poison.type, reason: 'test' },
    metadata: { commandId: 'skip-1', correlationId: 'c', causationId: 'c', userId: null, now: new Date().toISOString() },
  });
  const after = await writeNotes(events, 'notes-q', ['c']);
  for (let i = 0; i < 200 && (await runner.status()).stalled.length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.deepEqual((await runner.status()).stalled, []);
  await runner.waitFor(after.position);
  t.like(await read.collection('picky').findOne({ _id: 'all' }), { authors: ['a', 'b', 'c'] });
  t.like(await read.collection('reader').findOne({ _id: 'count' }), { n: 4 }, 'the reader applied every event, the skipped one included');
});

test('a subscription that fails is resubscribed with backoff, and projection carries on', async (t) => {
  const { events, read } = await open(tempDir());
  let failures = 0;
  const flaky: EventStore = Object.assign(Object.create(events) as EventStore, {
    subscribeToAll: (options: Parameters<EventStore['subscribeToAll']>[0], handler: Parameters<EventStore['subscribeToAll']>[1]) => {
      if (failures++ === 0) return { done: Promise.reject(new Error('connection lost')), stop: async () => undefined };
      return events.subscribeToAll(options, handler);
    },
  });
  const runner = new ProjectionRunner(flaky, read, [notesProjector([])], eventUpcaster, silent, { retryBaseMs: 10 });
  await runner.start();
  t.teardown(() => runner.stop());
  const { position } = await writeNotes(events, 'notes-f', ['a']);
  await runner.waitFor(position, 5_000);
  t.is(failures, 2);
  t.like(await read.collection('notes').findOne({ _id: 'a' }), { count: 1 });
});

test('with a lease, one runner projects at a time; another takes over when it stops', async (t) => {
  const { events, read } = await open(tempDir());
  const first = new ProjectionRunner(events, read, [notesProjector([])], eventUpcaster, silent, { exclusive: { ttlMs: 1_500 } });
  const secondApplied: RecordedEvent[] = [];
  const second = new ProjectionRunner(events, read, [notesProjector(secondApplied)], eventUpcaster, silent, {
    exclusive: { ttlMs: 1_500 },
  });
  await first.start();
  await second.start();
  t.teardown(() => second.stop());
  t.true((await first.status()).leader);
  t.false((await second.status()).leader);
  const a = await writeNotes(events, 'notes-l', ['a']);
  await first.waitFor(a.position);
  await second.waitFor(a.position, 2_000); // the follower's positions follow the checkpoints
  t.is(secondApplied.length, 0, 'the follower did not project');
  await first.stop();
  const b = await events.append('notes-l', [note('b')], a.revision);
  await second.waitFor(b.position, 5_000);
  t.true((await second.status()).leader);
  t.deepEqual(
    secondApplied.map((event) => event.position),
    [b.position],
  );
});

test('collections written by another version of their projector are rebuilt from the log before the runner serves', async (t) => {
  const dir = tempDir();
  let stores = await open(dir);
  let runner = new ProjectionRunner(stores.events, stores.read, [notesProjector([])], eventUpcaster, silent);
  await runner.start();
  await runner.waitFor((await writeNotes(stores.events, 'notes-v', ['a', 'a', 'b'])).position);
  await runner.stop();
  await stores.events.close();
  await stores.read.close();

  // Version 2 of the projector writes another shape: initials instead of counts.
  const v2: Projector = {
    name: 'notes',
    version: 2,
    collections: { notes: [] },
    handles: new Set(['NoteWritten']),
    async apply(event, context) {
      const { author } = event.data as { author: string };
      await context.project<{ _id: string; _position: number; initials: string }>('notes', author, event, (doc) => ({
        _id: author,
        initials: `${doc?.initials ?? ''}${author.toUpperCase()}`,
      }));
    },
  };
  stores = await open(dir);
  runner = new ProjectionRunner(stores.events, stores.read, [v2], eventUpcaster, silent);
  await runner.start();
  t.teardown(async () => {
    await runner.stop();
    await stores.events.close();
    await stores.read.close();
  });
  t.deepEqual(await stores.read.collection('notes').find({}, { sort: { _id: 1 } }), [
    { _id: 'a', initials: 'AA', _position: 2 },
    { _id: 'b', initials: 'B', _position: 3 },
  ]);
  t.like(await stores.read.collection(CHECKPOINTS).findOne({ _id: 'notes' }), { position: 3, version: 2 });
});
