import test from 'ava';
import {
  MongoClient,
  MongoError,
  MongoErrorLabel,
  MongoNetworkError,
  MongoNetworkTimeoutError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
} from 'mongodb';
import { ConflictError, UnavailableError, ValidationError } from '../../commands/shared/errors.ts';
import {
  assertCollectionName,
  assertSafeDocument,
  assertSafeFilter,
  assertSafeFindOptions,
  assertSafeIndexes,
  assertSafeUpdate,
  assertUpsertFilter,
} from '../../src/readstore/filterSafety.ts';
import { MongoReadStore, fromMongoError, supportsTransactions } from '../../src/readstore/mongo.ts';
import { join } from 'node:path';
import { pino } from 'pino';
import { eventUpcaster } from '../../commands/upcasters.ts';
import type { NewEvent } from '../../src/eventstore/port.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { newId } from '../../src/ids.ts';
import { LeaseLost, ProjectionLease } from '../../src/projection/lease.ts';
import type { Projector } from '../../src/projection/projector.ts';
import { ProjectionRunner } from '../../src/projection/runner.ts';
import { isDuplicateId } from '../../src/readstore/port.ts';
import { tempDir } from '../helpers/app.ts';
import { fakeMongo } from '../helpers/fakeMongo.ts';

const refuses = (t: import('ava').ExecutionContext, check: () => void, message?: RegExp) => {
  const error = t.throws(check, { instanceOf: ValidationError });
  if (message) t.regex(error.message, message);
};

// --- filterSafety: filters -------------------------------------------------------------------------------------

test('filters: the port operators pass; $where, $expr, $regex, $function, $accumulator and any other $ key are refused', (t) => {
  t.notThrows(() =>
    assertSafeFilter({
      city: 'London',
      'address.zip': 'N1',
      active: true,
      deleted: null,
      _id: { $in: ['a', 'b'] },
      tags: { $nin: [] },
      age: { $gte: 30, $lt: 60, $ne: 45 },
      name: { $eq: 'Ada', $gt: 'A', $lte: 'Z' },
      email: { $exists: false },
      $or: [{ city: 'Rome' }, { $and: [{ age: 25 }, { missing: undefined }] }],
    }),
  );
  for (const filter of [
    { $where: 'sleep(1000)' },
    { $expr: { $gt: ['$a', '$b'] } },
    { $nor: [{ a: 1 }] },
    { $comment: 'x' },
    { $text: { $search: 'x' } },
    { name: { $regex: '^A' } },
    { name: { $where: '1' } },
    { name: { $function: { body: 'return 1', args: [], lang: 'js' } } },
    { name: { $accumulator: {} } },
    { tags: { $elemMatch: { $eq: 'x' } } },
    { $or: [{ city: 'Rome' }, { $where: '1' }] },
    { $and: [{ name: { $not: { $eq: 'x' } } }] },
  ]) {
    refuses(t, () => assertSafeFilter(filter), /Unsupported filter operator/);
  }
});

test('filters: field paths must be plain dotted names, compared to scalars or the right operand shapes', (t) => {
  refuses(t, () => assertSafeFilter({ 'name; DROP TABLE x': 'a' }), /Invalid field path/);
  refuses(t, () => assertSafeFilter({ 'tags.$': 'a' }), /Invalid field path/);
  refuses(t, () => assertSafeFilter({ 'a..b': 1 }), /Invalid field path/);
  refuses(t, () => assertSafeFilter({ address: { zip: 'N1' } }), /scalars only/);
  refuses(t, () => assertSafeFilter({ address: { $eq: 'N1', zip: 'N1' } }), /scalars only/);
  refuses(t, () => assertSafeFilter({ tags: ['a', 'b'] }), /scalars only/);
  refuses(t, () => assertSafeFilter({ age: {} }), /scalars only/);
  refuses(t, () => assertSafeFilter({ age: Number.NaN }), /scalars only/);
  refuses(t, () => assertSafeFilter({ at: new Date(0) }), /scalars only/);
  refuses(t, () => assertSafeFilter({ age: { $gt: { $numberLong: '1' } } }), /\$gt takes a scalar/);
  refuses(t, () => assertSafeFilter({ _id: { $in: 'a' } }), /\$in takes an array/);
  refuses(t, () => assertSafeFilter({ _id: { $nin: [{ $gt: '' }] } }), /\$nin takes an array of scalars/);
  refuses(t, () => assertSafeFilter({ age: { $exists: 1 } }), /\$exists takes a boolean/);
  refuses(t, () => assertSafeFilter({ $and: [] }), /non-empty array/);
  refuses(t, () => assertSafeFilter({ $or: { city: 'Rome' } }), /non-empty array/);
  refuses(t, () => assertSafeFilter({ $or: ['city'] }), /A filter is an object/);
  refuses(t, () => assertSafeFilter(null), /A filter is an object/);
});

