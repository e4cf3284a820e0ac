import { MongoServerError, type MongoClient } from 'mongodb';
import { applyUpdate, getPath, seedFromFilter } from '../../src/readstore/documents.ts';
import type { Doc, Filter, Update } from '../../src/readstore/port.ts';

/**
 * An in-memory stand-in for the MongoDB driver, for what MongoReadStore uses of it, with the server's behaviours
 * the adapter must live with: a duplicate `_id` is error 11000 (keyPattern `_id`), and a write that fails inside a
 * transaction aborts it, so every later operation of that transaction and its commit fail with NoSuchTransaction
 * (251, TransientTransactionError). Writes in a transaction are undone when it aborts. Every operation that would
 * be a round trip to the server is counted in `roundTrips` (collection name and operation).
 */
export interface FakeMongo {
  client: MongoClient;
  collections: Map<string, Map<string, Doc>>;
  roundTrips: string[];
}

type Session = {
  inTransaction(): boolean;
  startTransaction(): void;
  commitTransaction(): Promise<void>;
  abortTransaction(): Promise<void>;
  endSession(): Promise<void>;
  withTransaction<T>(callback: (session: Session) => Promise<T>): Promise<T>;
};

const duplicate = () =>
  Object.assign(new MongoServerError({ message: 'E11000 duplicate key error', code: 11000, codeName: 'DuplicateKey' }), {
    keyPattern: { _id: 1 },
  });
const noSuchTransaction = () =>
  new MongoServerError({
    message: 'Transaction has been aborted.',
    code: 251,
    codeName: 'NoSuchTransaction',
    errorLabels: ['TransientTransactionError'],
  });

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function matchesValue(value: unknown, condition: unknown): boolean {
  const values = Array.isArray(value) ? [value, ...value] : [value];
  if (condition !== null && typeof condition === 'object' && !Array.isArray(condition)) {
    return Object.entries(condition).every(([operator, operand]) => {
      switch (operator) {
        case '$eq':
          return values.some((v) => same(v, operand ?? null) || (operand === null && v === undefined));
        case '$ne':
          return !values.some((v) => same(v, operand ?? null) || (operand === null && v === undefined));
        case '$gt':
          return values.some((v) => v !== undefined && v !== null && compare(v, operand) > 0);
        case '$gte':
          return values.some((v) => v !== undefined && v !== null && compare(v, operand) >= 0);
        case '$lt':
          return values.some((v) => v !== undefined && v !== null && compare(v, operand) < 0);
        case '$lte':
          return values.some((v) => v !== undefined && v !== null && compare(v, operand) <= 0);
        case '$in':
          return (operand as unknown[]).some((candidate) => values.some((v) => same(v, candidate)));
        case '$nin':
          return !(operand as unknown[]).some((candidate) => values.some((v) => same(v, candidate)));
        case '$exists':
          return (value !== undefined) === operand;
        default:
          throw new Error(`fake MongoDB: unsupported operator ${operator}`);
      }
    });
  }
  return values.some((v) => same(v, condition ?? null) || (condition === null && v === undefined));
}

export function matches(doc: Doc, filter: Filter): boolean {
  return Object.entries(filter).every(([path, condition]) => {
    if (path === '$and') return (condition as Filter[]).every((part) => matches(doc, part));
    if (path === '$or') return (condition as Filter[]).some((part) => matches(doc, part));
    if (condition === undefined) return true;
    return matchesValue(getPath(doc, path), condition);
  });
}

