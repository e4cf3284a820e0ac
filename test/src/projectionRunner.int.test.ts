import test from 'ava';
import { join } from 'node:path';
import { pino } from 'pino';
import { eventUpcaster } from '../../commands/upcasters.ts';
import type { NewEvent, RecordedEvent } from '../../src/eventstore/port.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { newId } from '../../src/ids.ts';
import type { Projector } from '../../src/projection/projector.ts';
import { rebuildProjections } from '../../src/projection/rebuild.ts';
import { ProjectionRunner } from '../../src/projection/runner.ts';
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
      await context.project<{ _id: string; _position: number; author: string; count: number }>('notes', author, event,
        (doc) => ({ _id: author, author, count: (doc?.count ?? 0) + 1 }));
    },
  };
}

const note = (author: string): NewEvent => ({
  type: 'NoteWritten', data: { author },
  metadata: { eventId: newId(), correlationId: 'c', causationId: 'c', userId: null, timestamp: new Date().toISOString() },
});

const silent = pino({ level: 'silent' });

/** Appends one note per author to a new stream, one event per append; the last append's result. */
async function writeNotes(events: SqliteEventStore, stream: string, authors: readonly string[]) {
  let result = { revision: -1, position: 0 };
  for (const author of authors) result = await events.append(stream, [note(author)], result.revision === -1 ? 'no-stream' : result.revision);
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
  t.deepEqual(secondRun.map((e) => e.position), [second.position], 'only the new event is applied');
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
    eventStore: events, readStore: read, projectors: [notesProjector([])], upcaster: eventUpcaster, batchSize: 7,
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
