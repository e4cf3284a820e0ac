import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoReadStore } from '../../src/readstore/mongo.ts';
import type { ReadStoreTransaction } from '../../src/readstore/port.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { readStoreContract } from './readstore.contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'letsapp-read-'));
const file = join(dir, 'read.sqlite');

readStoreContract('embedded SQLite', { open: async () => new SqliteReadStore(file) });

const mongo = process.env.MONGO_URI;
readStoreContract(
  'MongoDB',
  mongo
    ? { open: () => MongoReadStore.connect(mongo, 'letsapp_contract') }
    : { skip: 'MONGO_URI is not set, so no MongoDB server to run against' },
);

test('embedded read store serves indexed queries from indexes, not table scans (the SQL the adapter generates, explained)', async (t) => {
  const store = new SqliteReadStore(join(dir, 'plan.sqlite'));
  await store.ensureIndexes('people', [
    { key: { email: 1 }, unique: true },
    { key: { city: 1, age: -1 } },
    { key: { tags: 1 }, multikey: true },
  ]);
  const people = store.collection('people');
  await people.insertOne({ _id: 'a', email: 'a@x', city: 'L', age: 3, tags: ['x'] });
  // Record the SQL the adapter prepares for each query, then ask SQLite how it would run exactly that.
  const prepared: string[] = [];
  const prepare = store.prepare.bind(store);
  store.prepare = (sql, db) => {
    prepared.push(sql);
    return prepare(sql, db);
  };
  const planOf = async (query: () => Promise<unknown>) => {
    prepared.length = 0;
    await query();
    const sql = prepared.find((text) => text.startsWith('SELECT'))!;
    const params = Array.from({ length: (sql.match(/\?/g) ?? []).length }, () => null);
    return {
      sql,
      plan: (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail).join(' | '),
    };
  };
  const byEmail = await planOf(() => people.findOne({ email: 'a@x' }));
  t.regex(byEmail.plan, /USING (COVERING )?INDEX/, byEmail.sql);
  const sorted = await planOf(() => people.find({ city: 'L' }, { sort: { age: -1 } }));
  t.regex(sorted.plan, /USING (COVERING )?INDEX/, sorted.sql);
  t.notRegex(sorted.plan, /TEMP B-TREE/, sorted.sql);
  const byTag = await planOf(() => people.find({ tags: 'x' }));
  t.notRegex(byTag.plan, /SCAN c_people__elements/, byTag.sql);
  t.regex(byTag.plan, /c_people__elements/, byTag.sql);
  const unindexed = await planOf(() => people.find({ nickname: 'z' }));
  t.regex(unindexed.plan, /SCAN c_people/, 'an unindexed field scans, which shows the check can fail');
  t.deepEqual(
    (await people.find({ tags: 'x' })).map((d) => d._id),
    ['a'],
  );
  t.deepEqual(
    (await people.find({ city: 'L' }, { sort: { age: -1 } })).map((d) => d._id),
    ['a'],
  );
  await store.close();
});

test('a second connection that never declared the indexes (the serving thread beside the projection worker) still queries a multikey field through its index', async (t) => {
  const file = join(dir, 'multikey-reader.sqlite');
  const writer = new SqliteReadStore(file);
  t.teardown(() => writer.close());
  await writer.ensureIndexes('entries', [{ key: { userIds: 1 }, multikey: true }, { key: { position: 1 } }]);
  await writer.withTransaction(async (tx) => {
    for (let position = 1; position <= 20_000; position++) {
      await tx.collection('entries').insertOne({ _id: String(position), position, userIds: position % 1_000 === 0 ? ['named'] : [] });
    }
  });
  const reader = new SqliteReadStore(file, { checkpoints: false });
  t.teardown(() => reader.close());
  const prepared: string[] = [];
  const prepare = reader.prepare.bind(reader);
  reader.prepare = (sql, db) => {
    prepared.push(sql);
    return prepare(sql, db);
  };
  const page = await reader
    .collection<{ _id: string; position: number }>('entries')
    .find({ userIds: 'named', position: { $gt: 0 } }, { sort: { position: 1 }, limit: 500 });
  t.deepEqual(
    page.map((doc) => doc.position),
    Array.from({ length: 20 }, (_, i) => (i + 1) * 1_000),
  );
  const sql = prepared.find((text) => text.startsWith('SELECT doc'))!;
  const params = Array.from({ length: (sql.match(/\?/g) ?? []).length }, () => null);
  const plan = (reader.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>)
    .map((row) => row.detail)
    .join(' | ');
  t.regex(plan, /c_entries__elements USING PRIMARY KEY/, sql);
  t.notRegex(sql, /json_each/, 'not a parse of every document in the collection');
});