test('filters nested deeper than MongoDB allows are refused as input, not crashed on', (t) => {
  let deep: Record<string, unknown> = { a: 1 };
  for (let i = 0; i < 150; i++) deep = { $and: [deep] };
  refuses(t, () => assertSafeFilter(deep), /nested deeper/);
});

// --- filterSafety: updates and documents ---------------------------------------------------------------------

test('updates: the port operators pass, others ($rename, $currentDate, $max, positional paths) are refused', (t) => {
  t.notThrows(() =>
    assertSafeUpdate({
      $set: { 'address.zip': '75001', name: 'Bobby', profile: { bio: 'hi', links: [{ url: 'https://x.y/a.b' }] } },
      $unset: { active: '' },
      $inc: { age: 2 },
      $push: { friends: { $each: [{ id: 'c', since: 2021 }] } },
      $addToSet: { tags: 'film' },
      $pull: { blocked: { $in: ['u1', 'u2'] } },
      $setOnInsert: { createdAt: '2026-01-01' },
    }),
  );
  t.notThrows(() => assertSafeUpdate({ $pull: { friends: { id: 'c' } }, $push: { log: 'x' }, $addToSet: { tags: { $each: ['a'] } } }));
  refuses(t, () => assertSafeUpdate({ $rename: { a: 'b' } }), /Unsupported update operator \$rename/);
  refuses(t, () => assertSafeUpdate({ $currentDate: { at: true } }), /Unsupported update operator/);
  refuses(t, () => assertSafeUpdate({ $max: { age: 1 } }), /Unsupported update operator/);
  refuses(t, () => assertSafeUpdate({ name: 'Replacement' }), /Unsupported update operator name/);
  refuses(t, () => assertSafeUpdate({ $set: { 'tags.$': 'x' } }), /Invalid field path/);
  refuses(t, () => assertSafeUpdate({ $set: { 'tags.$[]': 'x' } }), /Invalid field path/);
  refuses(t, () => assertSafeUpdate({ $set: ['a'] }), /takes an object of field paths/);
  refuses(t, () => assertSafeUpdate({}), /at least one operator/);
  refuses(t, () => assertSafeUpdate({ $set: {} }), /at least one operator/);
});

test('updates: operands are checked ($each alone, $in alone in $pull, no query operators, finite $inc)', (t) => {
  refuses(t, () => assertSafeUpdate({ $push: { log: { $each: ['x'], $slice: -5 } } }), /\{ \$each: \[\.\.\.\] \} alone/);
  refuses(t, () => assertSafeUpdate({ $push: { log: { $each: 'x' } } }), /\$each/);
  refuses(t, () => assertSafeUpdate({ $addToSet: { tags: { $each: [{ $where: '1' }] } } }), /Field names cannot contain/);
  refuses(t, () => assertSafeUpdate({ $pull: { tags: { $in: ['a'], $nin: ['b'] } } }), /\{ \$in: \[\.\.\.\] \} alone/);
  refuses(t, () => assertSafeUpdate({ $pull: { scores: { $gt: 5 } } }), /Field names cannot contain/);
  refuses(t, () => assertSafeUpdate({ $pull: { friends: { 'profile.id': 'c' } } }), /Field names cannot contain/);
  refuses(t, () => assertSafeUpdate({ $pull: { friends: { $elemMatch: { id: 'c' } } } }), /Field names cannot contain/);
  refuses(t, () => assertSafeUpdate({ $inc: { age: '1' } }), /\$inc needs a finite number/);
  refuses(t, () => assertSafeUpdate({ $inc: { age: Number.POSITIVE_INFINITY } }), /\$inc needs a finite number/);
  refuses(t, () => assertSafeUpdate({ $set: { profile: { $set: { admin: true } } } }), /Field names cannot contain/);
  refuses(t, () => assertSafeUpdate({ $setOnInsert: { map: { 'a.b': 1 } } }), /Field names cannot contain/);
});