export function fakeMongo(): FakeMongo {
  const collections = new Map<string, Map<string, Doc>>();
  const roundTrips: string[] = [];
  const docsOf = (name: string) => {
    let docs = collections.get(name);
    if (!docs) collections.set(name, (docs = new Map()));
    return docs;
  };

  /** The transaction a session has open: its undo log, and whether a failed write aborted it. */
  interface Transaction {
    undo: Array<() => void>;
    aborted: boolean;
  }
  const transactions = new WeakMap<object, Transaction>();

  /** One round trip: in a transaction that a failed write aborted, it fails; a write that fails aborts it. */
  async function trip<R>(label: string, options: { session?: object } | undefined, run: (undo: (fn: () => void) => void) => R): Promise<R> {
    roundTrips.push(label);
    await Promise.resolve();
    const transaction = options?.session ? transactions.get(options.session) : undefined;
    if (transaction?.aborted) throw noSuchTransaction();
    try {
      return run((fn) => transaction?.undo.push(fn));
    } catch (error) {
      if (transaction) {
        transaction.aborted = true;
        for (const fn of transaction.undo.reverse()) fn();
        transaction.undo = [];
      }
      throw error;
    }
  }

  function collection(name: string) {
    const docs = () => docsOf(name);
    const put = (doc: Doc, undo: (fn: () => void) => void) => {
      const before = docs().get(doc._id);
      docs().set(doc._id, structuredClone(doc));
      undo(() => (before ? docs().set(doc._id, before) : docs().delete(doc._id)));
    };
    const remove = (id: string, undo: (fn: () => void) => void) => {
      const before = docs().get(id);
      docs().delete(id);
      undo(() => before && docs().set(id, before));
    };
    const selected = (filter: Filter) => [...docs().values()].filter((doc) => matches(doc, filter));
    const writeOne = (filter: Filter, next: (doc: Doc | null) => Doc, upsert: boolean, undo: (fn: () => void) => void) => {
      const found = selected(filter)[0];
      if (found) {
        const doc = next(found);
        put(doc, undo);
        return { matchedCount: 1, modifiedCount: same(doc, found) ? 0 : 1, upsertedId: null };
      }
      if (!upsert) return { matchedCount: 0, modifiedCount: 0, upsertedId: null };
      const doc = next(null);
      if (docs().has(doc._id)) throw duplicate();
      put(doc, undo);
      return { matchedCount: 0, modifiedCount: 0, upsertedId: doc._id };
    };
    const label = (op: string) => `${name}.${op}`;
    return {
      findOne: (filter: Filter, options?: { session?: object }) =>
        trip(label('findOne'), options, () => structuredClone(selected(filter)[0] ?? null)),
      find(filter: Filter, options?: { session?: object }) {
        let sort: Record<string, 1 | -1> | undefined;
        let skip = 0;
        let limit = 0;
        const cursor = {
          sort: (spec: Record<string, 1 | -1>) => {
            sort = spec;
            return cursor;
          },
          skip: (n: number) => {
            skip = n;
            return cursor;
          },
          limit: (n: number) => {
            limit = n;
            return cursor;
          },
          toArray: () =>
            trip(label('find'), options, () => {
              let found = selected(filter);
              if (sort) {
                const spec = sort;
                found = found.sort((a, b) => {
                  for (const [path, direction] of Object.entries(spec)) {
                    const order = compare(getPath(a, path), getPath(b, path));
                    if (order !== 0) return order * direction;
                  }
                  return 0;
                });
              }
              found = found.slice(skip, limit ? skip + limit : undefined);
              return structuredClone(found);
            }),
        };
        return cursor;
      },
      countDocuments: (filter: Filter, options?: { session?: object; limit?: number }) =>
        trip(label('countDocuments'), options, () => Math.min(selected(filter).length, options?.limit || Number.POSITIVE_INFINITY)),
      insertOne: (doc: Doc, options?: { session?: object }) =>
        trip(label('insertOne'), options, (undo) => {
          if (docs().has(doc._id)) throw duplicate();
          put(doc, undo);
          return { insertedId: doc._id };
        }),
      replaceOne: (filter: Filter, replacement: Doc, options?: { session?: object; upsert?: boolean }) =>
        trip(label('replaceOne'), options, (undo) => writeOne(filter, () => replacement, options?.upsert ?? false, undo)),
      updateOne: (filter: Filter, update: Update, options?: { session?: object; upsert?: boolean }) =>
        trip(label('updateOne'), options, (undo) =>
          writeOne(
            filter,
            (doc) => (doc ? applyUpdate(doc, update) : applyUpdate(seedFromFilter(filter), update, true)),
            options?.upsert ?? false,
            undo,
          ),
        ),
      updateMany: (filter: Filter, update: Update, options?: { session?: object }) =>
        trip(label('updateMany'), options, (undo) => {
          const found = selected(filter);
          for (const doc of found) put(applyUpdate(doc, update), undo);
          return { matchedCount: found.length, modifiedCount: found.length, upsertedId: null };
        }),
      deleteOne: (filter: Filter, options?: { session?: object }) =>
        trip(label('deleteOne'), options, (undo) => {
          const found = selected(filter)[0];
          if (found) remove(found._id, undo);
          return { deletedCount: found ? 1 : 0 };
        }),
      deleteMany: (filter: Filter, options?: { session?: object }) =>
        trip(label('deleteMany'), options, (undo) => {
          const found = selected(filter);
          for (const doc of found) remove(doc._id, undo);
          return { deletedCount: found.length };
        }),
      createIndex: (_key: unknown, options?: { session?: object }) =>
        trip(label('createIndex'), options, () => {
          docs();
          return 'index';
        }),
      drop: () =>
        trip(label('drop'), undefined, () => {
          if (!collections.has(name)) throw new MongoServerError({ message: 'ns not found', code: 26, codeName: 'NamespaceNotFound' });
          collections.delete(name);
          return true;
        }),
    };
  }

  const db = {
    collection,
    listCollections: () => ({ toArray: () => trip('listCollections', undefined, () => [...collections.keys()].map((name) => ({ name }))) }),
    renameCollection: (from: string, to: string) =>
      trip(`${from}.renameCollection`, undefined, () => {
        collections.set(to, docsOf(from));
        collections.delete(from);
      }),
    command: async () => ({ setName: 'rs0' }),
  };

  function startSession(): Session {
    const session: Session = {
      inTransaction: () => transactions.has(session),
      startTransaction: () => {
        transactions.set(session, { undo: [], aborted: false });
      },
      async commitTransaction() {
        const transaction = transactions.get(session);
        transactions.delete(session);
        roundTrips.push('commitTransaction');
        if (transaction?.aborted) throw noSuchTransaction();
      },
      async abortTransaction() {
        const transaction = transactions.get(session);
        transactions.delete(session);
        for (const fn of transaction?.undo.reverse() ?? []) fn();
      },
      async endSession() {
        if (session.inTransaction()) await session.abortTransaction();
      },
      /** As the driver: start, run, commit; abort if the callback throws (no retries here). */
      async withTransaction<T>(callback: (s: Session) => Promise<T>): Promise<T> {
        session.startTransaction();
        try {
          const result = await callback(session);
          if (session.inTransaction()) await session.commitTransaction();
          return result;
        } catch (error) {
          if (session.inTransaction()) await session.abortTransaction();
          throw error;
        }
      },
    };
    return session;
  }

  // eslint-disable-next-line no-restricted-syntax -- a fake of the few MongoDB client methods the adapter calls, not the whole client.
  const client = { db: () => db, startSession, close: async () => undefined } as unknown as MongoClient;
  return { client, collections, roundTrips };
}
