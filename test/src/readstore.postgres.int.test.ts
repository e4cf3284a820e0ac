import pg from 'pg';
import { ConflictError, ValidationError } from '../../commands/shared/errors.ts';
import { PostgresReadStore } from '../../src/readstore/postgres.ts';
import { isDuplicateId } from '../../src/readstore/port.ts';
import { postgresFactory, postgresTest, testDatabaseUrl } from '../helpers/postgres.ts';
import { readStoreContract } from './readstore.contract.ts';

readStoreContract(
  'PostgreSQL',
  postgresFactory((settings) => PostgresReadStore.connect(settings)),
);

postgresTest(
  'PostgreSQL read store serves indexed filters and sorts from its indexes (the SQL the adapter runs, explained)',
  async (t, settings) => {
    const store = await PostgresReadStore.connect(settings);
    t.teardown(() => store.close());
    await store.ensureIndexes('people', [
      { key: { email: 1 }, unique: true },
      { key: { city: 1, age: -1 } },
      { key: { tags: 1 }, multikey: true },
    ]);
    const people = store.collection('people');
    await store.withTransaction(async (tx) => {
      for (let i = 0; i < 2_000; i++) {
        await tx
          .collection('people')
          .insertOne({ _id: `p${i}`, email: `${i}@x`, city: `c${i % 50}`, age: i % 90, tags: [`t${i % 100}`, 'all'], nickname: `n${i}` });
      }
    });
    // Record each statement the adapter sends, then ask PostgreSQL how it runs exactly that, with those parameters.
    const client = new pg.Client({ connectionString: testDatabaseUrl! });
    await client.connect();
    t.teardown(() => client.end());
    await client.query(`SET search_path = "${settings.schema}"`);
    await client.query('ANALYZE c_people');
    // The store's private pool: every statement it sends is recorded on the way.
    const pool = Reflect.get(store, 'pool') as pg.Pool;
    const original = pool.query.bind(pool);
    const sent: Array<{ sql: string; params: unknown[] }> = [];
    Object.assign(pool, {
      query: (sql: string, params: unknown[]) => {
        sent.push({ sql, params });
        return original(sql, params);
      },
    });
    const planOf = async (query: () => Promise<unknown>) => {
      sent.length = 0;
      await query();
      const { sql, params } = sent.find((statement) => statement.sql.startsWith('SELECT doc'))!;
      await client.query('SET enable_seqscan = off'); // a small table: ask whether the index can serve it at all
      const plan = (await client.query(`EXPLAIN ${sql}`, params)).rows.map((row) => row['QUERY PLAN']).join('\n');
      await client.query('RESET enable_seqscan');
      return { sql, plan };
    };
    const byEmail = await planOf(() => people.findOne({ email: '7@x' }));
    t.regex(byEmail.plan, /Index Scan using ix_/, `${byEmail.sql}\n${byEmail.plan}`);
    const sorted = await planOf(() => people.find({ city: 'c7' }, { sort: { age: -1 }, limit: 5 }));
    t.regex(sorted.plan, /Index Scan using ix_/, sorted.plan);
    t.notRegex(sorted.plan, /Sort/, `sorted by the index, not after it: ${sorted.plan}`);
    const byTag = await planOf(() => people.find({ tags: 't7' }));
    t.regex(byTag.plan, /Bitmap Index Scan on ix_/, byTag.plan);
    const unindexed = await planOf(() => people.find({ nickname: 'n7' }));
    t.regex(unindexed.plan, /Seq Scan/, 'an unindexed field scans, which shows the check can fail');
    t.deepEqual(
      (await people.find({ tags: 't7' }, { sort: { _id: 1 }, limit: 3 })).map((d) => d._id),
      ['p1007', 'p107', 'p1107'],
    );
  },
);