test('updates whose paths overlap, which MongoDB refuses and SQLite would apply in turn, are refused', (t) => {
  refuses(t, () => assertSafeUpdate({ $set: { age: 1 }, $inc: { age: 1 } }), /conflict/);
  refuses(t, () => assertSafeUpdate({ $set: { address: {}, 'address.zip': 'N1' } }), /conflict/);
  refuses(t, () => assertSafeUpdate({ $unset: { a: '' }, $set: { 'a.b.c': 1, b: 2 } }), /conflict/);
  t.notThrows(() => assertSafeUpdate({ $set: { a: 1, ab: 2, 'a_b.c': 3, 'b.a': 4 }, $inc: { 'b.b': 1 } }));
});

test('stored documents need a string _id and JSON-shaped data with no ".", "$" or NUL in any key', (t) => {
  t.notThrows(() =>
    assertSafeDocument({ _id: 'a', name: 'Ada', tags: ['x'], nested: { list: [{ k: 1 }], empty: null }, skipped: undefined }),
  );
  refuses(t, () => assertSafeDocument({ name: 'no id' }), /string _id/);
  refuses(t, () => assertSafeDocument({ _id: '' }), /string _id/);
  refuses(t, () => assertSafeDocument({ _id: 7 }), /string _id/);
  refuses(t, () => assertSafeDocument({ _id: 'a', $set: { x: 1 } }), /Field names cannot contain/);
  refuses(t, () => assertSafeDocument({ _id: 'a', 'a.b': 1 }), /Field names cannot contain/);
  refuses(t, () => assertSafeDocument({ _id: 'a', deep: { list: [{ ok: 1 }, { x$y: 2 }] } }), /Field names cannot contain/);
  refuses(t, () => assertSafeDocument({ _id: 'a', 'nul\0key': 1 }), /Field names cannot contain/);
  refuses(t, () => assertSafeDocument({ _id: 'a', at: new Date(0) }), /only JSON-shaped data/);
  refuses(t, () => assertSafeDocument({ _id: 'a', blob: Buffer.from('x') }), /only JSON-shaped data/);
  refuses(t, () => assertSafeDocument({ _id: 'a', big: 1n }), /only JSON-shaped data/);
  refuses(t, () => assertSafeDocument({ _id: 'a', ratio: Number.NaN }), /only JSON-shaped data/);
  let deep: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < 120; i++) deep = { next: deep };
  refuses(t, () => assertSafeDocument({ _id: 'a', deep }), /nested deeper/);
});

