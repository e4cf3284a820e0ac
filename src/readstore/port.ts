import type { CheckpointStatus } from '../sqlite/checkpointer.ts';
/**
 * The read store port, in MongoDB's vocabulary so projectors are written once and run unchanged on the
 * embedded SQLite adapter and on MongoDB. Both adapters pass test/src/readstore.contract.ts.
 */
export interface Doc {
  _id: string;
  [field: string]: unknown;
}

type Scalar = string | number | boolean | null;

export interface FieldOperators {
  $eq?: Scalar;
  $ne?: Scalar;
  $gt?: Scalar;
  $gte?: Scalar;
  $lt?: Scalar;
  $lte?: Scalar;
  $in?: readonly Scalar[];
  $nin?: readonly Scalar[];
  $exists?: boolean;
}

/** Field paths (dotted) map to a scalar (equality; matches array elements too) or operators. */
export interface Filter {
  $and?: Filter[];
  $or?: Filter[];
  [path: string]: Scalar | FieldOperators | Filter[] | undefined;
}

export interface Update {
  $set?: Record<string, unknown>;
  $unset?: Record<string, unknown>;
  $inc?: Record<string, number>;
  $push?: Record<string, unknown>;
  $pull?: Record<string, unknown>;
  $addToSet?: Record<string, unknown>;
  $setOnInsert?: Record<string, unknown>;
}

export type SortSpec = Record<string, 1 | -1>;

export interface IndexSpec {
  key: SortSpec;
  unique?: boolean;
  /**
   * The single indexed field holds an array whose elements are matched. MongoDB infers multikey indexes by
   * itself; the embedded adapter needs to be told so it can keep an element table for the index.
   */
  multikey?: boolean;
  /**
   * A full-text index on the single (string) field, for `Collection.searchText`: FTS5 on the embedded store, a GIN
   * `tsvector` index on PostgreSQL. Words are split on Unicode letters and digits, case and accents folded, not stemmed.
   */
  text?: boolean;
}

/**
 * How many of the newest matches a full-text query ranks (by insertion order): a word found in most documents then
 * costs no more than a rare one, and results come from the newest TEXT_CANDIDATES matches that pass the filter, among
 * the newest TEXT_SCANNED matches of the words (so a selective filter cannot make one query read the whole index).
 * The embedded store orders by rowid; PostgreSQL by the query's `newest` field, in windows (see its adapter).
 */
export const TEXT_CANDIDATES = 1_000;
export const TEXT_SCANNED = 10_000;
/** The embedded store's FTS5 prefix indexes: prefixes of 2 and 3 characters (`prefix='2 3'`). */
export const TEXT_PREFIX_INDEX_MAX = 3;
/** PostgreSQL: the backstop on each statement of a full-text query (57014 query_canceled past it: a 503). */
export const TEXT_STATEMENT_TIMEOUT_MS = 5_000;

/** A full-text query: every term must match (the last also as a prefix), among the documents matching `filter`. */
export interface TextQuery {
  /** The field with a `text` index. */
  field: string;
  /** Words of letters and digits only (the caller splits the user's query). */
  terms: readonly string[];
  filter: Filter;
  limit: number;
  skip?: number;
  /**
   * A numeric field with an index that grows as documents are added (a message's log position): PostgreSQL bounds its
   * scan to the newest of them by it. Without it PostgreSQL looks at any TEXT_SCANNED matches when there are more.
   */
  newest?: string;
}

/** Marks around each matched word in a `TextHit` snippet (private-use code points, never in a stored text's markup). */
export const MATCH_START = '\uE000';
export const MATCH_END = '\uE001';

export interface TextHit<T> {
  doc: T;
  /** Higher is better (embedded: -BM25; PostgreSQL: ts_rank). Comparable within one answer only. */
  score: number;
  /** A short excerpt of the field with each matched word between MATCH_START and MATCH_END. */
  snippet: string;
}

