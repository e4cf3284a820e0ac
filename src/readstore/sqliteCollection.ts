import Database from 'better-sqlite3';
import { ConflictError, ValidationError } from '../../commands/shared/errors.ts';
import { retryWhileBusy } from '../sqlite/busy.ts';
import { applyUpdate, assertPath, getPath, seedFromFilter } from './documents.ts';
import {
  MATCH_END,
  MATCH_START,
  TEXT_CANDIDATES,
  TEXT_SCANNED,
  type Collection,
  type Doc,
  type Filter,
  type FindOptions,
  type SortSpec,
  type TextHit,
  type TextQuery,
  type Update,
  type WriteResult,
} from './port.ts';
import type { SqliteReadStore } from './sqlite.ts';
import {
  columnOf,
  columnValue,
  elementTableOf,
  ftsTableOf,
  isIdOnly,
  positionGuardOf,
  quoted,
  tableOf,
  toSql,
  type SqlValue,
} from './sqliteSchema.ts';

/** One collection of the embedded read store: filters compiled to SQL, updates applied in JS. */
export class SqliteCollection<T extends Doc> implements Collection<T> {
  private readonly table: string;
  private readonly elementTable: string;

  /** `inTransaction`: reached through a transaction's handle, so it reads and writes inside that transaction. */
  constructor(
    private readonly store: SqliteReadStore,
    readonly name: string,
    private readonly inTransaction = false,
  ) {
    this.table = tableOf(name);
    this.elementTable = elementTableOf(name);
  }

  private writes: {
    version: number;
    columns: string[];
    insert: Database.Statement<SqlValue[]>;
    /** The stored index-column values of a document, with its `_position` first in `withPosition`. */
    current: Database.Statement<SqlValue[]>;
    currentWithPosition: Database.Statement<SqlValue[]>;
    /** UPDATEs by which index columns they set (a string of 0s and 1s), prepared as they are needed. */
    updates: Map<string, Database.Statement<SqlValue[]>>;
  } | null = null;

  /** Statements that write documents and their index columns; rebuilt when the collection gains a column. */
  private get writeStatements() {
    if (this.writes?.version !== this.store.metaVersion) {
      const columns = [...this.meta.columns];
      const names = columns.map((path) => quoted(columnOf(path)));
      const db = this.store.db;
      this.writes = {
        version: this.store.metaVersion,
        columns,
        insert: db.prepare<SqlValue[]>(
          `INSERT INTO ${this.table} (id, doc${names.map((n) => `, ${n}`).join('')}) VALUES (?, ?${names.map(() => ', ?').join('')})`,
        ),
        current: db.prepare<SqlValue[]>(`SELECT 0${names.map((n) => `, ${n}`).join('')} FROM ${this.table} WHERE id = ?`).raw(true),
        currentWithPosition: db
          .prepare<SqlValue[]>(
            `SELECT json_extract(doc, '$._position')${names.map((n) => `, ${n}`).join('')} FROM ${this.table} WHERE id = ?`,
          )
          .raw(true),
        updates: new Map(),
      };
    }
    return this.writes;
  }