test('embedded read store keeps index columns filled for a collection declared in an earlier run', async (t) => {
  const file = join(dir, 'columns.sqlite');
  const first = new SqliteReadStore(file);
  await first.ensureIndexes('things', [{ key: { kind: 1 } }]);
  await first.collection('things').insertOne({ _id: 'a', kind: 'x' });
  await first.close();
  const second = new SqliteReadStore(file);
  await second.collection('things').insertOne({ _id: 'b', kind: 'x' });
  await second.collection('things').updateOne({ _id: 'a' }, { $set: { kind: 'y' } });
  t.deepEqual(
    (await second.collection('things').find({ kind: 'x' })).map((d) => d._id),
    ['b'],
  );
  t.deepEqual(second.db.prepare('SELECT id, "p:kind" AS kind FROM c_things ORDER BY id').all(), [
    { id: 'a', kind: 'y' },
    { id: 'b', kind: 'x' },
  ]);
  await second.close();
});

test('a read store made when tables were keyed WITHOUT ROWID keeps working: writes, duplicates, guarded replaces, multikey reads', async (t) => {
  const file = join(dir, 'without-rowid.sqlite');
  const old = new SqliteReadStore(file);
  // The layout of earlier versions: documents stored in the primary key's b-tree. New tables are rowid tables.
  old.db.exec('CREATE TABLE c_notes (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID');
  await old.close();
  const store = new SqliteReadStore(file);
  t.teardown(() => store.close());
  await store.ensureIndexes('notes', [{ key: { owner: 1 } }, { key: { tags: 1 }, multikey: true }]);
  const notes = store.collection<{ _id: string; owner: string; tags: string[]; _position: number }>('notes');
  await notes.insertOne({ _id: 'n1', owner: 'a', tags: ['x', 'y'], _position: 1 });
  const duplicate = await notes.insertOne({ _id: 'n1', owner: 'b', tags: [], _position: 2 }).catch((error: unknown) => error);
  t.like(duplicate, { code: 'duplicate_key', details: { onId: true } });
  t.like(await notes.replaceOne({ _id: 'n1', _position: { $lt: 1 } }, { _id: 'n1', owner: 'stale', tags: [], _position: 1 }), {
    matched: 0,
  });
  t.like(await notes.replaceOne({ _id: 'n1', _position: { $lt: 3 } }, { _id: 'n1', owner: 'a', tags: ['z'], _position: 3 }), {
    matched: 1,
  });
  t.deepEqual(
    (await notes.find({ tags: 'z' })).map((doc) => doc._id),
    ['n1'],
  );
  t.deepEqual(await notes.find({ tags: 'x' }), [], "the replaced document's old elements are gone");
  t.deepEqual(
    (await notes.find({ owner: 'a' })).map((doc) => doc.tags),
    [['z']],
  );
  t.regex((store.db.prepare(`SELECT sql FROM sqlite_master WHERE name = 'c_notes'`).get() as { sql: string }).sql, /WITHOUT ROWID/);
});

