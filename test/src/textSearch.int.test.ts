import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { PostgresReadStore } from '../../src/readstore/postgres.ts';
import { MATCH_END, MATCH_START, type ReadStore } from '../../src/readstore/port.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { postgresTest } from '../helpers/postgres.ts';
import { tempDir } from '../helpers/app.ts';

const marked = (word: string) => `${MATCH_START}${word}${MATCH_END}`;

/** The full-text index as the search projection uses it, on each engine: the same answers. */
async function textSearchContract(t: import('ava').ExecutionContext, store: ReadStore) {
  await store.ensureIndexes('notes', [{ key: { body: 1 }, text: true }, { key: { room: 1 } }]);
  const notes = store.collection('notes');
  await notes.insertOne({ _id: 'a', room: 'r1', body: 'The quick brown fox jumps over the lazy dog' });
  await notes.insertOne({ _id: 'b', room: 'r1', body: 'Fox fox fox: a fox den, and foxes' });
  await notes.insertOne({ _id: 'c', room: 'r2', body: 'A fox in another room' });
  await notes.insertOne({ _id: 'd', room: 'r1', body: 'Café au lait, nothing about animals' });
  await notes.insertOne({ _id: 'e', room: 'r1' });
  const search = (terms: string[], filter = {}, limit = 10, skip = 0) => notes.searchText!({ field: 'body', terms, filter, limit, skip });

  const foxes = await search(['fox']);
  t.deepEqual(
    foxes.map((hit) => hit.doc._id),
    ['b', 'c', 'a'],
    'the note saying fox most often, in the shortest text, ranks first',
  );
  t.true(foxes[0]!.score >= foxes[1]!.score && foxes[1]!.score >= foxes[2]!.score);
  t.true(foxes[2]!.snippet.includes(marked('fox')), foxes[2]!.snippet);
  t.deepEqual((await search(['fox'], { room: 'r1' })).map((hit) => hit.doc._id).sort(), ['a', 'b'], 'filtered like find');
  t.deepEqual(
    (await search(['quick', 'dog'])).map((hit) => hit.doc._id),
    ['a'],
    'every term',
  );
  t.deepEqual(
    (await search(['qui'])).map((hit) => hit.doc._id),
    ['a'],
    'the last term as a prefix',
  );
  // Accents are folded by FTS5's tokenizer; PostgreSQL's unaccent is an extension not assumed here.
  t.deepEqual(
    (await search([store.kind === 'embedded' ? 'cafe' : 'café'])).map((hit) => hit.doc._id),
    ['d'],
    'accents folded (embedded)',
  );
  t.deepEqual(
    (await search(['FOX'], {}, 2, 1)).map((hit) => hit.doc._id),
    ['c', 'a'],
    'case folded; paged',
  );
  t.deepEqual(await search(['zebra']), []);

  // Kept current: an edit reindexes, a delete removes.
  await notes.updateOne({ _id: 'a' }, { $set: { body: 'a slow green turtle' } });
  t.deepEqual(
    (await search(['fox'])).map((hit) => hit.doc._id),
    ['b', 'c'],
  );
  t.deepEqual(
    (await search(['turtle'])).map((hit) => hit.doc._id),
    ['a'],
  );
  await notes.deleteOne({ _id: 'b' });
  t.deepEqual(
    (await search(['fox'])).map((hit) => hit.doc._id),
    ['c'],
  );

  // A rebuild writes a fresh collection and renames it into place: the index follows it.
  await store.dropCollection('notes_fresh');
  await store.ensureIndexes('notes_fresh', [{ key: { body: 1 }, text: true }]);
  await store.collection('notes_fresh').insertOne({ _id: 'z', body: 'rebuilt fox' });
  await store.renameCollections([{ from: 'notes_fresh', to: 'notes' }]);
  await store.ensureIndexes('notes', [{ key: { body: 1 }, text: true }, { key: { room: 1 } }]);
  t.deepEqual(
    (await store.collection('notes').searchText!({ field: 'body', terms: ['fox'], filter: {}, limit: 10 })).map((hit) => hit.doc._id),
    ['z'],
  );
  t.deepEqual(
    (await store.collection('notes').searchText!({ field: 'body', terms: ['REBUIL'], filter: {}, limit: 10 })).map((hit) => hit.doc._id),
    ['z'],
    'a prefix longer than the prefix indexes (case folded), expanded to the words the renamed index holds',
  );
  await store.collection('notes').insertOne({ _id: 'y', body: 'after the rebuild, a fox' });
  t.deepEqual(
    (await store.collection('notes').searchText!({ field: 'body', terms: ['fox'], filter: {}, limit: 10 }))
      .map((hit) => hit.doc._id)
      .sort(),
    ['y', 'z'],
  );
}