postgresTest(
  "PostgreSQL read store: a projector's position guard applies a newer document, refuses an older one as a duplicate id, and a transaction commits all or nothing",
  async (t, settings) => {
    const store = await PostgresReadStore.connect(settings);
    t.teardown(() => store.close());
    const docs = store.collection('guarded');
    await docs.replaceOne({ _id: 'a', _position: { $lt: 5 } }, { _id: 'a', _position: 5, v: 'five' }, { upsert: true });
    await docs.replaceOne({ _id: 'a', _position: { $lt: 7 } }, { _id: 'a', _position: 7, v: 'seven' }, { upsert: true });
    const stale = await t.throwsAsync(
      docs.replaceOne({ _id: 'a', _position: { $lt: 6 } }, { _id: 'a', _position: 6, v: 'six' }, { upsert: true }),
    );
    t.true(isDuplicateId(stale), 'an older event meets a newer document');
    t.like(await docs.findOne({ _id: 'a' }), { v: 'seven' });

    // Inside a transaction the refused write does not abort it: the batch goes on and commits.
    await store.withTransaction(async (tx) => {
      const inTx = tx.collection('guarded');
      await t.throwsAsync(inTx.replaceOne({ _id: 'a', _position: { $lt: 6 } }, { _id: 'a', _position: 6, v: 'six' }, { upsert: true }), {
        instanceOf: ConflictError,
      });
      await inTx.insertOne({ _id: 'b', _position: 8 });
    });
    t.deepEqual(
      (await docs.find({}, { sort: { _id: 1 } })).map((d) => d._id),
      ['a', 'b'],
    );
    await t.throwsAsync(
      store.withTransaction(async (tx) => {
        await tx.collection('guarded').insertOne({ _id: 'c', _position: 9 });
        throw new Error('the batch fails');
      }),
    );
    t.is(await docs.findOne({ _id: 'c' }), null, 'nothing of a failed batch is written');
    await t.throwsAsync(docs.updateOne({ _id: 'a' }, { $inc: { v: 1 } }), { instanceOf: ValidationError });
  },
);

postgresTest(
  'PostgreSQL read store: a rebuilt collection is swapped in by one transaction, indexes and all, while the old one serves until the commit',
  async (t, settings) => {
    const store = await PostgresReadStore.connect(settings);
    t.teardown(() => store.close());
    await store.ensureIndexes('live', [{ key: { tags: 1 }, multikey: true }, { key: { n: 1 } }]);
    await store.collection('live').insertOne({ _id: 'old', tags: ['x'], n: 1 });
    await store.ensureIndexes('live__rebuild', [{ key: { tags: 1 }, multikey: true }, { key: { n: 1 } }]);
    await store.collection('live__rebuild').insertOne({ _id: 'new', tags: ['x'], n: 2 });
    // Another instance reads meanwhile.
    const other = await PostgresReadStore.connect(settings);
    t.teardown(() => other.close());
    t.deepEqual(
      (await other.collection('live').find({})).map((d) => d._id),
      ['old'],
    );
    // Asserted, not annotated: TypeScript would narrow it to null, not seeing the callback below assign it.
    let reading = null as Promise<string[]> | null;
    let answeredDuringSwap = false;
    await store.withTransaction(async (tx) => {
      await tx.renameCollections([{ from: 'live__rebuild', to: 'live' }]);
      reading = other
        .collection('live')
        .find({})
        .then((docs) => docs.map((d) => d._id));
      void reading.then(() => {
        answeredDuringSwap = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      t.false(answeredDuringSwap, 'a read during the swap waits for it');
    });
    t.deepEqual(await reading, ['new'], 'and then sees the new collection, never an empty or missing one');
    t.deepEqual(
      (await store.collection('live').find({ tags: 'x' })).map((d) => d._id),
      ['new'],
    );
    // The renamed indexes carry the live name: a next rebuild makes its own again without a clash.
    await store.ensureIndexes('live__rebuild', [{ key: { tags: 1 }, multikey: true }, { key: { n: 1 } }]);
    await store.collection('live__rebuild').insertOne({ _id: 'newer', tags: ['x'], n: 3 });
    await store.renameCollections([{ from: 'live__rebuild', to: 'live' }]);
    t.deepEqual(
      (await store.collection('live').find({ tags: 'x' })).map((d) => d._id),
      ['newer'],
    );
  },
);
