import { randomUUID } from 'node:crypto';
import { eventUpcaster } from '../../commands/upcasters.ts';
import type { NewEvent } from '../../src/eventstore/port.ts';
import { PostgresEventStore } from '../../src/eventstore/postgres.ts';
import { rebuildProjections } from '../../src/projection/rebuild.ts';
import { CHECKPOINTS, type Projector } from '../../src/projection/projector.ts';
import { PostgresReadStore } from '../../src/readstore/postgres.ts';
import { postgresTest, rawClient } from '../helpers/postgres.ts';

const noted = (n: number): NewEvent => {
  const id = randomUUID();
  return {
    type: 'Noted',
    data: { n },
    metadata: { eventId: id, correlationId: id, causationId: id, userId: null, timestamp: new Date().toISOString() },
  };
};

/** One document per event: what the rebuild applied is exactly what the collection holds. */
const notes: Projector = {
  name: 'notes',
  collections: { notes: [] },
  handles: new Set(['Noted']),
  async apply(event, context) {
    await context.project('notes', String(event.position), event, () => ({
      _id: String(event.position),
      n: (event.data as { n: number }).n,
    }));
  },
};

postgresTest(
  'Rebuild on PostgreSQL: events committed behind a transaction still open are waited for, up to the head seen at the start, not taken for the end',
  async (t, settings) => {
    const eventStore = await PostgresEventStore.connect(settings);
    const readStore = await PostgresReadStore.connect(settings);
    t.teardown(async () => {
      await eventStore.close();
      await readStore.close();
    });
    for (let n = 1; n <= 3; n++) await eventStore.append(`note-${n}`, [noted(n)], 'no-stream');

    // A transaction with an id, left open: every event committed after it began stays below no reader's horizon.
    const holder = await rawClient(t);
    await holder.query('BEGIN');
    await holder.query('SELECT pg_current_xact_id()');
    for (let n = 4; n <= 6; n++) await eventStore.append(`note-${n}`, [noted(n)], 'no-stream');
    t.is(await eventStore.headPosition(), 6, 'all six are committed');

    let finished = false;
    const rebuilt = rebuildProjections({ eventStore, readStore, projectors: [notes], upcaster: eventUpcaster, batchSize: 2 }).finally(
      () => {
        finished = true;
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    t.false(finished, 'the rebuild has not ended with positions 4 to 6 unread');

    await holder.query('COMMIT');
    const summary = await rebuilt;
    t.is(summary.position, 6);
    t.is(summary.events, 6);
    const documents = await readStore.collection('notes').find({}, { sort: { n: 1 } });
    t.deepEqual(
      documents.map((doc) => doc.n),
      [1, 2, 3, 4, 5, 6],
    );
    t.like(await readStore.collection(CHECKPOINTS).findOne({ _id: 'notes' }), { position: 6 });
  },
);
