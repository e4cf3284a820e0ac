import { createHash, randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { ConflictError, ValidationError } from '../../commands/shared/errors.ts';
import { BackgroundCheckpointer } from '../sqlite/checkpointer.ts';
import { applyUpdate, assertPath, getPath, seedFromFilter } from './documents.ts';
import type {
  Collection, Doc, FieldOperators, Filter, FindOptions, IndexSpec, ReadStore, SortSpec, Update, WriteResult,
} from './port.ts';

type SqlValue = string | number | null;

/** `{ _id: "..." }` alone: served by the primary key without compiling a filter. */
const isIdOnly = (filter: Filter) => typeof filter._id === 'string' && Object.keys(filter).length === 1;

const COLLECTION_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const tableOf = (collection: string) => `c_${collection}`;
const elementTableOf = (collection: string) => `c_${collection}__elements`;

function toSql(value: unknown): SqlValue {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' || typeof value === 'number' || value === null) return value;
  throw new ValidationError('Filters compare scalars only', { value: typeof value });
}

/**
 * Indexed fields live in real columns named `"p:<path>"`, filled from the document by the adapter on every
 * write: an index on `json_extract(doc, ...)` would make SQLite parse the JSON text once per indexed field on
 * every insert and update. Other fields are read with json_extract.
 */
const columnOf = (path: string) => `p:${assertPath(path)}`;
const quoted = (column: string) => `"${column}"`;
const PATH_COLUMN = /^p:(.+)$/;

function columnValue(doc: Doc, path: string): SqlValue {
  const value = getPath(doc, path);
  if (value === undefined) return null;
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return toSql(value);
}

interface CollectionMeta {
  /** Paths declared multikey: equality goes through the element table, which is indexed. */
  multikey: Set<string>;
  /** Paths with a scalar index, each in its own column. */
  columns: Set<string>;
}

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

class SqliteCollection<T extends Doc> implements Collection<T> {
  private readonly table: string;
  private readonly elementTable: string;
  private readonly statements;

  constructor(private readonly store: SqliteReadStore, readonly name: string) {
    this.table = tableOf(name);
    this.elementTable = elementTableOf(name);
    const db = store.db;
    this.statements = {
      byId: db.prepare<[string], { doc: string }>(`SELECT doc FROM ${this.table} WHERE id = ?`),
      delete: db.prepare(`DELETE FROM ${this.table} WHERE id = ?`),
    };
  }

  private writes: { version: number; columns: string[]; insert: Database.Statement<SqlValue[]>; update: Database.Statement<SqlValue[]> } | null = null;

  /** Insert and update statements that fill every index column; rebuilt when the collection gains one. */
  private get writeStatements() {
    if (this.writes?.version !== this.store.metaVersion) {
      const columns = [...this.meta.columns];
      const names = columns.map((path) => quoted(columnOf(path)));
      this.writes = {
        version: this.store.metaVersion,
        columns,
        insert: this.store.db.prepare<SqlValue[]>(
          `INSERT INTO ${this.table} (id, doc${names.map((n) => `, ${n}`).join('')}) VALUES (?, ?${names.map(() => ', ?').join('')})`),
        update: this.store.db.prepare<SqlValue[]>(
          `UPDATE ${this.table} SET doc = ?${names.map((n) => `, ${n} = ?`).join('')} WHERE id = ?`),
      };
    }
    return this.writes;
  }

  private fieldSql(path: string): string {
    return this.store.fieldSql(this.name, path);
  }

  private get meta() {
    return this.store.metaOf(this.name);
  }

  /** Translates a filter into a WHERE clause that the declared indexes can serve. */
  private where(filter: Filter, params: SqlValue[]): string {
    const clauses: string[] = [];
    for (const [path, condition] of Object.entries(filter)) {
      if (condition === undefined) continue;
      if (path === '$and' || path === '$or') {
        const parts = (condition as Filter[]).map((sub) => `(${this.where(sub, params)})`);
        clauses.push(parts.length === 0 ? (path === '$and' ? '1' : '0') : parts.join(path === '$and' ? ' AND ' : ' OR '));
        continue;
      }
      if (path.startsWith('$')) throw new ValidationError(`Unsupported filter operator ${path}`);
      const isOperators = condition !== null && typeof condition === 'object' && !Array.isArray(condition)
        && Object.keys(condition).every((key) => key.startsWith('$'));
      if (!isOperators) {
        clauses.push(this.equals(path, condition as SqlValue, params));
        continue;
      }
      for (const [operator, operand] of Object.entries(condition as FieldOperators)) {
        clauses.push(this.operator(path, operator, operand, params));
      }
    }
    return clauses.length === 0 ? '1' : clauses.join(' AND ');
  }

  private equals(path: string, value: unknown, params: SqlValue[]): string {
    if (value === null) return `${this.fieldSql(path)} IS NULL`;
    params.push(toSql(value));
    if (this.meta.multikey.has(path)) {
      params.push(path);
      return `id IN (SELECT id FROM ${this.elementTable} WHERE value = ? AND path = ?)`;
    }
    if (path === '_id' || this.meta.columns.has(path)) return `${this.fieldSql(path)} = ?`;
    // Unindexed: MongoDB matches a scalar or any element of an array; json_each yields both.
    return `EXISTS (SELECT 1 FROM json_each(doc, '$.${assertPath(path)}') WHERE value = ?)`;
  }

  private operator(path: string, operator: string, operand: unknown, params: SqlValue[]): string {
    const field = this.fieldSql(path);
    const list = (values: unknown) => {
      if (!Array.isArray(values)) throw new ValidationError(`${operator} takes an array`, { path });
      for (const value of values) params.push(toSql(value));
      return values.map(() => '?').join(', ');
    };
    switch (operator) {
      case '$eq': return this.equals(path, operand, params);
      // A missing field compares as NULL; MongoDB's $ne matches it, so NULL counts as "not equal".
      case '$ne': return `NOT COALESCE((${this.equals(path, operand, params)}), 0)`;
      case '$gt': case '$gte': case '$lt': case '$lte': {
        params.push(toSql(operand));
        const sign = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' }[operator];
        return `${field} ${sign} ?`;
      }
      case '$in': {
        if (!Array.isArray(operand) || operand.length === 0) return '0';
        if (this.meta.multikey.has(path)) {
          const placeholders = list(operand);
          params.push(path);
          return `id IN (SELECT id FROM ${this.elementTable} WHERE value IN (${placeholders}) AND path = ?)`;
        }
        return `${field} IN (${list(operand)})`;
      }
      case '$nin': {
        if (!Array.isArray(operand) || operand.length === 0) return '1';
        return `(${field} IS NULL OR ${field} NOT IN (${list(operand)}))`;
      }
      case '$exists': return `json_type(doc, '$.${assertPath(path)}') IS ${operand ? 'NOT ' : ''}NULL`;
      default: throw new ValidationError(`Unsupported filter operator ${operator}`, { path });
    }
  }

  private orderBy(sort: SortSpec | undefined): string {
    if (!sort || Object.keys(sort).length === 0) return '';
    return ` ORDER BY ${Object.entries(sort).map(([path, direction]) => `${this.fieldSql(path)} ${direction === -1 ? 'DESC' : 'ASC'}`).join(', ')}`;
  }

  private select(filter: Filter, options: FindOptions = {}): T[] {
    if (isIdOnly(filter) && !options.skip) {
      const row = this.statements.byId.get(filter._id as string);
      return row ? [JSON.parse(row.doc) as T] : [];
    }
    const params: SqlValue[] = [];
    let sql = `SELECT doc FROM ${this.table} WHERE ${this.where(filter, params)}${this.orderBy(options.sort)}`;
    if (options.limit !== undefined || options.skip !== undefined) {
      sql += ' LIMIT ? OFFSET ?';
      params.push(options.limit && options.limit > 0 ? options.limit : -1, options.skip ?? 0);
    }
    return (this.store.prepare(sql).all(...params) as Array<{ doc: string }>).map((row) => JSON.parse(row.doc) as T);
  }

  async findOne(filter: Filter): Promise<T | null> {
    return this.select(filter, { limit: 1 })[0] ?? null;
  }

  async find(filter: Filter, options?: FindOptions): Promise<T[]> {
    return this.select(filter, options);
  }

  async countDocuments(filter: Filter): Promise<number> {
    const params: SqlValue[] = [];
    const sql = `SELECT count(*) AS n FROM ${this.table} WHERE ${this.where(filter, params)}`;
    return (this.store.prepare(sql).get(...params) as { n: number }).n;
  }

  private write(doc: T, isNew: boolean): void {
    if (typeof doc._id !== 'string' || doc._id.length === 0) throw new ValidationError('Documents need a string _id');
    const { columns, insert, update } = this.writeStatements;
    const values = columns.map((path) => columnValue(doc, path));
    try {
      if (isNew) insert.run(doc._id, JSON.stringify(doc), ...values);
      else update.run(JSON.stringify(doc), ...values, doc._id);
    } catch (error) {
      throw this.translate(error);
    }
    this.writeElements(doc);
  }

  /** A unique-index violation is the port's duplicate_key conflict. */
  private translate(error: unknown): unknown {
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
      return new ConflictError('duplicate_key', `Duplicate key in ${this.name}`, { collection: this.name });
    }
    return error;
  }

  private writeElements(doc: T): void {
    if (this.meta.multikey.size === 0) return;
    this.store.prepare(`DELETE FROM ${this.elementTable} WHERE id = ?`).run(doc._id);
    const insert = this.store.prepare(`INSERT OR IGNORE INTO ${this.elementTable} (path, value, id) VALUES (?, ?, ?)`);
    for (const path of this.meta.multikey) {
      const value = getPath(doc, path);
      for (const element of Array.isArray(value) ? value : [value]) {
        if (element === undefined || (element !== null && typeof element === 'object')) continue;
        insert.run(path, toSql(element), doc._id);
      }
    }
  }

  private remove(id: string): void {
    this.statements.delete.run(id);
    if (this.meta.multikey.size > 0) this.store.prepare(`DELETE FROM ${this.elementTable} WHERE id = ?`).run(id);
  }

  /** Runs a multi-statement write atomically even outside withTransaction. */
  private atomically<R>(fn: () => R): R {
    return this.store.db.inTransaction ? fn() : this.store.db.transaction(fn)();
  }

  async insertOne(doc: T): Promise<void> {
    this.atomically(() => this.write(doc, true));
  }

  async replaceOne(filter: Filter, doc: T, options: { upsert?: boolean } = {}): Promise<WriteResult> {
    return this.atomically(() => {
      // By id (what projectors do): one UPDATE, no read and parse of the old document.
      if (isIdOnly(filter) && filter._id === doc._id) {
        if (this.writeExisting(doc)) return { matched: 1, modified: 1, upsertedId: null };
        if (!options.upsert) return { matched: 0, modified: 0, upsertedId: null };
        this.write(doc, true);
        return { matched: 0, modified: 0, upsertedId: doc._id };
      }
      const existing = this.select(filter, { limit: 1 })[0];
      if (existing) {
        if (existing._id !== doc._id) throw new ValidationError('_id cannot be changed');
        this.write(doc, false);
        return { matched: 1, modified: 1, upsertedId: null };
      }
      if (!options.upsert) return { matched: 0, modified: 0, upsertedId: null };
      this.write(doc, true);
      return { matched: 0, modified: 0, upsertedId: doc._id };
    });
  }

  /** Updates the stored document with this id, if there is one. */
  private writeExisting(doc: T): boolean {
    const { columns, update } = this.writeStatements;
    try {
      if (update.run(JSON.stringify(doc), ...columns.map((path) => columnValue(doc, path)), doc._id).changes === 0) return false;
    } catch (error) {
      throw this.translate(error);
    }
    this.writeElements(doc);
    return true;
  }

  async updateOne(filter: Filter, update: Update, options: { upsert?: boolean } = {}): Promise<WriteResult> {
    return this.atomically(() => this.updateWhere(filter, update, 1, options.upsert ?? false));
  }

  async updateMany(filter: Filter, update: Update): Promise<WriteResult> {
    return this.atomically(() => this.updateWhere(filter, update, undefined, false));
  }

  private updateWhere(filter: Filter, update: Update, limit: number | undefined, upsert: boolean): WriteResult {
    const matches = this.select(filter, limit === undefined ? {} : { limit });
    let modified = 0;
    for (const doc of matches) {
      const next = applyUpdate(doc, update);
      if (JSON.stringify(next) === JSON.stringify(doc)) continue;
      this.write(next, false);
      modified++;
    }
    if (matches.length > 0 || !upsert) return { matched: matches.length, modified, upsertedId: null };
    const seed = seedFromFilter(filter);
    if (typeof seed._id !== 'string') throw new ValidationError('An upsert filter must name the _id');
    this.write(applyUpdate(seed as T, update, true), true);
    return { matched: 0, modified: 0, upsertedId: seed._id };
  }

  async deleteOne(filter: Filter): Promise<number> {
    return this.atomically(() => {
      const doc = this.select(filter, { limit: 1 })[0];
      if (doc) this.remove(doc._id);
      return doc ? 1 : 0;
    });
  }

  async deleteMany(filter: Filter): Promise<number> {
    return this.atomically(() => {
      const docs = this.select(filter);
      for (const doc of docs) this.remove(doc._id);
      return docs.length;
    });
  }
}
