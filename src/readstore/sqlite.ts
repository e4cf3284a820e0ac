import { createHash, randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { ValidationError } from '../../commands/shared/errors.ts';
import { isBusy, retryWhileBusy } from '../sqlite/busy.ts';
import { BackgroundCheckpointer, WAL_SIZE_LIMIT_BYTES, type CheckpointStatus, type SqliteStoreOptions } from '../sqlite/checkpointer.ts';
import { assertPath } from './documents.ts';
import { TEXT_PREFIX_INDEX_MAX, type Collection, type Doc, type IndexSpec, type ReadStore, type ReadStoreTransaction } from './port.ts';
import { SqliteCollection } from './sqliteCollection.ts';
import {
  COLLECTION_NAME,
  PATH_COLUMN,
  columnOf,
  elementTableOf,
  ftsTableOf,
  quoted,
  tableOf,
  type CollectionMeta,
  type SqlValue,
} from './sqliteSchema.ts';

/** FTS5 prefix indexes for prefixes of 2 and 3 characters (TEXT_PREFIX_INDEX_MAX): a short prefix is read, not merged. */
const FTS_PREFIXES = `prefix = '2 ${TEXT_PREFIX_INDEX_MAX}'`;

/** Which fields of which collections have a multikey index (an element table), for every connection to find. */
const MULTIKEY_PATHS = 'read_store_multikey_paths';
/** Which field of which collection has a full-text index, for every connection that inserts into it to find. */
const TEXT_PATHS = 'read_store_text_paths';

/**
 * The embedded read store: one SQLite table per collection holding JSON documents, the declared indexed
 * fields copied into indexed columns, and an element table for multikey (array) indexes.
 */
export class SqliteReadStore implements ReadStore {
  readonly kind = 'embedded';
  /** The writing connection. Only the transaction that owns it uses it; nothing else joins an open transaction. */
  readonly db: Database.Database;
  /** Reads outside a transaction: a WAL snapshot of what is committed, never a batch's uncommitted writes. */
  readonly readDb: Database.Database;
  private readonly meta = new Map<string, CollectionMeta>();
  private readonly collections = new Map<string, SqliteCollection<Doc>>();
  /** The same collections as seen from inside the open transaction (through its handle). */
  private readonly transactionCollections = new Map<string, SqliteCollection<Doc>>();
  private transactionQueue: Promise<unknown> = Promise.resolve();
  /** Transactions queued or running; while there are any, other writes queue behind them. */
  private transactionsPending = 0;
  /** True between BEGIN and COMMIT of the transaction that owns `db`. */
  private transactionOpen = false;
  private readonly checkpointer: BackgroundCheckpointer | null;
  /** Filters compile to a handful of distinct SQL texts; preparing each once per connection keeps the hot path cheap. */
  private readonly statements = new Map<Database.Database, Map<string, Database.Statement<SqlValue[]>>>();

  constructor(file: string, options: SqliteStoreOptions = {}) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // The read store is derived data: a power loss may roll back the newest projection transactions together
    // with their checkpoints, and the projectors then replay them from the event log.
    this.db.pragma('synchronous = NORMAL');
    // What a projector deletes or overwrites (a message deleted for everyone) is zeroed, not left in free space.
    this.db.pragma('secure_delete = ON');
    this.db.pragma('wal_autocheckpoint = 0');
    this.db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    // A connection that only reads (projections in a worker write through their own) needs a smaller page cache.
    // The writer's 32 MB: replay of 100,000 events ran at 7,209 events/s with it and 7,054 with 64 MB (rowid tables
    // touch fewer pages; before them 32 MB cost a tenth of the replay speed).
    this.db.pragma(`cache_size = ${options.checkpoints === false ? -16384 : -32768}`);
    // Never a synchronous lock wait on the serving thread: busy writes are retried asynchronously (busy.ts).
    this.db.pragma('busy_timeout = 0');
    this.readDb = new Database(file, { readonly: true });
    this.readDb.pragma(`cache_size = ${options.checkpoints === false ? -4096 : -32768}`);
    this.readDb.pragma('busy_timeout = 0');
    // Should the background worker die, SQLite checkpoints on its own again: slower, never unbounded.
    this.checkpointer =
      options.checkpoints === false
        ? null
        : new BackgroundCheckpointer(file, {
            onFailure: () => this.db.pragma('wal_autocheckpoint = 1000'),
            walLimitBytes: options.walLimitBytes,
            onCheckpointProblem: options.onCheckpointProblem,
          });
  }

  /** FTS5 tables each connection has a temp fts5vocab table for (prefix expansion in searchText). */
  private readonly tempVocabularies = new WeakMap<Database.Database, Set<string>>();

  hasTempVocabulary(db: Database.Database, fts: string): boolean {
    return this.tempVocabularies.get(db)?.has(fts) ?? false;
  }

  markTempVocabulary(db: Database.Database, fts: string): void {
    const known = this.tempVocabularies.get(db) ?? new Set<string>();
    known.add(fts);
    this.tempVocabularies.set(db, known);
  }

  prepare(sql: string, db: Database.Database = this.db): Database.Statement<SqlValue[]> {
    let cache = this.statements.get(db);
    if (!cache) this.statements.set(db, (cache = new Map<string, Database.Statement<SqlValue[]>>()));
    let statement = cache.get(sql);
    if (!statement) {
      if (cache.size > 1_000) cache.clear();
      statement = db.prepare<SqlValue[]>(sql);
      cache.set(sql, statement);
    }
    return statement;
  }

  /**
   * The connection a read should use: the open transaction sees its own writes; anyone else reads the writing
   * connection (its page cache is warm) unless a transaction is open on it, then the read-only one.
   */
  readerConnection(inTransaction: boolean): Database.Database {
    return inTransaction || !this.transactionOpen ? this.db : this.readDb;
  }

  /**
   * Runs a write inside the open transaction (`inTransaction`), or atomically as a transaction of its own: at
   * once when no other transaction is pending, otherwise queued behind them.
   */
  exclusive<R>(fn: () => R, inTransaction = false): Promise<R> {
    if (inTransaction) {
      // SQLite rolls a transaction back by itself on some failures (a full disk, an I/O error): a write after that
      // would commit on its own (a batch's checkpoints without its documents), so it fails instead.
      if (!this.db.inTransaction) return Promise.reject(new Error('The read store rolled this transaction back after an earlier failure'));
      return Promise.resolve(fn());
    }
    if (this.transactionsPending === 0 && !this.checkpointer?.wantsReset) {
      try {
        return Promise.resolve(this.db.transaction(fn).immediate());
      } catch (error) {
        if (!isBusy(error)) return Promise.reject(error);
        // Another process holds the lock: wait in the queue (which retries asynchronously), never beside it.
      }
    }
    return this.withTransaction(() => Promise.resolve(fn()));
  }

  checkpointStatus(): CheckpointStatus | undefined {
    return this.checkpointer?.status();
  }

  metaOf(collection: string): CollectionMeta {
    let meta = this.meta.get(collection);
    if (!meta) {
      meta = { multikey: new Set(), columns: new Set(), text: null };
      // Columns made by an earlier run or another process: every write must keep them filled.
      if (COLLECTION_NAME.test(collection)) {
        for (const { name } of this.db
          .prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${tableOf(collection)}')`)
          .all()) {
          const path = PATH_COLUMN.exec(name)?.[1];
          if (path) meta.columns.add(path);
        }
      }
      // Multikey fields declared by another connection (the projection worker's, for the serving thread's): queries
      // on them go through the element table, not a parse of every document.
      if (this.tableExists(MULTIKEY_PATHS)) {
        for (const { path } of this.prepare(`SELECT path FROM ${MULTIKEY_PATHS} WHERE collection = ?`).all(collection) as Array<{
          path: string;
        }>) {
          meta.multikey.add(path);
        }
      }
      if (this.tableExists(TEXT_PATHS)) {
        const row = this.prepare(`SELECT path FROM ${TEXT_PATHS} WHERE collection = ?`).get(collection) as { path: string } | undefined;
        meta.text = row?.path ?? null;
      }
      this.meta.set(collection, meta);
    }
    return meta;
  }

  ensureTable(collection: string): void {
    if (!COLLECTION_NAME.test(collection)) throw new ValidationError(`Invalid collection name ${collection}`);
    // Looked up first: a connection that only reads (the serving thread's, when the projections run in a worker)
    // must not ask for the write lock for a table that is there.
    if (!this.tableExists(tableOf(collection)))
      this.db.exec(`CREATE TABLE IF NOT EXISTS ${tableOf(collection)} (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL)`);
  }

  private tableExists(table: string): boolean {
    return this.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(table) !== undefined;
  }

  // The caller names its documents' type: one cached collection per name serves every typed view of it (a
  // narrowing of Collection<Doc>, whose methods accept and return any document).
  collection<T extends Doc = Doc>(name: string): Collection<T> {
    return this.collectionIn(this.collections, name, false) as Collection<T>;
  }

  private collectionIn(cache: Map<string, SqliteCollection<Doc>>, name: string, inTransaction: boolean): Collection<Doc> {
    let collection = cache.get(name);
    if (!collection) {
      this.ensureTable(name);
      collection = new SqliteCollection(this, name, inTransaction);
      cache.set(name, collection);
    }
    return collection;
  }

  ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void> {
    return this.exclusive(() => this.ensureIndexesNow(collection, indexes));
  }

  private ensureIndexesNow(collection: string, indexes: readonly IndexSpec[]): void {
    this.ensureTable(collection);
    const meta = this.metaOf(collection);
    const table = tableOf(collection);
    for (const index of indexes) {
      const paths = Object.keys(index.key);
      if (index.text) {
        if (paths.length !== 1 || index.unique || index.multikey) throw new ValidationError('A text index has one field and nothing else');
        this.ensureTextIndex(collection, paths[0]!);
        continue;
      }
      if (index.multikey) {
        if (paths.length !== 1 || index.unique) throw new ValidationError('A multikey index has one field and is not unique');
        meta.multikey.add(paths[0]!);
        this.db.exec(`
          CREATE TABLE IF NOT EXISTS ${elementTableOf(collection)} (path TEXT NOT NULL, value, id TEXT NOT NULL,
            PRIMARY KEY (path, value, id)) WITHOUT ROWID;
          CREATE INDEX IF NOT EXISTS ${elementTableOf(collection)}_by_id ON ${elementTableOf(collection)} (id);
          CREATE TABLE IF NOT EXISTS ${MULTIKEY_PATHS} (collection TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (collection, path)) WITHOUT ROWID`);
        this.db.prepare(`INSERT OR IGNORE INTO ${MULTIKEY_PATHS} (collection, path) VALUES (?, ?)`).run(collection, paths[0]!);
        continue;
      }
      for (const path of paths) if (path !== '_id') this.ensureColumn(collection, path);
      const columns = Object.entries(index.key)
        .map(([path, direction]) => `${this.fieldSql(collection, path)} ${direction === -1 ? 'DESC' : 'ASC'}`)
        .join(', ');
      // Index names carry a digest of their definition and a random tail: tables are renamed when a projection
      // is rebuilt, SQLite keeps index names, and a rebuilt table must get its own.
      const digest = createHash('sha256')
        .update(`${index.unique ? 'u' : ''}:${columns}`)
        .digest('hex')
        .slice(0, 12);
      const exists = this.db
        .prepare(`SELECT 1 FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name LIKE ?`)
        .get(table, `ix_${digest}_%`);
      if (exists) continue;
      const name = `ix_${digest}_${randomBytes(4).toString('hex')}`;
      this.db.exec(`CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${name} ON ${table} (${columns})`);
    }
  }

  /**
   * An FTS5 table beside the collection's, with prefix indexes for 2 and 3 characters; searchText ranks and cuts
   * excerpts itself (textRanking.ts). An insert writes its FTS5 row itself (SqliteCollection.write): done by a trigger,
   * it cost about 120 µs a row instead of 20, since a statement whose trigger writes a virtual table runs with a
   * statement journal. Updates and deletes, rarer, are kept by triggers. FTS5's secure-delete is on, so a deleted
   * document's words leave the index's segments too (the database's secure_delete zeroes the freed pages). Triggers
   * are named by a random tail, as indexes are: a rebuilt table is renamed into place and must get its own.
   */
  private ensureTextIndex(collection: string, path: string): void {
    const table = tableOf(collection);
    const fts = ftsTableOf(collection);
    const field = `json_extract(doc, '$.${assertPath(path)}')`;
    const triggers = this.db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name LIKE 'fts_%'`)
      .all(table) as Array<{ name: string }>;
    // An index made before the prefix indexes is made again with them.
    const current = (this.db.prepare(`SELECT sql FROM sqlite_master WHERE name = ?`).get(fts) as { sql: string } | undefined)?.sql;
    this.db.exec(`CREATE TABLE IF NOT EXISTS ${TEXT_PATHS} (collection TEXT PRIMARY KEY NOT NULL, path TEXT NOT NULL) WITHOUT ROWID`);
    this.db.prepare(`INSERT OR REPLACE INTO ${TEXT_PATHS} (collection, path) VALUES (?, ?)`).run(collection, path);
    this.metaOf(collection).text = path;
    if (triggers.length > 0 && current?.includes(FTS_PREFIXES)) {
      // Made when a trigger indexed inserts: that one goes, the writer indexes them now.
      for (const { name } of triggers) if (name.endsWith('_insert')) this.db.exec(`DROP TRIGGER ${quoted(name)}`);
      return;
    }
    const tail = randomBytes(4).toString('hex');
    this.db.transaction(() => {
      for (const { name } of triggers) this.db.exec(`DROP TRIGGER ${quoted(name)}`);
      this.db.exec(`
        DROP TABLE IF EXISTS ${fts};
        CREATE VIRTUAL TABLE ${fts} USING fts5(body, tokenize = 'unicode61 remove_diacritics 2', ${FTS_PREFIXES});
        INSERT INTO ${fts} (${fts}, rank) VALUES ('secure-delete', 1);
        INSERT INTO ${fts} (rowid, body) SELECT rowid, ${field} FROM ${table} WHERE ${field} IS NOT NULL;
        CREATE TRIGGER fts_${tail}_update AFTER UPDATE OF doc ON ${table}
          WHEN ${field.replace('doc', 'new.doc')} IS NOT ${field.replace('doc', 'old.doc')} BEGIN
          DELETE FROM ${fts} WHERE rowid = old.rowid;
          INSERT INTO ${fts} (rowid, body) SELECT new.rowid, ${field.replace('doc', 'new.doc')} WHERE ${field.replace('doc', 'new.doc')} IS NOT NULL;
        END;
        CREATE TRIGGER fts_${tail}_delete AFTER DELETE ON ${table} BEGIN
          DELETE FROM ${fts} WHERE rowid = old.rowid;
        END;`);
    })();
  }

  /** The SQL for a field of a collection: its column when indexed, json_extract otherwise. */
  fieldSql(collection: string, path: string): string {
    if (path === '_id') return 'id';
    return this.metaOf(collection).columns.has(path) ? quoted(columnOf(path)) : `json_extract(doc, '$.${assertPath(path)}')`;
  }

  private ensureColumn(collection: string, path: string): void {
    const meta = this.metaOf(collection);
    if (meta.columns.has(path)) return;
    const table = tableOf(collection);
    this.db.transaction(() => {
      this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${quoted(columnOf(path))}`);
      this.db.prepare(`UPDATE ${table} SET ${quoted(columnOf(path))} = json_extract(doc, '$.${assertPath(path)}')`).run();
    })();
    meta.columns.add(path);
    this.metaVersion++;
  }

  /** Bumped whenever a collection gains a column, so prepared writes are rebuilt. */
  metaVersion = 0;

  /**
   * One transaction at a time owns the writing connection, for the whole of `fn` (which may await). Only what
   * `fn` does through its handle is part of it: reads made elsewhere meanwhile go to the read-only connection
   * (committed state), writes made elsewhere queue behind it. The handle is dead once `fn` returns.
   */
  withTransaction<R>(fn: (tx: ReadStoreTransaction) => Promise<R>): Promise<R> {
    this.transactionsPending++;
    const run = async () => {
      let live = true;
      const alive = () => {
        if (!live) throw new Error('This transaction has ended: use the store, not its handle');
      };
      const handle: ReadStoreTransaction = {
        collection: <T extends Doc>(name: string) => {
          alive();
          return this.collectionIn(this.transactionCollections, name, true) as Collection<T>;
        },
        renameCollections: (pairs) => {
          alive();
          this.renameCollectionsNow(pairs);
          return Promise.resolve();
        },
      };
      try {
        // The WAL passed its limit: writes pause until it is drained, so this one starts it over.
        if (this.checkpointer?.wantsReset) await this.checkpointer.resetBeforeWrite();
        await retryWhileBusy(() => this.db.exec('BEGIN IMMEDIATE'));
        this.transactionOpen = true;
        try {
          const result = await fn(handle);
          this.db.exec('COMMIT');
          return result;
        } catch (error) {
          if (this.db.inTransaction) this.db.exec('ROLLBACK');
          throw error;
        }
      } finally {
        live = false;
        this.transactionOpen = false;
        this.transactionsPending--;
      }
    };
    const result = this.transactionQueue.then(run, run);
    this.transactionQueue = result.catch(() => undefined);
    return result;
  }

  renameCollections(pairs: ReadonlyArray<{ from: string; to: string }>): Promise<void> {
    return this.exclusive(() => this.renameCollectionsNow(pairs));
  }

  private renameCollectionsNow(pairs: ReadonlyArray<{ from: string; to: string }>): void {
    this.db.transaction(() => {
      for (const { from, to } of pairs) {
        for (const [source, target] of [
          [tableOf(from), tableOf(to)],
          [elementTableOf(from), elementTableOf(to)],
          [ftsTableOf(from), ftsTableOf(to)],
        ] as const) {
          this.db.exec(`DROP TABLE IF EXISTS ${target}`);
          if (this.tableExists(source)) this.db.exec(`ALTER TABLE ${source} RENAME TO ${target}`);
        }
        for (const paths of [MULTIKEY_PATHS, TEXT_PATHS]) {
          if (!this.tableExists(paths)) continue;
          this.db.prepare(`DELETE FROM ${paths} WHERE collection = ?`).run(to);
          this.db.prepare(`UPDATE ${paths} SET collection = ? WHERE collection = ?`).run(to, from);
        }
        const fromMeta = this.metaOf(from);
        this.meta.set(to, { multikey: new Set(fromMeta.multikey), columns: new Set(fromMeta.columns), text: fromMeta.text });
        this.meta.delete(from);
        this.metaVersion++;
        for (const cache of [this.collections, this.transactionCollections]) {
          cache.delete(from);
          cache.delete(to);
        }
      }
    })();
  }

  dropCollection(name: string): Promise<void> {
    return this.exclusive(() => this.dropCollectionNow(name));
  }

  private dropCollectionNow(name: string): void {
    this.db.exec(
      `DROP TABLE IF EXISTS ${tableOf(name)}; DROP TABLE IF EXISTS ${elementTableOf(name)}; DROP TABLE IF EXISTS ${ftsTableOf(name)}`,
    );
    for (const paths of [MULTIKEY_PATHS, TEXT_PATHS])
      if (this.tableExists(paths)) this.db.prepare(`DELETE FROM ${paths} WHERE collection = ?`).run(name);
    this.collections.delete(name);
    this.transactionCollections.delete(name);
    this.meta.delete(name);
    this.metaVersion++;
  }

  async close(): Promise<void> {
    await this.transactionQueue;
    await this.checkpointer?.stop();
    this.readDb.close();
    this.db.close();
  }
}
