import { MongoClient, MongoServerError, type Db, type Document, type Filter as MongoFilter } from 'mongodb';
import { ConflictError } from '../../commands/shared/errors.ts';
import type { Collection, Doc, Filter, FindOptions, IndexSpec, ReadStore, Update, WriteResult } from './port.ts';

const DUPLICATE_KEY = 11000;

function translated<R>(collection: string, run: () => Promise<R>): Promise<R> {
  return run().catch((error: unknown) => {
    if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) {
      throw new ConflictError('duplicate_key', `Duplicate key in ${collection}`, { collection });
    }
    throw error;
  });
}

/**
 * MongoDB behind the read store port: the port speaks MongoDB's vocabulary, so this adapter mostly passes
 * calls through and turns duplicate-key failures into the port's `duplicate_key` conflict.
 */
export class MongoReadStore implements ReadStore {
  readonly kind = 'mongodb';

  private constructor(private readonly client: MongoClient, private readonly db: Db) {}

  static async connect(uri: string, database: string): Promise<MongoReadStore> {
    const client = new MongoClient(uri);
    await client.connect();
    return new MongoReadStore(client, client.db(database));
  }

  collection<T extends Doc = Doc>(name: string): Collection<T> {
    // Our documents carry string ids; the driver's default generic assumes ObjectId.
    const native = this.db.collection<{ _id: string }>(name);
    const filterOf = (filter: Filter) => filter as MongoFilter<{ _id: string }>;
    const result = (r: { matchedCount: number; modifiedCount: number; upsertedId: unknown }): WriteResult => ({
      matched: r.matchedCount, modified: r.modifiedCount, upsertedId: r.upsertedId === null ? null : String(r.upsertedId),
    });
    return {
      name,
      findOne: async (filter) => (await native.findOne(filterOf(filter))) as unknown as T | null,
      find: async (filter, options: FindOptions = {}) => {
        let cursor = native.find(filterOf(filter));
        if (options.sort) cursor = cursor.sort(options.sort);
        if (options.skip) cursor = cursor.skip(options.skip);
        if (options.limit) cursor = cursor.limit(options.limit);
        return (await cursor.toArray()) as unknown as T[];
      },
      countDocuments: (filter) => native.countDocuments(filterOf(filter)),
      insertOne: (doc) => translated(name, async () => { await native.insertOne(doc); }),
      replaceOne: (filter, doc, options = {}) =>
        translated(name, async () => result(await native.replaceOne(filterOf(filter), doc, { upsert: options.upsert ?? false }))),
      updateOne: (filter, update: Update, options = {}) =>
        translated(name, async () => result(await native.updateOne(filterOf(filter), update as Document, { upsert: options.upsert ?? false }))),
      updateMany: (filter, update: Update) =>
        translated(name, async () => result(await native.updateMany(filterOf(filter), update as Document))),
      deleteOne: async (filter) => (await native.deleteOne(filterOf(filter))).deletedCount,
      deleteMany: async (filter) => (await native.deleteMany(filterOf(filter))).deletedCount,
    };
  }

  async ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void> {
    for (const { key, unique } of indexes) {
      await this.db.collection(collection).createIndex(key, { unique: unique ?? false });
    }
  }

  /** Standalone servers have no transactions: projectors rely on per-document positions and monotonic checkpoints. */
  async withTransaction<R>(fn: () => Promise<R>): Promise<R> {
    return fn();
  }

  async renameCollections(pairs: ReadonlyArray<{ from: string; to: string }>): Promise<void> {
    const existing = new Set((await this.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
    for (const { from, to } of pairs) {
      if (existing.has(from)) await this.db.renameCollection(from, to, { dropTarget: true });
      else await this.dropCollection(to);
    }
  }

  async dropCollection(name: string): Promise<void> {
    await this.db.collection(name).drop().catch((error: unknown) => {
      if (!(error instanceof MongoServerError && error.codeName === 'NamespaceNotFound')) throw error;
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