test('sorts, limits, skips, indexes, upsert filters and collection names are checked like the embedded adapter does', (t) => {
  t.notThrows(() => assertSafeFindOptions({ sort: { city: 1, 'address.zip': -1, _id: 1 }, limit: 10, skip: 0 }));
  refuses(t, () => assertSafeFindOptions({ sort: { age: 'desc' } }), /1 or -1/);
  refuses(t, () => assertSafeFindOptions({ sort: { score: { $meta: 'textScore' } } }), /1 or -1/);
  refuses(t, () => assertSafeFindOptions({ sort: { 'a b': 1 } }), /Invalid field path/);
  refuses(t, () => assertSafeFindOptions({ limit: -1 }), /limit/);
  refuses(t, () => assertSafeFindOptions({ skip: 1.5 }), /skip/);
  t.notThrows(() =>
    assertSafeIndexes([
      { key: { city: 1, age: -1 }, unique: true },
      { key: { tags: 1 }, multikey: true },
    ]),
  );
  refuses(t, () => assertSafeIndexes([{ key: { tags: 1, city: 1 }, multikey: true }]), /multikey/);
  refuses(t, () => assertSafeIndexes([{ key: { tags: 1 }, multikey: true, unique: true }]), /multikey/);
  refuses(t, () => assertSafeIndexes([{ key: {} }]), /at least one field/);
  refuses(t, () => assertSafeIndexes([{ key: { body: 'text' } }]), /1 or -1/);
  t.notThrows(() => assertUpsertFilter({ _id: 'n' }));
  t.notThrows(() => assertUpsertFilter({ _id: { $eq: 'n' }, kind: 'x' }));
  refuses(t, () => assertUpsertFilter({ name: 'New' }), /must name the _id/);
  refuses(t, () => assertUpsertFilter({ _id: { $in: ['n'] } }), /must name the _id/);
  t.notThrows(() => assertCollectionName('messages__rebuild'));
  refuses(t, () => assertCollectionName('system.users'), /Invalid collection name/);
  refuses(t, () => assertCollectionName('a$b'), /Invalid collection name/);
  refuses(t, () => assertCollectionName(''), /Invalid collection name/);
});

// --- error mapping -------------------------------------------------------------------------------------------

const serverError = (code: number, labels: string[] = [], codeName = 'X') =>
  new MongoServerError({ message: `server said ${code}`, code, codeName, errorLabels: labels });

test('driver outages map to UnavailableError (503) keeping the cause', (t) => {
  const outages: Error[] = [
    new MongoNetworkError('connection reset'),
    new MongoNetworkTimeoutError('socket timed out'),
    new MongoServerSelectionError('no primary available', {} as never),
    new MongoNotConnectedError('connect first'),
    serverError(10107, [], 'NotWritablePrimary'),
    serverError(11602, [], 'InterruptedDueToReplStateChange'),
    serverError(91, [], 'ShutdownInProgress'),
    serverError(112, [MongoErrorLabel.TransientTransactionError], 'WriteConflict'),
    serverError(1, [MongoErrorLabel.RetryableWriteError]),
    serverError(50, [MongoErrorLabel.UnknownTransactionCommitResult], 'MaxTimeMSExpired'),
  ];
  for (const outage of outages) {
    const mapped = fromMongoError(outage, 'people');
    t.true(mapped instanceof UnavailableError, `${outage.name}: ${outage.message}`);
    t.like(mapped, { status: 503, code: 'unavailable', cause: outage });
  }
});

test('a duplicate key is the duplicate_key conflict, a changed _id a validation error, other failures pass through', (t) => {
  const duplicate = fromMongoError(serverError(11000, [], 'DuplicateKey'), 'people');
  t.true(duplicate instanceof ConflictError);
  t.like(duplicate, { status: 409, code: 'duplicate_key', details: { collection: 'people' } });
  t.true(fromMongoError(serverError(66, [], 'ImmutableField'), 'people') instanceof ValidationError);
  const badValue = serverError(2, [], 'BadValue');
  t.is(fromMongoError(badValue, 'people'), badValue);
  const plain = new Error('boom');
  t.is(fromMongoError(plain), plain);
  const api = new MongoError('misuse');
  t.is(fromMongoError(api), api);
});

test('transactions are used on a replica set member or a mongos, not on a standalone server', (t) => {
  t.true(supportsTransactions({ isWritablePrimary: true, setName: 'rs0' }));
  t.true(supportsTransactions({ isWritablePrimary: true, msg: 'isdbgrid' }));
  t.false(supportsTransactions({ isWritablePrimary: true, maxWireVersion: 21 }));
});

// --- the adapter over a fake driver --------------------------------------------------------------------------