test('an update rewrites only the index entries whose values change (fewer pages written per projected event)', async (t) => {
  const store = new SqliteReadStore(join(dir, 'index-writes.sqlite'), { checkpoints: false });
  t.teardown(() => store.close());
  await store.ensureIndexes('members', [{ key: { userId: 1 } }, { key: { conversationId: 1 } }, { key: { tags: 1 }, multikey: true }]);
  const members = store.collection<{ _id: string; userId: string; conversationId: string; readUpTo: number; tags: string[] }>('members');
  await store.withTransaction(async (tx) => {
    for (let i = 0; i < 3_000; i++) {
      await tx
        .collection('members')
        .insertOne({ _id: `m${i}`, userId: randomUUID(), conversationId: randomUUID(), readUpTo: 0, tags: [randomUUID()] });
    }
  });
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  const docs = await members.find({}, { limit: 100 });
  // A read mark moves: nothing indexed changes, so each update dirties the document's own page and no index page.
  await store.withTransaction(async (tx) => {
    for (const doc of docs) await tx.collection('members').replaceOne({ _id: doc._id }, { ...doc, readUpTo: 5 });
  });
  const frames = (store.db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>)[0]!.log;
  t.true(frames < docs.length / 2, `${frames} pages written for ${docs.length} updates`);
  // What does change is rewritten, and found by its new value only.
  const [first] = docs;
  await members.replaceOne({ _id: first!._id }, { ...first!, userId: 'moved', tags: [first!.tags[0]!, 'added'] });
  t.deepEqual(
    (await members.find({ userId: 'moved' })).map((doc) => doc._id),
    [first!._id],
  );
  t.deepEqual(await members.find({ userId: first!.userId }), []);
  t.deepEqual(
    (await members.find({ tags: 'added' })).map((doc) => doc._id),
    [first!._id],
  );
  t.deepEqual(
    (await members.find({ tags: first!.tags[0]! })).map((doc) => doc._id),
    [first!._id],
  );
  await members.replaceOne({ _id: first!._id }, { ...first!, userId: 'moved', tags: ['added'] });
  t.deepEqual(await members.find({ tags: first!.tags[0]! }), [], 'an element that went is gone');
});

test('after SQLite rolls a transaction back by itself, its later writes fail instead of committing on their own', async (t) => {
  const store = new SqliteReadStore(join(dir, 'rolled-back.sqlite'));
  t.teardown(() => store.close());
  await store.ensureIndexes('docs', []);
  // A trigger stands in for a full disk or an I/O error, after which SQLite has rolled the whole transaction back.
  store.db.exec(`CREATE TRIGGER fail_all BEFORE INSERT ON c_docs WHEN NEW.id = 'fatal' BEGIN SELECT RAISE(ROLLBACK, 'rolled back'); END`);
  const outcome = await store
    .withTransaction(async (tx) => {
      const docs = tx.collection('docs');
      await docs.insertOne({ _id: 'first' });
      // A caller that swallows the failure (as a projector's own error handling might) and writes on.
      await docs.insertOne({ _id: 'fatal' }).catch(() => undefined);
      await docs.replaceOne({ _id: 'checkpoint' }, { _id: 'checkpoint', position: 9 }, { upsert: true });
    })
    .then(
      () => 'committed',
      (error: Error) => error.message,
    );
  t.deepEqual(await store.collection('docs').find({}), [], 'nothing of it is stored, the write after the failure included');
  t.regex(outcome, /rolled this transaction back/);
  await store.collection('docs').insertOne({ _id: 'later' });
  t.deepEqual(
    (await store.collection('docs').find({})).map((doc) => doc._id),
    ['later'],
  );
});

test('a transaction owns the connection: others do not read its uncommitted writes, and their writes are not rolled back with it', async (t) => {
  const store = new SqliteReadStore(join(mkdtempSync(join(tmpdir(), 'letsapp-read-')), 'read.sqlite'));
  t.teardown(() => store.close());
  const things = store.collection('things');
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started!: () => void;
  const open = new Promise<void>((resolve) => {
    started = resolve;
  });
  const batch = store.withTransaction(async (tx) => {
    await tx.collection('things').insertOne({ _id: 'uncommitted' });
    started();
    await held;
    throw new Error('this batch fails and rolls back');
  });
  await open;
  t.is(await things.findOne({ _id: 'uncommitted' }), null, 'a read outside sees only what is committed');
  t.is(await things.countDocuments({}), 0);
  const outside = things.insertOne({ _id: 'independent' });
  release();
  await t.throwsAsync(batch, { message: /rolls back/ });
  await outside;
  t.deepEqual(
    (await things.find({})).map((doc) => doc._id),
    ['independent'],
    'the write made meanwhile survived the rollback',
  );
  let leaked: ReadStoreTransaction | null = null;
  await store.withTransaction(async (tx) => {
    leaked = tx;
  });
  t.throws(() => leaked!.collection('things'), { message: /transaction has ended/ }, 'a handle is dead after its transaction');
});
