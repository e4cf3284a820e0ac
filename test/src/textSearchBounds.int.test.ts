import { rmSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { TEXT_CANDIDATES, TEXT_SCANNED, TEXT_STATEMENT_TIMEOUT_MS, type Filter } from '../../src/readstore/port.ts';
import { PostgresReadStore } from '../../src/readstore/postgres.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { tempDir } from '../helpers/app.ts';
import { postgresTest, rawClient } from '../helpers/postgres.ts';

/**
 * The work of one full-text query on the embedded store is bounded whatever its words and filter: it looks at the
 * newest TEXT_SCANNED matches of the words only, and ranks the newest TEXT_CANDIDATES of those the filter lets through.
 */
test('embedded: a query looks at the newest TEXT_SCANNED matches only, and ranks the newest TEXT_CANDIDATES that pass the filter', async (t) => {
  const dir = tempDir();
  const store = new SqliteReadStore(join(dir, 'read.sqlite'), { checkpoints: false });
  t.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await store.ensureIndexes('notes', [{ key: { body: 1 }, text: true }, { key: { room: 1 } }]);
  await store.withTransaction(async (tx) => {
    const notes = tx.collection('notes');
    // The best match of all (the word three times in a short text), and the only one in room r2, is the oldest.
    await notes.insertOne({ _id: 'oldest', room: 'r2', body: 'needle needle needle' });
    for (let n = 0; n < TEXT_SCANNED; n++) await notes.insertOne({ _id: `n${n}`, room: 'r1', body: `a needle in haystack number ${n}` });
  });
  const notes = store.collection('notes');
  const search = (filter: Filter) => notes.searchText!({ field: 'body', terms: ['needle'], filter, limit: 5 });

  t.deepEqual(await search({ room: 'r2' }), [], 'past the newest TEXT_SCANNED matches, nothing is looked at');
  const ranked = await search({});
  t.is(ranked.length, 5);
  t.false(
    ranked.some((hit) => hit.doc._id === 'oldest'),
    'only the newest TEXT_CANDIDATES matches are ranked',
  );
  t.true(
    ranked.every((hit) => Number(hit.doc._id.slice(1)) >= TEXT_SCANNED - TEXT_CANDIDATES),
    ranked.map((hit) => hit.doc._id).join(),
  );

  await notes.insertOne({ _id: 'newest', room: 'r2', body: 'needle needle needle' });
  t.deepEqual(
    (await search({ room: 'r2' })).map((hit) => hit.doc._id),
    ['newest'],
    'a new match is found at once',
  );
  t.is((await search({})).at(0)?.doc._id, 'newest', 'and ranks first');
});

postgresTest(
  'PostgreSQL: a query looks at the newest window of `newest` values holding TEXT_SCANNED matches only, and ranks the newest TEXT_CANDIDATES that pass the filter',
  async (t, settings) => {
    const store = await PostgresReadStore.connect(settings);
    t.teardown(() => store.close());
    await store.ensureIndexes('notes', [{ key: { body: 1 }, text: true }, { key: { room: 1 } }, { key: { seq: 1 } }]);
    const notes = store.collection('notes');
    await notes.insertOne({ _id: 'oldest', seq: 0, room: 'r2', body: 'needle needle needle' });
    // The rest in one statement (ten thousand inserts one by one take a minute on a loaded machine).
    const client = await rawClient(t);
    await client.query(
      `INSERT INTO "${settings.schema}".c_notes (id, doc) SELECT 'n' || n, jsonb_build_object('_id', 'n' || n, 'seq', n, 'room', 'r1', ` +
        `'body', 'a needle in haystack number ' || n) FROM generate_series(1, ${TEXT_SCANNED}) AS n`,
    );
    const search = (filter: Filter, newest: string | undefined = 'seq') =>
      notes.searchText!({ field: 'body', terms: ['needle'], filter, limit: 5, ...(newest ? { newest } : {}) });

    t.deepEqual(await search({ room: 'r2' }), [], 'past the newest TEXT_SCANNED matches, nothing is looked at');
    const ranked = await search({});
    t.is(ranked.length, 5);
    t.true(
      ranked.every((hit) => typeof hit.doc.seq === 'number' && hit.doc.seq > TEXT_SCANNED - TEXT_CANDIDATES),
      `only the newest TEXT_CANDIDATES matches are ranked: ${ranked.map((hit) => hit.doc._id).join()}`,
    );
    t.is((await search({}, undefined)).length, 5, 'without an order to bound by, TEXT_SCANNED of the matches are looked at');

    await notes.insertOne({ _id: 'newest', seq: TEXT_SCANNED + 1, room: 'r2', body: 'needle needle needle' });
    t.deepEqual(
      (await search({ room: 'r2' })).map((hit) => hit.doc._id),
      ['newest'],
      'a new match is found at once',
    );
    t.is((await search({})).at(0)?.doc._id, 'newest', 'and ranks first');

    // The backstop: a statement kept waiting past TEXT_STATEMENT_TIMEOUT_MS (here on a lock) is cancelled, a 503.
    const locker = await rawClient(t);
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE "${settings.schema}".c_notes IN ACCESS EXCLUSIVE MODE`);
    const started = Date.now();
    const error = await t.throwsAsync(search({}));
    await locker.query('ROLLBACK');
    t.like(error, { code: 'unavailable', status: 503 });
    t.true(Date.now() - started >= TEXT_STATEMENT_TIMEOUT_MS - 100);
    t.is((await search({ room: 'r2' })).length, 1, 'and the next search runs as before');
  },
);