interface Call {
  op: string;
  session: unknown;
}

/** A stand-in for the driver: records each collection call with the session it carried. */
function fakeDriver() {
  const calls: Call[] = [];
  const log: string[] = [];
  // What the driver throws next, as it is: driver errors are not all Error instances.
  let failure: { error: unknown } | null = null;
  const record = (op: string, options?: { session?: unknown }) => {
    calls.push({ op, session: options?.session });
    if (failure) throw failure.error;
  };
  const collection = {
    findOne: async (_filter: unknown, options?: { session?: unknown }) => {
      record('findOne', options);
      return null;
    },
    find: (_filter: unknown, options?: { session?: unknown }) => {
      record('find', options);
      const cursor = { sort: () => cursor, skip: () => cursor, limit: () => cursor, toArray: async () => [] };
      return cursor;
    },
    countDocuments: async (_filter: unknown, options?: { session?: unknown }) => {
      record('countDocuments', options);
      return 0;
    },
    insertOne: async (_doc: unknown, options?: { session?: unknown }) => {
      record('insertOne', options);
    },
    replaceOne: async (_f: unknown, _d: unknown, options?: { session?: unknown }) => {
      record('replaceOne', options);
      return { matchedCount: 1, modifiedCount: 1, upsertedId: null };
    },
    updateOne: async (_f: unknown, _u: unknown, options?: { session?: unknown }) => {
      record('updateOne', options);
      return { matchedCount: 0, modifiedCount: 0, upsertedId: 'n' };
    },
    updateMany: async (_f: unknown, _u: unknown, options?: { session?: unknown }) => {
      record('updateMany', options);
      return { matchedCount: 2, modifiedCount: 2, upsertedId: null };
    },
    deleteOne: async (_f: unknown, options?: { session?: unknown }) => {
      record('deleteOne', options);
      return { deletedCount: 1 };
    },
    deleteMany: async (_f: unknown, options?: { session?: unknown }) => {
      record('deleteMany', options);
      return { deletedCount: 2 };
    },
    drop: async () => {
      log.push('drop');
      return true;
    },
    createIndex: async () => {
      log.push('createIndex');
      return 'ix';
    },
  };
  let inTransaction = false;
  const session = {
    retries: 0,
    inTransaction: () => inTransaction,
    startTransaction: () => {
      log.push('startTransaction');
      inTransaction = true;
    },
    commitTransaction: async () => {
      log.push('commitTransaction');
      inTransaction = false;
    },
    endSession: async () => {
      log.push('endSession');
    },
    /** Like the driver: start, run the callback, commit; `retries` re-runs it as after a transient commit error. */
    async withTransaction<T>(callback: (s: unknown) => Promise<T>): Promise<T> {
      let result!: T;
      for (let attempt = 0; attempt <= session.retries; attempt++) {
        session.startTransaction();
        result = await callback(session);
        if (inTransaction) await session.commitTransaction();
      }
      return result;
    },
  };
  const db = {
    collection: () => collection,
    listCollections: () => ({ toArray: async () => [{ name: 'people__rebuild' }] }),
    renameCollection: async (from: string, to: string, options?: { session?: unknown }) => {
      log.push(`rename ${from}->${to}${options?.session ? ' (in session)' : ''}`);
    },
  };
  const client = {
    db: () => db,
    startSession: () => {
      log.push('startSession');
      return session;
    },
    close: async () => undefined,
  };
  return {
    calls,
    log,
    session,
    fail: (error: unknown) => {
      failure = { error };
    },
    // eslint-disable-next-line no-restricted-syntax -- a fake of the few MongoDB client methods the adapter calls, not the whole client.
    open: (transactional: boolean) => MongoReadStore.over(client as unknown as MongoClient, 'letsapp', transactional),
  };
}

