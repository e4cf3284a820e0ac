import { createHash, randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { ValidationError } from '../../commands/shared/errors.ts';
import { BackgroundCheckpointer } from '../sqlite/checkpointer.ts';
import { assertPath } from './documents.ts';
import type { Collection, Doc, IndexSpec, ReadStore } from './port.ts';
import { SqliteCollection } from './sqliteCollection.ts';
import {
  COLLECTION_NAME, PATH_COLUMN, columnOf, elementTableOf, quoted, tableOf, type CollectionMeta, type SqlValue,
} from './sqliteSchema.ts';

/**
 * The embedded read store: one SQLite table per collection holding JSON documents, the declared indexed
 * fields copied into indexed columns, and an element table for multikey (array) indexes.
 */
export class SqliteReadStore implements ReadStore {
  readonly kind = 'embedded';
  readonly db: Database.Database;
  private readonly meta = new Map<string, CollectionMeta>();
  private readonly collections = new Map<string, SqliteCollection<Doc>>();
  private transactionQueue: Promise<unknown> = Promise.resolve();
  private readonly checkpointer: BackgroundCheckpointer;
  /** Filters compile to a handful of distinct SQL texts; preparing each once keeps the hot path cheap. */
  private readonly statements = new Map<string, Database.Statement<SqlValue[]>>();

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // The read store is derived data: a power loss may roll back the newest projection transactions together
    // with their checkpoints, and the projectors then replay them from the event log.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('wal_autocheckpoint = 0');
    this.db.pragma('cache_size = -65536');
    this.db.pragma('busy_timeout = 10000');
    // Should the background worker die, SQLite checkpoints on its own again: slower, never unbounded.
    this.checkpointer = new BackgroundCheckpointer(file, () => this.db.pragma('wal_autocheckpoint = 1000'));
  }

  prepare(sql: string): Database.Statement<SqlValue[]> {
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size > 1_000) this.statements.clear();
      statement = this.db.prepare<SqlValue[]>(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  metaOf(collection: string): CollectionMeta {
    let meta = this.meta.get(collection);
    if (!meta) {
      meta = { multikey: new Set(), columns: new Set() };
      // Columns made by an earlier run or another process: every write must keep them filled.
      if (COLLECTION_NAME.test(collection)) {
        for (const { name } of this.db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${tableOf(collection)}')`).all()) {
          const path = PATH_COLUMN.exec(name)?.[1];
          if (path) meta.columns.add(path);
        }
      }
      this.meta.set(collection, meta);
    }
    return meta;
  }

  ensureTable(collection: string): void {
    if (!COLLECTION_NAME.test(collection)) throw new ValidationError(`Invalid collection name ${collection}`);
    this.db.exec(`CREATE TABLE IF NOT EXISTS ${tableOf(collection)} (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID`);
  }

  collection<T extends Doc = Doc>(name: string): Collection<T> {
    let collection = this.collections.get(name);
    if (!collection) {
      this.ensureTable(name);
      collection = new SqliteCollection(this, name);
      this.collections.set(name, collection);
    }
    return collection as unknown as Collection<T>;
  }

  async ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void> {
    this.ensureTable(collection);
    const meta = this.metaOf(collection);
    const table = tableOf(collection);
    for (const index of indexes) {
      const paths = Object.keys(index.key);
      if (index.multikey) {
        if (paths.length !== 1 || index.unique) throw new ValidationError('A multikey index has one field and is not unique');
        meta.multikey.add(paths[0]!);
        this.db.exec(`
          CREATE TABLE IF NOT EXISTS ${elementTableOf(collection)} (path TEXT NOT NULL, value, id TEXT NOT NULL,
            PRIMARY KEY (path, value, id)) WITHOUT ROWID;
          CREATE INDEX IF NOT EXISTS ${elementTableOf(collection)}_by_id ON ${elementTableOf(collection)} (id)`);
        continue;
      }
      for (const path of paths) if (path !== '_id') this.ensureColumn(collection, path);
      const columns = Object.entries(index.key)
        .map(([path, direction]) => `${this.fieldSql(collection, path)} ${direction === -1 ? 'DESC' : 'ASC'}`).join(', ');
      // Index names carry a digest of their definition and a random tail: tables are renamed when a projection
      // is rebuilt, SQLite keeps index names, and a rebuilt table must get its own.
      const digest = createHash('sha256').update(`${index.unique ? 'u' : ''}:${columns}`).digest('hex').slice(0, 12);
      const exists = this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name LIKE ?`)
        .get(table, `ix_${digest}_%`);
      if (exists) continue;
      const name = `ix_${digest}_${randomBytes(4).toString('hex')}`;
      this.db.exec(`CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${name} ON ${table} (${columns})`);
    }
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

  withTransaction<R>(fn: () => Promise<R>): Promise<R> {
    const run = async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn();
        this.db.exec('COMMIT');
        return result;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw error;
      }
    };
    const result = this.transactionQueue.then(run, run);
    this.transactionQueue = result.catch(() => undefined);
    return result;
  }

  async renameCollections(pairs: ReadonlyArray<{ from: string; to: string }>): Promise<void> {
    const tableExists = this.db.prepare<[string], { name: string }>(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?`);
    this.db.transaction(() => {
      for (const { from, to } of pairs) {
        for (const [source, target] of [[tableOf(from), tableOf(to)], [elementTableOf(from), elementTableOf(to)]] as const) {
          this.db.exec(`DROP TABLE IF EXISTS ${target}`);
          if (tableExists.get(source)) this.db.exec(`ALTER TABLE ${source} RENAME TO ${target}`);
        }
        const fromMeta = this.metaOf(from);
        this.meta.set(to, { multikey: new Set(fromMeta.multikey), columns: new Set(fromMeta.columns) });
        this.meta.delete(from);
        this.metaVersion++;
        this.collections.delete(from);
        this.collections.delete(to);
      }
    })();
  }

  async dropCollection(name: string): Promise<void> {
    this.db.exec(`DROP TABLE IF EXISTS ${tableOf(name)}; DROP TABLE IF EXISTS ${elementTableOf(name)}`);
    this.collections.delete(name);
    this.meta.delete(name);
    this.metaVersion++;
  }

  async close(): Promise<void> {
    await this.transactionQueue;
    await this.checkpointer.stop();
    this.db.close();
  }
}
