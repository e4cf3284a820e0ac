import {
  MongoClient,
  MongoClientClosedError,
  MongoError,
  MongoErrorLabel,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  type ClientSession,
  type Db,
  type Document,
  type Filter as MongoFilter,
  type TransactionOptions,
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
} from './filterSafety.ts';
import type { Collection, Doc, Filter, FindOptions, IndexSpec, ReadStore, ReadStoreTransaction, Update, WriteResult } from './port.ts';

const DUPLICATE_KEY = 11000;
const IMMUTABLE_FIELD = 66;

/**
 * Server error codes of a node that is unreachable, shutting down, stepping down or not (yet) primary: the
 * retryable-reads/writes specification's list (as in the driver's src/error.ts), plus the legacy NotPrimary.
 */
const UNAVAILABLE_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  89, // NetworkTimeout
  91, // ShutdownInProgress
  134, // ReadConcernMajorityNotAvailableYet
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10058, // LegacyNotPrimary
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

/** Labels the server or driver puts on errors worth retrying later: the operation may succeed once it is retried. */
const UNAVAILABLE_LABELS = [
  MongoErrorLabel.RetryableWriteError,
  MongoErrorLabel.TransientTransactionError,
  MongoErrorLabel.UnknownTransactionCommitResult,
  MongoErrorLabel.SystemOverloadedError,
  MongoErrorLabel.RetryableError,
];

const unavailable = (message: string, cause: unknown) => Object.assign(new UnavailableError(message), { cause });

/**
 * The port's error for a driver failure: a duplicate key is the `duplicate_key` conflict, a changed `_id` a
 * validation error, and anything that says "the database cannot be reached right now" (network, server
 * selection, a closed or unconnected client, a primary stepping down, a transient transaction abort) is
 * UnavailableError (503), with the driver's error as its `cause`. Anything else is returned unchanged.
 */
export function fromMongoError(error: unknown, collection?: string): unknown {
  if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) {
    // `onId` tells a document that already exists (an upsert lost a race) from a unique index on other fields.
    const onId = Object.keys((error as { keyPattern?: Record<string, unknown> }).keyPattern ?? {}).join() === '_id';
    return new ConflictError('duplicate_key', `Duplicate key in ${collection ?? 'the read store'}`, {
      ...(collection ? { collection } : {}),
      onId,
    });
  }
  if (error instanceof MongoServerError && error.code === IMMUTABLE_FIELD) return new ValidationError('_id cannot be changed');
  if (
    error instanceof MongoNetworkError ||
    error instanceof MongoServerSelectionError ||
    error instanceof MongoNotConnectedError ||
    error instanceof MongoTopologyClosedError ||
    error instanceof MongoClientClosedError ||
    error instanceof MongoOperationTimeoutError
  ) {
    return unavailable('The read store cannot be reached; try again shortly', error);
  }
  if (
    error instanceof MongoError &&
    (UNAVAILABLE_LABELS.some((label) => error.hasErrorLabel(label)) ||
      (typeof error.code === 'number' && UNAVAILABLE_CODES.has(error.code)))
  ) {
    return unavailable('The read store is temporarily unavailable; try again shortly', error);
  }
  return error;
}

async function translated<R>(collection: string | undefined, run: () => Promise<R>): Promise<R> {
  try {
    return await run();
  } catch (error) {
    throw fromMongoError(error, collection);
  }
}

/** A replica set member reports its set's name, a mongos says `isdbgrid`: both run multi-document transactions. */
export function supportsTransactions(hello: Document): boolean {
  return typeof hello.setName === 'string' || hello.msg === 'isdbgrid';
}

/**
 * Snapshot reads and majority commits: what a transaction reads is one consistent, majority-committed view, and
 * a committed batch of projections survives a failover.
 */
const TRANSACTION_OPTIONS: TransactionOptions = {
  readConcern: { level: 'snapshot' },
  writeConcern: { w: 'majority' },
  readPreference: 'primary',
};

/**
 * MongoDB behind the read store port. The port speaks MongoDB's vocabulary, but only the part the embedded
 * adapter understands gets through: filters, updates, sorts, documents and names are checked by filterSafety
 * before they reach the driver. Driver failures become the port's errors (see fromMongoError). The client is
 * told to drop `undefined` fields, as JSON does on the embedded side.
 */
export class MongoReadStore implements ReadStore {
  readonly kind = 'mongodb';
  private readonly db: Db;

  private constructor(
    private readonly client: MongoClient,
    database: string,
    readonly transactional: boolean,
  ) {
    this.db = client.db(database);
  }