const touchEveryMethod = async (store: Pick<MongoReadStore, 'collection'>) => {
  const people = store.collection('people');
  await people.findOne({ _id: 'a' });
  await people.find({ city: 'London' }, { sort: { age: 1 }, limit: 2 });
  await people.countDocuments({});
  await people.insertOne({ _id: 'z', name: 'Zed' });
  await people.replaceOne({ _id: 'z' }, { _id: 'z', name: 'Zed' }, { upsert: true });
  await people.updateOne({ _id: 'n' }, { $set: { name: 'New' } }, { upsert: true });
  await people.updateMany({ city: 'London' }, { $inc: { age: 1 } });
  await people.deleteOne({ _id: 'z' });
  await people.deleteMany({ city: 'Rome' });
};

test("every call through a transaction's handle carries its session; calls through the store carry none, even meanwhile", async (t) => {
  const driver = fakeDriver();
  const store = driver.open(true);
  await touchEveryMethod(store);
  t.true(driver.calls.every((call) => call.session === undefined));
  driver.calls.length = 0;
  let outside: unknown = 'not made';
  const result = await store.withTransaction(async (tx) => {
    await touchEveryMethod(tx);
    await store.collection('people').findOne({ _id: 'outside' });
    outside = driver.calls.at(-1)!.session;
    await tx.collection('people').findOne({ _id: 'b' });
    return 42;
  });
  t.is(result, 42);
  t.is(outside, undefined, 'a call through the store during the transaction is not part of it');
  const inside = driver.calls.filter((call) => call.session !== undefined);
  // 10 calls, and the unmatched upsert's two more (tried without upsert, then its _id looked up, then upserted)
  t.is(inside.length, 12);
  t.true(
    inside.every((call) => call.session === driver.session),
    'each handle call carried the session',
  );
  t.deepEqual(driver.log, ['startSession', 'startTransaction', 'commitTransaction', 'endSession']);
});

test('on a standalone server withTransaction runs fn without a session or a transaction', async (t) => {
  const driver = fakeDriver();
  const store = driver.open(false);
  t.is(
    await store.withTransaction(async (tx) => {
      await touchEveryMethod(tx);
      return 'done';
    }),
    'done',
  );
  t.true(driver.calls.every((call) => call.session === undefined));
  t.deepEqual(driver.log, []);
});

test('fn is not run again when the driver retries after a transient commit error: the caller gets UnavailableError', async (t) => {
  const driver = fakeDriver();
  driver.session.retries = 1;
  const store = driver.open(true);
  let runs = 0;
  await t.throwsAsync(
    store.withTransaction(async (tx) => {
      runs++;
      await tx.collection('people').findOne({ _id: 'a' });
    }),
    { instanceOf: UnavailableError },
  );
  t.is(runs, 1);
  t.is(driver.calls.length, 1);
  t.true(driver.log.includes('endSession'));
});

test('renames inside withTransaction commit the work so far, run outside the transaction, and reopen one for the rest', async (t) => {
  const driver = fakeDriver();
  const store = driver.open(true);
  await store.withTransaction(async (tx) => {
    await tx.collection('people__rebuild').insertOne({ _id: 'a', name: 'Ada' });
    await tx.renameCollections([
      { from: 'people__rebuild', to: 'people' },
      { from: 'gone__rebuild', to: 'gone' },
    ]);
    await tx.collection('checkpoints').replaceOne({ _id: 'people' }, { _id: 'people', position: 9 }, { upsert: true });
  });
  t.deepEqual(driver.log, [
    'startSession',
    'startTransaction',
    'commitTransaction',
    'rename people__rebuild->people',
    'drop',
    'startTransaction',
    'commitTransaction',
    'endSession',
  ]);
  t.true(
    driver.calls.every((call) => call.session === driver.session),
    'the writes before and after the rename are transactional',
  );
});