export interface FindOptions {
  sort?: SortSpec;
  limit?: number;
  skip?: number;
}

/**
 * Whether a write failed because a document with its `_id` already exists (an upsert guarded by position met a
 * newer document, a compare-and-set met a later value): adapters mark that `duplicate_key` with `onId`, unlike a
 * unique index on other fields, which is a real failure.
 */
export function isDuplicateId(error: unknown): boolean {
  const conflict = error as { code?: unknown; details?: { onId?: unknown } } | null;
  return conflict?.code === 'duplicate_key' && conflict.details?.onId === true;
}

export interface WriteResult {
  matched: number;
  modified: number;
  upsertedId: string | null;
}

export interface Collection<T extends Doc = Doc> {
  readonly name: string;
  findOne(filter: Filter): Promise<T | null>;
  find(filter: Filter, options?: FindOptions): Promise<T[]>;
  /** With `limit`, counts no further than that (an unread badge shows "99+", not an exact scan of thousands). */
  countDocuments(filter: Filter, options?: { limit?: number }): Promise<number>;
  insertOne(doc: T): Promise<void>;
  replaceOne(filter: Filter, doc: T, options?: { upsert?: boolean }): Promise<WriteResult>;
  updateOne(filter: Filter, update: Update, options?: { upsert?: boolean }): Promise<WriteResult>;
  updateMany(filter: Filter, update: Update): Promise<WriteResult>;
  deleteOne(filter: Filter): Promise<number>;
  deleteMany(filter: Filter): Promise<number>;
  /** Best matches first. Absent where the store has no full-text search (MongoDB, here). */
  searchText?(query: TextQuery): Promise<Array<TextHit<T>>>;
}

/**
 * What a transaction's callback works through: everything done through it is part of the transaction, and
 * nothing else is (the store's own `collection()` keeps reading committed state and queues its writes). An
 * explicit handle rather than an implicit async context: AsyncLocalStorage makes every promise in Node 20
 * markedly slower.
 */
export interface ReadStoreTransaction {
  collection<T extends Doc = Doc>(name: string): Collection<T>;
  /** As `ReadStore.renameCollections`, within the transaction where the store allows. */
  renameCollections(pairs: ReadonlyArray<{ from: string; to: string }>): Promise<void>;
  /**
   * PostgreSQL: announces `payload` on `channel` to every instance listening (`ReadStore.onNotice`), once the
   * transaction commits and only if it does. Absent where the store has no such notices.
   */
  notify?(channel: string, payload: string): Promise<void>;
}

export interface ReadStore {
  readonly kind: 'embedded' | 'mongodb' | 'postgres';
  collection<T extends Doc = Doc>(name: string): Collection<T>;
  /** Creates the declared indexes if missing; unique violations then raise a `duplicate_key` conflict. */
  ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void>;
  /**
   * Runs `fn` atomically where the store allows, owned by `fn`: reads and writes made elsewhere meanwhile do not
   * join it. Embedded: one SQLite transaction, serialized with the others. MongoDB: a transaction on a replica
   * set or mongos (collection renames split it); on a standalone server none, and projectors stay correct through
   * the position guard in every write's filter and compare-and-set checkpoints.
   */
  withTransaction<R>(fn: (tx: ReadStoreTransaction) => Promise<R>): Promise<R>;
  /** Atomically (per collection) replaces each `to` collection with `from`, dropping the old `to`. */
  renameCollections(pairs: ReadonlyArray<{ from: string; to: string }>): Promise<void>;
  dropCollection(name: string): Promise<void>;
  /**
   * PostgreSQL: calls `listener` for each notice on `channel` committed by any instance, and once more after the
   * listening session reconnects (notices may have been missed meanwhile). Returns the unsubscribe.
   */
  onNotice?(channel: string, listener: () => void): () => void;
  /** The embedded store's WAL checkpointing (size, last success, consecutive failures), for /ping. */
  checkpointStatus?(): CheckpointStatus | undefined;
  close(): Promise<void>;
}