  static async connect(uri: string, database: string): Promise<MongoReadStore> {
    const client = new MongoClient(uri, { ignoreUndefined: true });
    try {
      await client.connect();
      const hello = await client.db('admin').command({ hello: 1 });
      return MongoReadStore.over(client, database, supportsTransactions(hello));
    } catch (error) {
      await client.close().catch(() => undefined);
      throw fromMongoError(error);
    }
  }

  /** Over a client already made (connect does the handshake and the transaction check). */
  static over(client: MongoClient, database: string, transactional: boolean): MongoReadStore {
    return new MongoReadStore(client, database, transactional);
  }

  collection<T extends Doc = Doc>(name: string): Collection<T> {
    return this.collectionIn<T>(name, null);
  }

  /** A collection whose every call runs in `session`'s transaction (a transaction's handle), or in none. */
  private collectionIn<T extends Doc>(name: string, session: ClientSession | null): Collection<T> {
    assertCollectionName(name);
    const withSession = <O extends object>(options: O): O & { session?: ClientSession } => (session ? { ...options, session } : options);
    // Our documents carry string ids; the driver's default generic assumes ObjectId.
    const native = this.db.collection<{ _id: string }>(name);
    const filterOf = (filter: Filter) => {
      assertSafeFilter(filter);
      return filter as MongoFilter<{ _id: string }>;
    };
    const updateFilterOf = (filter: Filter, upsert: boolean) => {
      const checked = filterOf(filter);
      if (upsert) assertUpsertFilter(filter);
      return checked;
    };
    const updateOf = (update: Update) => {
      assertSafeUpdate(update);
      return update as Document;
    };
    const documentOf = (doc: T) => {
      assertSafeDocument(doc);
      return doc as { _id: string };
    };
    const result = (r: { matchedCount: number; modifiedCount: number; upsertedId: unknown }): WriteResult => ({
      matched: r.matchedCount,
      modified: r.modifiedCount, // Our documents' ids are strings, so an upsert's id is one.
      upsertedId: typeof r.upsertedId === 'string' ? r.upsertedId : null,
    });
    const run = <R>(call: () => Promise<R>) => translated(name, call);
    /**
     * In a transaction a failed write aborts the whole transaction on the server, so an upsert that would meet an
     * existing `_id` its filter does not match (a write guarded by position meeting a newer document) never reaches
     * the server as one: it is tried without upsert first, and when nothing matched and the `_id` exists, that
     * write alone answers duplicate_key (as on the embedded store) and the transaction goes on.
     */
    const upsert = async (filter: Filter, write: (upsert: boolean) => Promise<WriteResult>): Promise<WriteResult> => {
      if (!session) return write(true);
      const updated = await write(false);
      if (updated.matched > 0) return updated;
      if (await native.findOne({ _id: filter._id } as MongoFilter<{ _id: string }>, withSession({ projection: { _id: 1 } }))) {
        throw new ConflictError('duplicate_key', `Duplicate key in ${name}`, { collection: name, onId: true });
      }
      return write(true);
    };
    return {
      name,
      // The driver's own type parameter states what the documents of this collection are.
      findOne: (filter) => run(() => native.findOne<T>(filterOf(filter), withSession({}))),
      find: (filter, options: FindOptions = {}) =>
        run(async () => {
          assertSafeFindOptions(options);
          let cursor = native.find<T>(filterOf(filter), withSession({}));
          if (options.sort) cursor = cursor.sort(options.sort);
          if (options.skip) cursor = cursor.skip(options.skip);
          if (options.limit) cursor = cursor.limit(options.limit);
          return cursor.toArray();
        }),
      countDocuments: (filter, options = {}) =>
        run(() => native.countDocuments(filterOf(filter), withSession(options.limit ? { limit: options.limit } : {}))),
      insertOne: (doc) =>
        run(async () => {
          await native.insertOne(documentOf(doc), withSession({}));
        }),
      replaceOne: (filter, doc, options = {}) =>
        run(async () => {
          const [checked, replacement] = [filterOf(filter), documentOf(doc)];
          const write = async (upserting: boolean) =>
            result(await native.replaceOne(checked, replacement, withSession({ upsert: upserting })));
          return options.upsert ? upsert(filter, write) : write(false);
        }),
      updateOne: (filter, update, options = {}) =>
        run(async () => {
          const [checked, changes] = [updateFilterOf(filter, options.upsert ?? false), updateOf(update)];
          const write = async (upserting: boolean) => result(await native.updateOne(checked, changes, withSession({ upsert: upserting })));
          return options.upsert ? upsert(filter, write) : write(false);
        }),
      updateMany: (filter, update) => run(async () => result(await native.updateMany(filterOf(filter), updateOf(update), withSession({})))),
      deleteOne: (filter) => run(async () => (await native.deleteOne(filterOf(filter), withSession({}))).deletedCount),
      deleteMany: (filter) => run(async () => (await native.deleteMany(filterOf(filter), withSession({}))).deletedCount),
    };
  }