test('unsafe input is refused before it reaches the driver, and driver outages surface as UnavailableError', async (t) => {
  const driver = fakeDriver();
  const people = driver.open(true).collection('people');
  await t.throwsAsync(people.find({ $where: 'sleep(100)' }), { instanceOf: ValidationError });
  await t.throwsAsync(people.find({}, { sort: { age: 'desc' } } as never), { instanceOf: ValidationError });
  await t.throwsAsync(people.updateOne({ _id: 'a' }, { $rename: { a: 'b' } } as never), { instanceOf: ValidationError });
  await t.throwsAsync(people.updateOne({ name: 'x' }, { $set: { a: 1 } }, { upsert: true }), { instanceOf: ValidationError });
  await t.throwsAsync(people.insertOne({ _id: 'a', 'x.y': 1 }), { instanceOf: ValidationError });
  await t.throwsAsync(people.replaceOne({ _id: 'a' }, { _id: 'a', $inc: { n: 1 } }), { instanceOf: ValidationError });
  t.throws(() => driver.open(true).collection('system.profile'), { instanceOf: ValidationError });
  t.is(driver.calls.length, 0, 'nothing reached the driver');
  driver.fail(new MongoNetworkError('connection reset'));
  await t.throwsAsync(people.findOne({ _id: 'a' }), { instanceOf: UnavailableError });
  driver.fail(serverError(11000, [], 'DuplicateKey'));
  const conflict = await t.throwsAsync(people.insertOne({ _id: 'a' }), { instanceOf: ConflictError });
  t.is(conflict.code, 'duplicate_key');
});

// --- the adapter, the runner and the lease over an in-memory MongoDB (test/helpers/fakeMongo.ts) ------------------

const silent = pino({ level: 'silent' });
const note = (author: string): NewEvent => ({
  type: 'NoteWritten',
  data: { author },
  metadata: { eventId: newId(), correlationId: 'c', causationId: 'c', userId: null, timestamp: new Date().toISOString() },
});
const notes = (version = 1): Projector => ({
  name: 'notes',
  version,
  collections: { notes: [] },
  handles: new Set(['NoteWritten']),
  async apply(event, context) {
    const { author } = event.data as { author: string };
    await context.project<{ _id: string; _position: number; count: number; version: number }>('notes', author, event, (doc) => ({
      _id: author,
      count: (doc?.count ?? 0) + 1,
      version,
    }));
  },
});
/** Projectors that handle none of the events written here: their checkpoints still move with every batch. */
const idle = (count: number): Projector[] =>
  Array.from({ length: count }, (_, i) => ({
    name: `idle${i}`,
    collections: { [`idle${i}`]: [] },
    handles: new Set(['Unrelated']),
    apply: async () => undefined,
  }));

test('a guarded upsert that meets a newer document inside a transaction fails alone: the transaction goes on and commits', async (t) => {
  const mongo = fakeMongo();
  const store = MongoReadStore.over(mongo.client, 'letsapp', true);
  await store.collection('people').insertOne({ _id: 'a', _position: 9, name: 'newer' });
  await store.withTransaction(async (tx) => {
    const people = tx.collection('people');
    const replaced = await t.throwsAsync(
      people.replaceOne({ _id: 'a', _position: { $lt: 5 } }, { _id: 'a', _position: 5, name: 'older' }, { upsert: true }),
    );
    t.true(isDuplicateId(replaced), 'the port\'s "already there" answer');
    const updated = await t.throwsAsync(
      people.updateOne({ _id: 'a', _position: { $lt: 5 } }, { $set: { name: 'older' } }, { upsert: true }),
    );
    t.true(isDuplicateId(updated));
    await people.insertOne({ _id: 'b', _position: 6, name: 'written after' });
    t.like(await people.updateOne({ _id: 'c', _position: { $lt: 7 } }, { $set: { name: 'upserted' } }, { upsert: true }), {
      upsertedId: 'c',
    });
  });
  t.like(mongo.collections.get('people')!.get('a'), { name: 'newer' });
  t.like(mongo.collections.get('people')!.get('b'), { name: 'written after' });
  t.like(mongo.collections.get('people')!.get('c'), { name: 'upserted' });
});