test('embedded (SQLite FTS5): BM25 ranking, snippets, filters, paging, edits and deletes, rebuilds', async (t) => {
  const dir = tempDir();
  const store = new SqliteReadStore(join(dir, 'read.sqlite'), { checkpoints: false });
  t.teardown(() => store.close());
  await textSearchContract(t, store);
});

test('embedded: a deleted text leaves no trace in the database file or its FTS5 shadow tables', async (t) => {
  const dir = tempDir();
  const file = join(dir, 'read.sqlite');
  const store = new SqliteReadStore(file, { checkpoints: false });
  await store.ensureIndexes('notes', [{ key: { body: 1 }, text: true }]);
  const secret = 'zanzibarquokkaxylophone';
  await store.collection('notes').insertOne({ _id: 's', body: `the word ${secret} here` });
  await store.collection('notes').insertOne({ _id: 'k', body: 'kept text' });
  t.is((await store.collection('notes').searchText!({ field: 'body', terms: [secret], filter: {}, limit: 1 })).length, 1);
  await store.collection('notes').deleteOne({ _id: 's' });
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  await store.close();
  for (const name of ['read.sqlite', 'read.sqlite-wal'].filter((n) => existsSync(join(dir, n))))
    t.false(readFileSync(join(dir, name)).includes(Buffer.from(secret)), name);
});

postgresTest('PostgreSQL (tsvector, ts_rank, ts_headline): the same answers', async (t, settings) => {
  const store = await PostgresReadStore.connect(settings);
  t.teardown(() => store.close());
  await textSearchContract(t, store);
});

test('embedded: the writer indexes an insert itself, once; an index made when a trigger did is upgraded in place, and another connection of the file indexes its inserts too', async (t) => {
  const file = join(tempDir(), 'read.sqlite');
  const store = new SqliteReadStore(file);
  t.teardown(() => store.close());
  await store.ensureIndexes('notes', [{ key: { body: 1 }, text: true }]);
  const notes = store.collection('notes');
  await notes.insertOne({ _id: 'a', body: 'a fox' });
  const rows = (phrase: string) =>
    (store.db.prepare(`SELECT count(*) AS n FROM c_notes__fts WHERE c_notes__fts MATCH ?`).get(phrase) as { n: number }).n;
  t.is(rows('fox'), 1, 'one index row per document');

  // As an earlier version left it: an insert trigger beside the update and delete ones.
  const [update] = store.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'fts_%_update'`).all() as Array<{
    name: string;
  }>;
  const legacyInsert = update!.name.replace(/_update$/, '_insert');
  store.db.exec(`CREATE TRIGGER "${legacyInsert}" AFTER INSERT ON c_notes BEGIN
    INSERT INTO c_notes__fts (rowid, body) VALUES (new.rowid, json_extract(new.doc, '$.body')); END`);
  await store.ensureIndexes('notes', [{ key: { body: 1 }, text: true }]);
  const triggers = (
    store.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'c_notes'`).all() as Array<{ name: string }>
  )
    .map((row) => row.name.replace(/^fts_[0-9a-f]+_/, ''))
    .sort();
  t.deepEqual(triggers, ['delete', 'update'], 'the insert trigger is gone, nothing rebuilt');
  await notes.insertOne({ _id: 'b', body: 'another fox' });
  t.is(rows('fox'), 2, 'the new document indexed once');

  // A connection that never declared the index (the serving thread's, say) finds it in the file.
  const other = new SqliteReadStore(file, { checkpoints: false });
  t.teardown(() => other.close());
  await other.collection('notes').insertOne({ _id: 'c', body: 'a third fox' });
  t.is(rows('fox'), 3);
  await other.collection('notes').replaceOne({ _id: 'c' }, { _id: 'c', body: 'no longer' });
  await other.collection('notes').deleteOne({ _id: 'b' });
  t.is(rows('fox'), 1, 'updates and deletes still reach the index (triggers)');
  t.deepEqual(
    (await notes.searchText!({ field: 'body', terms: ['fox'], filter: {}, limit: 10, skip: 0 })).map((hit) => hit.doc._id),
    ['a'],
  );
});