  async ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void> {
    assertCollectionName(collection);
    assertSafeIndexes(indexes);
    await this.outsideTransaction(async () => {
      // MongoDB infers multikey indexes by itself: `multikey` only matters to the embedded adapter.
      for (const { key, unique } of indexes) {
        await this.db.collection(collection).createIndex(key, { unique: unique ?? false });
      }
    }, null);
  }

  /**
   * On a replica set or a sharded cluster (found at connect with `hello`), `fn` runs in one multi-document
   * transaction (snapshot reads, majority commit): every call made through its handle carries the session.
   * Catalog changes (renames) cannot join a transaction: see outsideTransaction.
   *
   * The driver retries the whole callback when a commit fails with a transient error. `fn` is not re-run:
   * callers keep state across the call (the rebuild's position, the runner's publications), so a second run
   * could skip or repeat work. The transient failure is reported as UnavailableError instead, and the caller
   * retries from what is committed (the runner from its checkpoints). A commit whose outcome is unknown is
   * still retried by the driver, which does not re-run `fn`.
   *
   * On a standalone server there are no transactions: `fn` runs as it is, each write on its own, and projectors
   * stay correct through the position guards in their writes and compare-and-set checkpoints.
   */
  async withTransaction<R>(fn: (tx: ReadStoreTransaction) => Promise<R>): Promise<R> {
    if (!this.transactional) {
      return fn({ collection: (name) => this.collection(name), renameCollections: (pairs) => this.renameCollections(pairs) });
    }
    const session = this.client.startSession();
    const handle: ReadStoreTransaction = {
      collection: (name) => this.collectionIn(name, session),
      renameCollections: (pairs) => this.renameIn(pairs, session),
    };
    let attempts = 0;
    try {
      return await session.withTransaction(async () => {
        attempts++;
        if (attempts > 1) {
          throw new UnavailableError('The read store aborted a transaction at commit (a transient error); it was not applied, try again');
        }
        return fn(handle);
      }, TRANSACTION_OPTIONS);
    } catch (error) {
      throw fromMongoError(error);
    } finally {
      await session.endSession();
    }
  }

  /**
   * Catalog changes run outside any transaction. MongoDB refuses them inside one, and a rename or drop issued
   * beside an open transaction on the same database waits behind it: from inside `fn` that would wait for
   * itself. So, inside withTransaction, the work so far is committed first, the change runs on its own, and a
   * new transaction carries the rest of `fn`. For the rebuild this commits the caught-up fresh collections,
   * swaps them in, then writes the checkpoints: a live runner that saw the swap early replays from the
   * (lowered) checkpoints, which the position guards make harmless.
   */
  private async outsideTransaction<R>(change: () => Promise<R>, session: ClientSession | null): Promise<R> {
    if (!session) return translated(undefined, change);
    try {
      if (session.inTransaction()) await session.commitTransaction();
      return await change();
    } catch (error) {
      throw fromMongoError(error);
    } finally {
      // Always reopen, even after a failed commit: the driver then aborts an empty transaction, not a closed one.
      session.startTransaction(TRANSACTION_OPTIONS);
    }
  }

  renameCollections(pairs: ReadonlyArray<{ from: string; to: string }>): Promise<void> {
    return this.renameIn(pairs, null);
  }

  private async renameIn(pairs: ReadonlyArray<{ from: string; to: string }>, session: ClientSession | null): Promise<void> {
    for (const { from, to } of pairs) {
      assertCollectionName(from);
      assertCollectionName(to);
    }
    await this.outsideTransaction(async () => {
      const existing = new Set((await this.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
      for (const { from, to } of pairs) {
        if (existing.has(from)) await this.db.renameCollection(from, to, { dropTarget: true });
        else await this.dropNamespace(to);
      }
    }, session);
  }

  async dropCollection(name: string): Promise<void> {
    assertCollectionName(name);
    await this.outsideTransaction(() => this.dropNamespace(name), null);
  }

  private async dropNamespace(name: string): Promise<void> {
    await this.db
      .collection(name)
      .drop()
      .catch((error: unknown) => {
        if (!(error instanceof MongoServerError && error.codeName === 'NamespaceNotFound')) throw error;
      });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