test('a batch of one event costs a few round trips, not two per projector', async (t) => {
  const mongo = fakeMongo();
  const events = new SqliteEventStore(join(tempDir(), 'events.sqlite'));
  const runner = new ProjectionRunner(
    events,
    MongoReadStore.over(mongo.client, 'letsapp', true),
    [notes(), ...idle(11)],
    eventUpcaster,
    silent,
    { exclusive: { ttlMs: 60_000 } },
  );
  await runner.start();
  t.teardown(async () => {
    await runner.stop();
    await events.close();
  });
  const first = await events.append('notes-1', [note('a')], 'no-stream');
  await runner.waitFor(first.position);

  mongo.roundTrips.length = 0;
  const second = await events.append('notes-1', [note('b')], first.revision);
  await runner.waitFor(second.position);
  // The lease's fence, every checkpoint read at once, the one document the event changes, every checkpoint moved at once.
  t.deepEqual(mongo.roundTrips, [
    '_locks.updateOne',
    '_checkpoints.find',
    'notes.findOne',
    'notes.insertOne',
    '_checkpoints.updateMany',
    'commitTransaction',
  ]);
  t.like(await runner.status(), { lag: 0 });
  t.like(mongo.collections.get('_checkpoints')!.get('idle10'), { position: second.position });
});

test('a lease taken over after it expired fences out the previous holder: its transactions are refused', async (t) => {
  const mongo = fakeMongo();
  const store = MongoReadStore.over(mongo.client, 'letsapp', true);
  let now = 1_000;
  const first = new ProjectionLease(store, 100, () => now);
  const second = new ProjectionLease(store, 100, () => now);
  t.true(await first.tryAcquire());
  t.false(await second.tryAcquire());
  await store.withTransaction((tx) => first.fence(tx));

  now += 101; // the first holder stalled past its lease (a long GC pause, a partition) and did not renew it
  t.true(await second.tryAcquire());
  await t.throwsAsync(
    store.withTransaction(async (tx) => {
      await first.fence(tx);
      await tx.collection('notes').insertOne({ _id: 'late', _position: 1 });
    }),
    { instanceOf: LeaseLost },
  );
  t.false(mongo.collections.get('notes')?.has('late') ?? false, 'nothing the fenced-out holder wrote was committed');
  await store.withTransaction((tx) => second.fence(tx));
  t.false(await first.tryAcquire(), 'and it does not get the lease back while the new holder renews it');
});

test('a server whose projector version changed does not rebuild while another instance holds the lease', async (t) => {
  const mongo = fakeMongo();
  const events = new SqliteEventStore(join(tempDir(), 'events.sqlite'));
  t.teardown(() => events.close());
  const store = () => MongoReadStore.over(mongo.client, 'letsapp', true);
  const old = new ProjectionRunner(events, store(), [notes(1)], eventUpcaster, silent, { exclusive: { ttlMs: 60_000 } });
  await old.start();
  t.teardown(() => old.stop());
  const written = await events.append('notes-1', [note('a')], 'no-stream');
  await old.waitFor(written.position);

  // A rolling deploy starts the new version beside the old one, which still projects.
  const deployed = new ProjectionRunner(events, store(), [notes(2)], eventUpcaster, silent, { exclusive: { ttlMs: 300 } });
  await deployed.start();
  t.teardown(() => deployed.stop());
  t.false((await deployed.status()).leader);
  t.like(mongo.collections.get('notes')!.get('a'), { count: 1, version: 1 }, 'the live collection is the old one, untouched');
  t.like(mongo.collections.get('_checkpoints')!.get('notes'), { version: 1 });
  t.false(
    [...mongo.collections.keys()].some((name) => name.endsWith('__rebuild')),
    'no rebuild was started',
  );

  // Once the old instance is gone the new one takes the lease, and only then rebuilds.
  await old.stop();
  await until(async () => (await deployed.status()).leader, 'the new version holds the lease');
  t.like(mongo.collections.get('notes')!.get('a'), { count: 1, version: 2 });
  t.like(mongo.collections.get('_checkpoints')!.get('notes'), { version: 2 });
});

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting until ${what}`);
}
