import { join } from 'node:path';
import test from 'ava';
import { createProjectionContext } from '../../src/projection/context.ts';
import type { ProjectedDoc } from '../../src/projection/projector.ts';
import type { Collection, Doc, Filter, ReadStore } from '../../src/readstore/port.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { tempDir } from '../helpers/app.ts';
import { recorded } from '../helpers/projection.ts';

interface NoteDoc extends ProjectedDoc {
  text: string;
}

/** A read store whose collections count the queries that reach them. */
function counting(store: SqliteReadStore): { readStore: Pick<ReadStore, 'collection'>; queries: Filter[] } {
  const queries: Filter[] = [];
  return {
    queries,
    readStore: {
      collection<T extends Doc>(name: string): Collection<T> {
        const target = store.collection<T>(name);
        return {
          ...target,
          name: target.name,
          findOne: (filter) => (queries.push(filter), target.findOne(filter)),
          find: (filter, options) => (queries.push(filter), target.find(filter, options)),
          countDocuments: (filter, options) => (queries.push(filter), target.countDocuments(filter, options)),
          insertOne: (doc) => target.insertOne(doc),
          replaceOne: (filter, doc, options) => target.replaceOne(filter, doc, options),
          updateOne: (filter, update, options) => target.updateOne(filter, update, options),
          updateMany: (filter, update) => target.updateMany(filter, update),
          deleteOne: (filter) => target.deleteOne(filter),
          deleteMany: (filter) => target.deleteMany(filter),
        };
      },
    },
  };
}

test('a batch answers a find of documents by id from what it holds: one query for the ids it lacks, none after', async (t) => {
  const store = new SqliteReadStore(join(tempDir('letsapp-context-'), 'read.sqlite'));
  t.teardown(() => store.close());
  await store.collection<NoteDoc>('notes').insertOne({ _id: 'stored', text: 'from before', _position: 1 });
  const { readStore, queries } = counting(store);
  const context = createProjectionContext(readStore);
  // Projected earlier in the batch, not written back yet.
  await context.project<NoteDoc>('notes', 'held', recorded({ type: 'NoteWritten', data: {} }), () => ({ _id: 'held', text: 'this batch' }));
  queries.length = 0;

  const notes = context.collection<NoteDoc>('notes');
  const first = await notes.find({ _id: { $in: ['stored', 'held', 'absent'] } });
  t.deepEqual(
    first.map((doc) => [doc._id, doc.text]),
    [
      ['stored', 'from before'],
      ['held', 'this batch'],
    ],
  );
  t.is(queries.length, 1, 'one query, for the two ids the batch did not hold');
  t.deepEqual(queries[0], { _id: { $in: ['stored', 'absent'] } });

  const again = await notes.find({ _id: { $in: ['absent', 'held', 'stored'] } });
  t.deepEqual(
    again.map((doc) => doc._id),
    ['held', 'stored'],
  );
  t.is(queries.length, 1, 'an absent id is remembered as absent too');

  // Any other filter still reads the store, after writing the batch's changes back.
  t.is((await notes.find({ _id: { $in: ['held'] }, text: 'this batch' })).length, 1);
  t.is(queries.length, 2);
});

test('a write-back writes each changed document once, the latest version, whatever was read in between', async (t) => {
  const store = new SqliteReadStore(join(tempDir('letsapp-context-'), 'read.sqlite'));
  t.teardown(() => store.close());
  const context = createProjectionContext(store);
  const notes = context.collection<NoteDoc>('notes');
  for (let index = 0; index < 50; index++) {
    const event = recorded({ type: 'NoteWritten', data: {} });
    await context.project<NoteDoc>('notes', `n${index % 10}`, event, (doc) => ({
      _id: `n${index % 10}`,
      text: `${doc?.text ?? ''}${index},`,
    }));
    // A read of another kind writes the collection back (what it wrote is not written again).
    if (index % 7 === 0) t.is(await notes.countDocuments({}), Math.min(index + 1, 10));
  }
  await context.flush();
  const stored = await store.collection<NoteDoc>('notes').find({}, { sort: { _id: 1 } });
  t.is(stored.length, 10);
  t.is(stored[3]!.text, '3,13,23,33,43,');
});