  /**
   * Rewrites a stored document (only over one older than `olderThan`, when given), setting only the index columns
   * whose values change: SQLite rewrites the index entry of every column an UPDATE sets, changed or not, and most
   * updates (a membership's read mark, a summary's last message) change no indexed field. False when there is no
   * such document.
   */
  private updateRow(doc: T, olderThan?: number): boolean {
    const { columns, current, currentWithPosition, updates } = this.writeStatements;
    const stored = (olderThan === undefined ? current : currentWithPosition).get(doc._id) as SqlValue[] | undefined;
    if (!stored) return false;
    if (olderThan !== undefined && !(typeof stored[0] === 'number' && stored[0] < olderThan)) return false;
    const values = columns.map((path) => columnValue(doc, path));
    const changed = values.map((value, index) => value !== stored[index + 1]);
    const key = changed.map((set) => (set ? '1' : '0')).join('');
    let update = updates.get(key);
    if (!update) {
      const names = columns.filter((_, index) => changed[index]).map((path) => quoted(columnOf(path)));
      update = this.store.db.prepare<SqlValue[]>(`UPDATE ${this.table} SET doc = ?${names.map((n) => `, ${n} = ?`).join('')} WHERE id = ?`);
      updates.set(key, update);
    }
    try {
      update.run(JSON.stringify(doc), ...values.filter((_, index) => changed[index]), doc._id);
    } catch (error) {
      throw this.translate(error);
    }
    this.writeElements(doc);
    return true;
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
        // Parenthesized as a whole: the clauses are joined with AND, which binds tighter than OR.
        clauses.push(parts.length === 0 ? (path === '$and' ? '1' : '0') : `(${parts.join(path === '$and' ? ' AND ' : ' OR ')})`);
        continue;
      }
      if (path.startsWith('$')) throw new ValidationError(`Unsupported filter operator ${path}`);
      const isOperators =
        condition !== null &&
        typeof condition === 'object' &&
        !Array.isArray(condition) &&
        Object.keys(condition).every((key) => key.startsWith('$'));
      if (!isOperators) {
        clauses.push(this.equals(path, condition, params));
        continue;
      }
      for (const [operator, operand] of Object.entries(condition)) {
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
      case '$eq':
        return this.equals(path, operand, params);
      // A missing field compares as NULL; MongoDB's $ne matches it, so NULL counts as "not equal".
      case '$ne':
        return `NOT COALESCE((${this.equals(path, operand, params)}), 0)`;
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte': {
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
      case '$exists':
        return `json_type(doc, '$.${assertPath(path)}') IS ${operand ? 'NOT ' : ''}NULL`;
      default:
        throw new ValidationError(`Unsupported filter operator ${operator}`, { path });
    }
  }

  private orderBy(sort: SortSpec | undefined): string {
    if (!sort || Object.keys(sort).length === 0) return '';
    return ` ORDER BY ${Object.entries(sort)
      .map(([path, direction]) => `${this.fieldSql(path)} ${direction === -1 ? 'DESC' : 'ASC'}`)
      .join(', ')}`;
  }

  /** Reads through the connection the caller may see: its own transaction's, or the committed state. */
  private select(filter: Filter, options: FindOptions = {}): T[] {
    const db = this.store.readerConnection(this.inTransaction);
    if (isIdOnly(filter) && !options.skip) {
      const row = this.store.prepare(`SELECT doc FROM ${this.table} WHERE id = ?`, db).get(filter._id as string) as
        { doc: string } | undefined;
      return row ? [JSON.parse(row.doc) as T] : [];
    }
    const params: SqlValue[] = [];
    let sql = `SELECT doc FROM ${this.table} WHERE ${this.where(filter, params)}${this.orderBy(options.sort)}`;
    if (options.limit !== undefined || options.skip !== undefined) {
      sql += ' LIMIT ? OFFSET ?';
      params.push(options.limit && options.limit > 0 ? options.limit : -1, options.skip ?? 0);
    }
    return (this.store.prepare(sql, db).all(...params) as Array<{ doc: string }>).map((row) => JSON.parse(row.doc) as T);
  }

  // Reads can meet SQLITE_BUSY for a moment while another connection restarts the WAL (the projection worker's
  // checkpoints): they are retried asynchronously, like writes, never waited for on the serving thread.
  async findOne(filter: Filter): Promise<T | null> {
    return retryWhileBusy(() => this.select(filter, { limit: 1 })[0] ?? null);
  }

  async find(filter: Filter, options?: FindOptions): Promise<T[]> {
    return retryWhileBusy(() => this.select(filter, options));
  }

  /**
   * FTS5 MATCH on the collection's text index, joined to the documents by rowid and filtered like `find`; ranked by
   * BM25. Each term is a quoted FTS5 string (no operator syntax reaches MATCH), the last one a prefix.
   */
  async searchText(query: TextQuery): Promise<Array<TextHit<T>>> {
    const fts = ftsTableOf(this.name);
    const terms = query.terms.map((term, index) => `"${term.replaceAll('"', '""')}"${index === query.terms.length - 1 ? '*' : ''}`);
    if (terms.length === 0) return [];
    return retryWhileBusy(() => {
      const db = this.store.readerConnection(this.inTransaction);
      const match = terms.join(' AND ');
      // Bounded work whatever the words and filter: only the newest TEXT_SCANNED matches of the words are looked at
      // (the oldest of them found by walking the doclist alone, no document read), and of those the newest
      // TEXT_CANDIDATES the filter lets through are ranked (BM25 computed for them only).
      const floor = this.store
        .prepare(`SELECT rowid AS rid FROM ${fts} WHERE ${fts} MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ${TEXT_SCANNED - 1}`, db)
        .get(match) as { rid: number } | undefined;
      const params: SqlValue[] = [match, floor?.rid ?? 0];
      const where = this.where(query.filter, params);
      params.push(query.limit, query.skip ?? 0);
      const page = this.store
        .prepare(
          `WITH candidates AS (SELECT ${fts}.rowid AS rid, bm25(${fts}) AS score FROM ${fts} ` +
            `JOIN ${this.table} ON ${this.table}.rowid = ${fts}.rowid WHERE ${fts} MATCH ? AND ${fts}.rowid >= ? AND (${where}) ` +
            `ORDER BY ${fts}.rowid DESC LIMIT ${TEXT_CANDIDATES}) ` +
            `SELECT rid, score, ${this.table}.doc AS doc FROM (SELECT rid, score FROM candidates ORDER BY score, rid DESC LIMIT ? OFFSET ?) ` +
            `CROSS JOIN ${this.table} WHERE ${this.table}.rowid = rid ORDER BY score, rid DESC`,
          db,
        )
        .all(...params) as Array<{ rid: number; score: number; doc: string }>;
      if (page.length === 0) return [];
      // Excerpts in one pass over the page's rowid range: each FTS5 lookup re-reads the words' doclists (a prefix merges
      // them all), so one lookup per row would cost a walk of every match per row. `+rowid` keeps the IN out of FTS5.
      const rids = page.map((row) => row.rid);
      const snippets = new Map(
        (
          this.store
            .prepare(
              `SELECT rowid AS rid, snippet(${fts}, 0, ?, ?, '…', 16) AS snippet FROM ${fts} WHERE ${fts} MATCH ? ` +
                `AND rowid BETWEEN ? AND ? AND +rowid IN (SELECT value FROM json_each(?))`,
              db,
            )
            .all(MATCH_START, MATCH_END, match, Math.min(...rids), Math.max(...rids), JSON.stringify(rids)) as Array<{
            rid: number;
            snippet: string;
          }>
        ).map((row) => [row.rid, row.snippet]),
      );
      return page.map((row) => ({ doc: JSON.parse(row.doc) as T, score: -row.score, snippet: snippets.get(row.rid) ?? '' }));
    });
  }

  async countDocuments(filter: Filter, options: { limit?: number } = {}): Promise<number> {
    const params: SqlValue[] = [];
    const where = this.where(filter, params);
    const sql =
      options.limit === undefined
        ? `SELECT count(*) AS n FROM ${this.table} WHERE ${where}`
        : `SELECT count(*) AS n FROM (SELECT 1 FROM ${this.table} WHERE ${where} LIMIT ?)`;
    if (options.limit !== undefined) params.push(options.limit);
    return retryWhileBusy(
      () => (this.store.prepare(sql, this.store.readerConnection(this.inTransaction)).get(...params) as { n: number }).n,
    );
  }

  private write(doc: T, isNew: boolean): void {
    if (typeof doc._id !== 'string' || doc._id.length === 0) throw new ValidationError('Documents need a string _id');
    if (!isNew) {
      this.updateRow(doc);
      return;
    }
    const { columns, insert } = this.writeStatements;
    try {
      insert.run(doc._id, JSON.stringify(doc), ...columns.map((path) => columnValue(doc, path)));
    } catch (error) {
      throw this.translate(error);
    }
    this.writeElements(doc, true);
  }

  /** A unique-index violation is the port's duplicate_key conflict. */
  private translate(error: unknown): unknown {
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
      // `onId` tells a document that already exists from a unique index on other fields.
      return new ConflictError('duplicate_key', `Duplicate key in ${this.name}`, {
        collection: this.name,
        onId: code === 'SQLITE_CONSTRAINT_PRIMARYKEY',
      });
    }
    return error;
  }

  /**
   * Keeps the element table of a multikey index in step with the document: only the elements that came or went are
   * written (`isNew`: it was just inserted, so it has none yet; an insert over an existing id fails first).
   */
  private writeElements(doc: T, isNew = false): void {
    if (this.meta.multikey.size === 0) return;
    const keyOf = (path: string, value: SqlValue) => JSON.stringify([path, value]);
    const wanted = new Map<string, [string, SqlValue]>();
    for (const path of this.meta.multikey) {
      const value = getPath(doc, path);
      for (const element of Array.isArray(value) ? value : [value]) {
        if (element === undefined || (element !== null && typeof element === 'object')) continue;
        const sql = toSql(element);
        wanted.set(keyOf(path, sql), [path, sql]);
      }
    }
    if (!isNew) {
      const stored = this.store.prepare(`SELECT path, value FROM ${this.elementTable} WHERE id = ?`).all(doc._id) as Array<{
        path: string;
        value: SqlValue;
      }>;
      const remove = this.store.prepare(`DELETE FROM ${this.elementTable} WHERE path = ? AND value = ? AND id = ?`);
      for (const { path, value } of stored) {
        if (!wanted.delete(keyOf(path, value))) remove.run(path, value, doc._id);
      }
    }
    const insert = this.store.prepare(`INSERT OR IGNORE INTO ${this.elementTable} (path, value, id) VALUES (?, ?, ?)`);
    for (const [path, value] of wanted.values()) insert.run(path, value, doc._id);
  }

  private remove(id: string): void {
    this.store.prepare(`DELETE FROM ${this.table} WHERE id = ?`).run(id);
    if (this.meta.multikey.size > 0) this.store.prepare(`DELETE FROM ${this.elementTable} WHERE id = ?`).run(id);
  }

  /** A write runs inside the caller's own transaction, or atomically as a transaction of its own. */
  private atomically<R>(fn: () => R): Promise<R> {
    return this.store.exclusive(fn, this.inTransaction);
  }

  async insertOne(doc: T): Promise<void> {
    await this.atomically(() => this.write(doc, true));
  }

  async replaceOne(filter: Filter, doc: T, options: { upsert?: boolean } = {}): Promise<WriteResult> {
    return this.atomically(() => {
      // A projector's guarded write: one UPDATE that applies only over an older document, else an insert.
      const guard = positionGuardOf(filter);
      if (guard !== null && filter._id === doc._id) {
        if (this.updateRow(doc, guard)) return { matched: 1, modified: 1, upsertedId: null };
        if (!options.upsert) return { matched: 0, modified: 0, upsertedId: null };
        this.write(doc, true); // a newer document with this id makes this a duplicate_key, as on MongoDB
        return { matched: 0, modified: 0, upsertedId: doc._id };
      }
      // By id: one UPDATE, no read and parse of the old document.
      if (isIdOnly(filter) && filter._id === doc._id) {
        if (this.updateRow(doc)) return { matched: 1, modified: 1, upsertedId: null };
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
