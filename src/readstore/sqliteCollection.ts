import Database from 'better-sqlite3';
import { ConflictError, ValidationError } from '../../commands/shared/errors.ts';
import { retryWhileBusy } from '../sqlite/busy.ts';
import { applyUpdate, assertPath, getPath, seedFromFilter } from './documents.ts';
import {
  TEXT_CANDIDATES,
  TEXT_PREFIX_INDEX_MAX,
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
import { bm25, decodeAverages, excerpt, foldWord, inverseDocumentFrequency } from './textRanking.ts';
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

/** A word as an FTS5 string: no operator syntax reaches MATCH. */
const quotePhrase = (word: string) => `"${word.replaceAll('"', '""')}"`;
const NON_ASCII = /[^ -~\t\n\r]/;
/** Past this many longer words, a prefix is left to FTS5 to merge. */
const PREFIX_EXPANSION_MAX = 16;

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
   * BM25 (FTS5's formula, computed over the candidates in textRanking.ts). Each term is a quoted FTS5 string (no operator
   * syntax reaches MATCH), the last one a prefix (see prefixPhrase).
   */
  async searchText(query: TextQuery): Promise<Array<TextHit<T>>> {
    const fts = ftsTableOf(this.name);
    if (query.terms.length === 0) return [];
    const terms = query.terms.map(foldWord);
    return retryWhileBusy(() => {
      const db = this.store.readerConnection(this.inTransaction);
      const phrases = query.terms.map((term, index) =>
        index === query.terms.length - 1 ? this.prefixPhrase(db, fts, term) : quotePhrase(term),
      );
      const match = phrases.join(' AND ');
      // Bounded work whatever the words and filter, in one FTS5 pass (a prefix merges its terms' doclists once per
      // MATCH): the newest TEXT_SCANNED matches of the words, in rowid order without reading a document, are joined to
      // their documents and filtered until the newest TEXT_CANDIDATES that pass are found. Only those are ranked.
      const params: SqlValue[] = [match];
      const where = this.where(query.filter, params);
      const field = `json_extract(${this.table}.doc, '$.${assertPath(query.field)}')`;
      const candidates = this.store
        .prepare(
          `SELECT ${this.table}.rowid AS rid, ${field} AS body FROM (SELECT rowid AS rid FROM ${fts} WHERE ${fts} MATCH ? ` +
            `ORDER BY rowid DESC LIMIT ${TEXT_SCANNED}) AS scanned CROSS JOIN ${this.table} ON ${this.table}.rowid = scanned.rid ` +
            `WHERE (${where}) LIMIT ${TEXT_CANDIDATES}`,
          db,
        )
        .all(...params) as Array<{ rid: number; body: string | number | null }>;
      if (candidates.length === 0) return [];
      const { documents, averageLength } = this.textTotals(db, fts);
      // One word's weight is the same for every candidate: only several words need their frequencies, each from the
      // newest TEXT_SCANNED of its matches (bm25() would count every match in the index).
      const idf =
        phrases.length === 1 ? [1] : phrases.map((phrase) => inverseDocumentFrequency(this.matchesOf(db, fts, phrase), documents));
      const ranked = candidates
        .map((row) => {
          const body = String(row.body ?? '');
          return { rid: row.rid, body, score: bm25(body, terms, idf, averageLength) };
        })
        .sort((a, b) => b.score - a.score || b.rid - a.rid)
        .slice(query.skip ?? 0, (query.skip ?? 0) + query.limit);
      if (ranked.length === 0) return [];
      const docs = new Map(
        (
          this.store
            .prepare(`SELECT rowid AS rid, doc FROM ${this.table} WHERE rowid IN (SELECT value FROM json_each(?))`, db)
            .all(JSON.stringify(ranked.map((row) => row.rid))) as Array<{ rid: number; doc: string }>
        ).map((row) => [row.rid, row.doc]),
      );
      return ranked.flatMap((row) => {
        const doc = docs.get(row.rid);
        return doc === undefined ? [] : [{ doc: JSON.parse(doc) as T, score: row.score, snippet: excerpt(row.body, terms) }];
      });
    });
  }

  /**
   * The last word as a prefix, as cheaply as FTS5 allows: a prefix of 2 or 3 characters reads the prefix index; a longer
   * one is replaced by the few longer words of the index it stands for (FTS5 reads an OR of words lazily, newest first,
   * where a prefix query without an index merges every matching word's whole doclist first, on every MATCH). One
   * character is the word itself: a one-letter prefix would merge a large share of the index.
   */
  private prefixPhrase(db: Database.Database, fts: string, word: string): string {
    // The index holds folded words; an ASCII word folds to its lower case (others are left to FTS5's own folding).
    const term = NON_ASCII.test(word) ? word : word.toLowerCase();
    const length = [...term].length;
    if (length < 2) return quotePhrase(term);
    if (length <= TEXT_PREFIX_INDEX_MAX || NON_ASCII.test(term)) return `${quotePhrase(term)}*`;
    const vocabulary = `${fts}_vocab`;
    if (!this.store.hasTempVocabulary(db, fts)) {
      db.exec(`CREATE VIRTUAL TABLE IF NOT EXISTS temp.${vocabulary} USING fts5vocab(main, '${fts}', 'row')`);
      this.store.markTempVocabulary(db, fts);
    }
    // Tokens are letters and digits: '0' is the smallest character that can extend one.
    const longer = this.store
      .prepare(`SELECT term FROM temp.${vocabulary} WHERE term >= ? AND term < ? LIMIT ${PREFIX_EXPANSION_MAX}`, db)
      .all(`${term}0`, `${term}\u{10FFFF}`) as Array<{ term: string }>;
    if (longer.length >= PREFIX_EXPANSION_MAX) return `${quotePhrase(term)}*`;
    return longer.length === 0 ? quotePhrase(term) : `(${[term, ...longer.map((row) => row.term)].map(quotePhrase).join(' OR ')})`;
  }

  /** The rows of the text index and their mean length in tokens, from FTS5's own totals (what bm25() reads). */
  private textTotals(db: Database.Database, fts: string): { documents: number; averageLength: number } {
    const row = this.store.prepare(`SELECT block FROM ${fts}_data WHERE id = 1`, db).get() as { block: Uint8Array } | undefined;
    const totals = row ? decodeAverages(row.block) : null;
    if (!totals || totals.rows === 0) return { documents: 1, averageLength: 1 };
    return { documents: totals.rows, averageLength: totals.tokens / totals.rows };
  }

  /**
   * How many documents a phrase matches: exact up to TEXT_SCANNED, past that estimated from how densely its newest
   * TEXT_SCANNED matches lie among the rowids (so the count walks no more of the doclist than the search does).
   */
  private matchesOf(db: Database.Database, fts: string, phrase: string): number {
    const { n, low } = this.store
      .prepare(
        `SELECT count(*) AS n, min(rid) AS low FROM (SELECT rowid AS rid FROM ${fts} WHERE ${fts} MATCH ? ORDER BY rowid DESC LIMIT ${TEXT_SCANNED})`,
        db,
      )
      .get(phrase) as { n: number; low: number | null };
    if (n < TEXT_SCANNED || low === null) return n;
    const { high } = this.store.prepare(`SELECT max(rowid) AS high FROM ${this.table}`, db).get() as { high: number };
    return Math.round((n * high) / Math.max(1, high - low + 1));
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
    let rowid: number;
    try {
      rowid = Number(insert.run(doc._id, JSON.stringify(doc), ...columns.map((path) => columnValue(doc, path))).lastInsertRowid);
    } catch (error) {
      throw this.translate(error);
    }
    this.writeElements(doc, true);
    this.writeText(doc, rowid);
  }

  /** A new document's row in the full-text index (updates and deletes are kept by triggers: see ensureTextIndex). */
  private writeText(doc: T, rowid: number): void {
    const path = this.meta.text;
    if (path === null) return;
    const value = getPath(doc, path);
    if (value === undefined || value === null) return;
    this.store
      .prepare(`INSERT INTO ${ftsTableOf(this.name)} (rowid, body) VALUES (?, ?)`)
      .run(rowid, typeof value === 'string' || typeof value === 'number' ? value : JSON.stringify(value));
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
