import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ConflictError, UnavailableError, ValidationError } from '../../commands/shared/errors.ts';
import {
  createClient,
  createPool,
  isUnavailable,
  quoteIdent,
  schemaOf,
  unavailable,
  UNIQUE_VIOLATION,
  type PostgresSettings,
} from '../postgres/connection.ts';
import { seedFromFilter } from './documents.ts';
import {
  assertCollectionName,
  assertSafeDocument,
  assertSafeFilter,
  assertSafeFindOptions,
  assertSafeIndexes,
  assertSafeUpdate,
  assertUpsertFilter,
} from './filterSafety.ts';
import {
  MATCH_END,
  MATCH_START,
  TEXT_CANDIDATES,
  TEXT_SCANNED,
  TEXT_STATEMENT_TIMEOUT_MS,
  type Collection,
  type Doc,
  type Filter,
  type FindOptions,
  type IndexSpec,
  type ReadStore,
  type ReadStoreTransaction,
  type TextHit,
  type TextQuery,
  type Update,
  type WriteResult,
} from './port.ts';
import {
  compileFilter,
  compileSort,
  compileUpdate,
  elementsSql,
  fieldSql,
  textFieldSql,
  textVectorSql,
  helperFunctionsSql,
  Params,
  sortKey,
  UPDATE_REFUSED,
  type IndexedPaths,
} from './postgresSql.ts';

/** Which paths of which collections are indexed, and how: the compiled filters use the matching expressions. */
const INDEXED_PATHS = 'read_store_indexed_paths';
const UNDEFINED_TABLE = '42P01';
/** SQLSTATE of a statement cancelled by statement_timeout. */
const QUERY_CANCELED = '57014';
/** Collection names become `c_<name>`; PostgreSQL would silently cut identifiers past 63 bytes. */
const MAX_COLLECTION_NAME = 55;

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

/** What runs a query: the pool (autocommit, one statement each) or the client a transaction owns. */
type Runner = Pick<pg.Pool, 'query'>;

interface Paths {
  scalar: Set<string>;
  multikey: Set<string>;
}

/**
 * The read store on PostgreSQL: a table per collection (`id text` + `doc jsonb`), every filter, update and sort the
 * port allows compiled to parameterized SQL (postgresSql.ts), declared indexes as btree expression indexes (GIN over
 * the elements for multikey fields). A transaction holds one pooled connection for its whole callback; everything
 * else runs as single statements on the pool.
 */
export class PostgresReadStore implements ReadStore {
  readonly kind = 'postgres';
  private readonly paths = new Map<string, Paths>();
  /** Tables known to exist (created by this instance or found): `CREATE TABLE IF NOT EXISTS` once each. */
  private readonly ensured = new Map<string, Promise<void>>();
  /** Tables whose creation has completed: a transaction's statements need no catalog round trip for them. */
  private readonly known = new Set<string>();
  private closed = false;
  /** Listeners of notices by channel (as announced, before the schema is appended). */
  private readonly noticeListeners = new Map<string, Set<() => void>>();
  private listener: pg.Client | null = null;
  private listenerRetry: NodeJS.Timeout | null = null;

  private constructor(
    private readonly pool: pg.Pool,
    readonly schema: string,
    private readonly settings: PostgresSettings,
  ) {}

  static async connect(settings: PostgresSettings): Promise<PostgresReadStore> {
    const schema = schemaOf(settings);
    const pool = createPool(settings);
    const store = new PostgresReadStore(pool, schema, settings);
    try {
      await store.ddl(
        pool,
        `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)};
        CREATE TABLE IF NOT EXISTS ${store.qualified(INDEXED_PATHS)} (collection text NOT NULL, path text NOT NULL, multikey boolean NOT NULL,
          PRIMARY KEY (collection, path, multikey));
        ${helperFunctionsSql((name) => store.qualified(name))}`,
      );
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw translate(error);
    }
    return store;
  }

  qualified(name: string): string {
    return `${quoteIdent(this.schema)}.${quoteIdent(name)}`;
  }

  tableOf(collection: string): string {
    assertCollectionName(collection);
    if (collection.length > MAX_COLLECTION_NAME)
      throw new ValidationError(`Collection names are at most ${MAX_COLLECTION_NAME} characters`);
    return this.qualified(`c_${collection}`);
  }

  /** Catalog changes one at a time across instances: concurrent `IF NOT EXISTS` can still collide in the catalog. */
  private async ddl(runner: Runner, sql: string): Promise<void> {
    const inOwnTransaction = runner === this.pool;
    const statements = `SELECT pg_advisory_xact_lock(hashtext('letsapp schema')); ${sql}`;
    await runner.query(inOwnTransaction ? `BEGIN; ${statements}; COMMIT;` : statements);
  }

  /** Creates the collection's table if missing; on a transaction's connection, inside that transaction. */
  ensureTable(collection: string, runner: Runner = this.pool): Promise<void> {
    const table = this.tableOf(collection);
    const create = () => this.ddl(runner, `CREATE TABLE IF NOT EXISTS ${table} (id text COLLATE "C" PRIMARY KEY, doc jsonb NOT NULL)`);
    if (this.known.has(collection)) return Promise.resolve();
    if (runner !== this.pool) return create();
    let ready = this.ensured.get(collection);
    if (!ready) {
      ready = create().then(
        () => {
          this.known.add(collection);
        },
        (error) => {
          this.ensured.delete(collection);
          throw error;
        },
      );
      this.ensured.set(collection, ready);
    }
    return ready;
  }

  /** The indexed paths of a collection, loaded once (declared here or by another instance). */
  async pathsOf(collection: string, runner: Runner = this.pool): Promise<IndexedPaths> {
    let paths = this.paths.get(collection);
    if (!paths) {
      const rows = (
        await runner.query<{ path: string; multikey: boolean }>(
          `SELECT path, multikey FROM ${this.qualified(INDEXED_PATHS)} WHERE collection = $1`,
          [collection],
        )
      ).rows;
      paths = {
        scalar: new Set(rows.filter((r) => !r.multikey).map((r) => r.path)),
        multikey: new Set(rows.filter((r) => r.multikey).map((r) => r.path)),
      };
      this.paths.set(collection, paths);
    }
    return paths;
  }

  /** Runs a statement of `collection`, translating failures; a table dropped by another instance is created again once. */
  async run<R extends pg.QueryResultRow>(collection: string, runner: Runner, sql: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.closed) throw new UnavailableError('Read store is closed');
    try {
      return await runner.query<R>(sql, params);
    } catch (error) {
      if ((error as { code?: string }).code === UNDEFINED_TABLE && runner === this.pool) {
        this.forget(collection);
        await this.ensureTable(collection);
        try {
          return await runner.query<R>(sql, params);
        } catch (again) {
          throw translate(again, collection);
        }
      }
      throw translate(error, collection);
    }
  }

  collection<T extends Doc = Doc>(name: string): Collection<T> {
    this.tableOf(name);
    return new PostgresCollection<T>(this, name, this.pool, false);
  }

  async ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void> {
    assertSafeIndexes(indexes);
    await this.ensureTable(collection);
    const table = this.tableOf(collection);
    const statements: string[] = [];
    for (const index of indexes) {
      const paths = Object.keys(index.key);
      if (index.text) {
        const path = paths[0]!;
        const name = this.indexName(collection, `tsv:${path}`);
        statements.push(`CREATE INDEX IF NOT EXISTS ${quoteIdent(name)} ON ${table} USING gin (${textVectorSql(path)})`);
        continue;
      }
      if (index.multikey) {
        const path = paths[0]!;
        const name = this.indexName(collection, `gin:${path}`);
        statements.push(`CREATE INDEX IF NOT EXISTS ${quoteIdent(name)} ON ${table} USING gin ((${elementsSql(path)}) jsonb_path_ops)`);
        statements.push(
          `INSERT INTO ${this.qualified(INDEXED_PATHS)} VALUES (${literal(collection)}, ${literal(path)}, true) ON CONFLICT DO NOTHING`,
        );
        continue;
      }
      // The same expressions, directions and NULLS placement as compileSort writes, so a sorted query reads the index.
      const columns = Object.entries(index.key).map(([path, direction]) => sortKey(path, direction));
      const name = this.indexName(collection, `${index.unique ? 'u' : ''}:${columns.join(',')}`);
      statements.push(`CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${quoteIdent(name)} ON ${table} (${columns.join(', ')})`);
      for (const path of paths) {
        if (path !== '_id')
          statements.push(
            `INSERT INTO ${this.qualified(INDEXED_PATHS)} VALUES (${literal(collection)}, ${literal(path)}, false) ON CONFLICT DO NOTHING`,
          );
      }
    }
    try {
      await this.ddl(this.pool, statements.join(';\n'));
    } catch (error) {
      throw translate(error, collection);
    }
    this.paths.delete(collection);
  }

  /** `ix_<definition digest>_<collection digest>`: found again by definition, renamed with its table. */
  private indexName(collection: string, definition: string): string {
    return `ix_${digest(definition)}_${digest(collection)}`;
  }

  withTransaction<R>(fn: (tx: ReadStoreTransaction) => Promise<R>): Promise<R> {
    return this.transaction(fn);
  }

  private async transaction<R>(fn: (tx: ReadStoreTransaction) => Promise<R>): Promise<R> {
    if (this.closed) throw new UnavailableError('Read store is closed');
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw translate(error);
    }
    let live = true;
    const alive = () => {
      if (!live) throw new Error('This transaction has ended: use the store, not its handle');
    };
    const handle: ReadStoreTransaction = {
      collection: <T extends Doc>(name: string) => {
        alive();
        this.tableOf(name);
        return new PostgresCollection<T>(this, name, client, true);
      },
      renameCollections: async (pairs) => {
        alive();
        await this.renameOn(client, pairs);
      },
      notify: async (channel, payload) => {
        alive();
        await client.query('SELECT pg_notify($1, $2)', [this.channelOf(channel), payload]);
      },
    };
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(handle);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      // What this transaction learnt of tables and indexes may be undone with it.
      this.paths.clear();
      this.ensured.clear();
      this.known.clear();
      throw translate(error);
    } finally {
      live = false;
      client.release(broken);
    }
  }

  async renameCollections(pairs: ReadonlyArray<{ from: string; to: string }>): Promise<void> {
    await this.transaction(async (tx) => tx.renameCollections(pairs));
  }

  /** Each `to` replaced by `from`, with its indexes (renamed after it) and its indexed paths; one transaction. */
  private async renameOn(client: pg.PoolClient, pairs: ReadonlyArray<{ from: string; to: string }>): Promise<void> {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('letsapp schema'))");
    for (const { from, to } of pairs) {
      const [source, target] = [this.tableOf(from), this.tableOf(to)];
      await client.query(`DROP TABLE IF EXISTS ${target}`);
      const exists =
        (await client.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [source])).rows[0]?.exists === true;
      if (exists) {
        await client.query(`ALTER TABLE ${source} RENAME TO ${quoteIdent(`c_${to}`)}`);
        const indexes = (
          await client.query<{ name: string }>('SELECT indexname AS name FROM pg_indexes WHERE schemaname = $1 AND tablename = $2', [
            this.schema,
            `c_${to}`,
          ])
        ).rows;
        for (const { name } of indexes) {
          const match = /^ix_([0-9a-f]{12})_[0-9a-f]{12}$/.exec(name);
          if (match) await client.query(`ALTER INDEX ${this.qualified(name)} RENAME TO ${quoteIdent(`ix_${match[1]}_${digest(to)}`)}`);
        }
      }
      await client.query(`DELETE FROM ${this.qualified(INDEXED_PATHS)} WHERE collection = $1`, [to]);
      await client.query(`UPDATE ${this.qualified(INDEXED_PATHS)} SET collection = $1 WHERE collection = $2`, [to, from]);
      for (const name of [from, to]) this.forget(name);
    }
  }

  async dropCollection(name: string): Promise<void> {
    const table = this.tableOf(name);
    try {
      await this.ddl(
        this.pool,
        `DROP TABLE IF EXISTS ${table}; DELETE FROM ${this.qualified(INDEXED_PATHS)} WHERE collection = ${literal(name)}`,
      );
    } catch (error) {
      throw translate(error, name);
    }
    this.forget(name);
  }

  private forget(collection: string): void {
    this.paths.delete(collection);
    this.ensured.delete(collection);
    this.known.delete(collection);
  }

  /** A notice channel of this schema: instances on other schemas of the database do not hear it. */
  private channelOf(channel: string): string {
    return `letsapp_${channel}_${this.schema}`;
  }

  onNotice(channel: string, listener: () => void): () => void {
    let listeners = this.noticeListeners.get(channel);
    if (!listeners) this.noticeListeners.set(channel, (listeners = new Set()));
    listeners.add(listener);
    if (this.listener) void this.listener.query(`LISTEN ${quoteIdent(this.channelOf(channel))}`).catch(() => undefined);
    else this.listen();
    return () => listeners.delete(listener);
  }

  private wakeAll(): void {
    for (const listeners of this.noticeListeners.values()) for (const listener of listeners) listener();
  }

  /**
   * One dedicated session LISTENs for every channel (a pooled client could be handed to another query). When it
   * drops it reconnects with backoff, and everyone is woken once it is back: notices may have been missed.
   */
  private listen(attempt = 0): void {
    if (this.listener || this.closed) return;
    const client = createClient(this.settings);
    this.listener = client;
    const retry = () => {
      if (this.listener !== client) return;
      this.listener = null;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.listenerRetry = setTimeout(
        () => {
          this.listenerRetry = null;
          this.listen(attempt + 1);
        },
        Math.min(5_000, 100 * 2 ** attempt),
      );
      this.listenerRetry.unref();
    };
    client.on('notification', (notice) => {
      const channel = [...this.noticeListeners.keys()].find((name) => this.channelOf(name) === notice.channel);
      for (const listener of (channel ? this.noticeListeners.get(channel) : undefined) ?? []) listener();
    });
    client.on('error', retry);
    client.on('end', retry);
    client
      .connect()
      .then(async () => {
        for (const channel of this.noticeListeners.keys()) await client.query(`LISTEN ${quoteIdent(this.channelOf(channel))}`);
      })
      .then(() => {
        attempt = 0;
        this.wakeAll();
      }, retry);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.listenerRetry) clearTimeout(this.listenerRetry);
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => undefined);
    await this.pool.end();
  }
}

/** A collection name or path as a SQL string literal (both are checked to letters, digits, `_` and dots first). */
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

class PostgresCollection<T extends Doc> implements Collection<T> {
  private readonly table: string;

  constructor(
    private readonly store: PostgresReadStore,
    readonly name: string,
    private readonly runner: Runner,
    private readonly inTransaction: boolean,
  ) {
    this.table = store.tableOf(name);
  }

  private async prepare(): Promise<IndexedPaths> {
    await this.store.ensureTable(this.name, this.inTransaction ? this.runner : undefined);
    return this.store.pathsOf(this.name, this.runner);
  }

  private run<R extends pg.QueryResultRow>(sql: string, params: Params | unknown[]): Promise<pg.QueryResult<R>> {
    return this.store.run<R>(this.name, this.runner, sql, params instanceof Params ? params.values : params);
  }

  private async where(filter: Filter, params: Params): Promise<string> {
    assertSafeFilter(filter);
    return compileFilter(filter, await this.prepare(), params);
  }

  private fn = (name: string) => this.store.qualified(name);

  async findOne(filter: Filter): Promise<T | null> {
    return (await this.find(filter, { limit: 1 }))[0] ?? null;
  }

  async find(filter: Filter, options: FindOptions = {}): Promise<T[]> {
    assertSafeFindOptions(options);
    const params = new Params();
    let sql = `SELECT doc FROM ${this.table} WHERE ${await this.where(filter, params)}${compileSort(options.sort)}`;
    // limit 0 means no limit, as in MongoDB.
    if (options.limit) sql += ` LIMIT ${params.add(options.limit)}`;
    if (options.skip) sql += ` OFFSET ${params.add(options.skip)}`;
    return (await this.run<{ doc: T }>(sql, params)).rows.map((row) => row.doc);
  }

  /**
   * `@@` on the GIN `tsvector` index, ranked by ts_rank (normalized by length, as BM25 favours short texts), the excerpt
   * by ts_headline. The query is built with to_tsquery from words of letters and digits only, the last one a prefix.
   * Bounded like the embedded store's: no statement reads more than TEXT_SCANNED + 1 matching rows to count them, and
   * only the newest TEXT_CANDIDATES matches passing the filter, within the newest window of `newest` values holding
   * TEXT_SCANNED matches, are ranked; each statement under TEXT_STATEMENT_TIMEOUT_MS.
   */
  async searchText(query: TextQuery): Promise<Array<TextHit<T>>> {
    const terms = query.terms.map((term) => term.replace(/[^\p{L}\p{N}]/gu, '')).filter((term) => term.length > 0);
    if (terms.length === 0) return [];
    if (this.inTransaction) return this.boundedTextSearch(query, terms);
    // A transaction of its own, so the timeout is SET LOCAL to it and leaves the pooled session as it was.
    try {
      return await this.store.withTransaction(async (tx) => {
        const own = tx.collection<T>(this.name) as PostgresCollection<T>;
        await own.run(`SET LOCAL statement_timeout = ${TEXT_STATEMENT_TIMEOUT_MS}`, []);
        return own.boundedTextSearch(query, terms);
      });
    } catch (error) {
      if ((error as { code?: unknown }).code === QUERY_CANCELED)
        throw new UnavailableError('The search took too long; try again or narrow it', { timeoutMs: TEXT_STATEMENT_TIMEOUT_MS });
      throw error;
    }
  }

  private async boundedTextSearch(query: TextQuery, terms: string[]): Promise<Array<TextHit<T>>> {
    const tsquery = terms.map((term, index) => `'${term}'${index === terms.length - 1 ? ':*' : ''}`).join(' & ');
    const vector = textVectorSql(query.field);
    // At most TEXT_SCANNED + 1 matching rows read (a bitmap heap scan stops at the LIMIT), newer than `above` if given.
    const holdsScanned = async (above: number | null): Promise<boolean> => {
      const params = new Params();
      const q = params.add(tsquery);
      const window = above === null ? '' : ` AND (${await this.where({ [query.newest!]: { $gt: above } }, params)})`;
      const { rows } = await this.run<{ n: number }>(
        `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${this.table} WHERE ${vector} @@ to_tsquery('simple'::regconfig, ${q})${window} ` +
          `LIMIT ${TEXT_SCANNED}) AS matched`,
        params,
      );
      return rows[0]!.n >= TEXT_SCANNED;
    };
    // Which matches are looked at: all when there are fewer than TEXT_SCANNED; otherwise those in the smallest window of
    // the newest `newest` values (TEXT_SCANNED wide, then four times wider, at most four steps) that holds TEXT_SCANNED.
    let window: Filter | null = null;
    let anyScanned = false;
    if (await holdsScanned(null)) {
      if (query.newest === undefined) anyScanned = true;
      else {
        const { rows } = await this.run<{ high: unknown }>(
          `SELECT ${fieldSql(query.newest)} #>> '{}' AS high FROM ${this.table} WHERE ${fieldSql(query.newest)} IS NOT NULL ` +
            `ORDER BY ${sortKey(query.newest, -1)} LIMIT 1`,
          [],
        );
        const high = Number(rows[0]?.high ?? 0);
        for (let step = 0, span = TEXT_SCANNED; step < 4; step++, span *= 4) {
          window = { [query.newest]: { $gt: high - span } };
          if (await holdsScanned(high - span)) break;
        }
      }
    }
    const params = new Params();
    const q = `to_tsquery('simple'::regconfig, ${params.add(tsquery)})`;
    const options = params.add(`StartSel=${MATCH_START}, StopSel=${MATCH_END}, MaxWords=24, MinWords=8, ShortWord=1`);
    const where = await this.where(window ? { $and: [window, query.filter] } : query.filter, params);
    // Without an order to bound by, any TEXT_SCANNED matches (a subquery that stops at its LIMIT).
    const source = anyScanned ? `(SELECT * FROM ${this.table} WHERE ${vector} @@ ${q} LIMIT ${TEXT_SCANNED}) AS scanned` : this.table;
    const order = query.newest === undefined ? '' : ` ORDER BY ${sortKey(query.newest, -1)}`;
    // Ranked over the candidates only; excerpts are cut for the returned page only (ts_headline re-parses the text).
    const sql =
      `WITH candidates AS MATERIALIZED (SELECT id, doc FROM ${source} WHERE ${vector} @@ ${q} AND (${where})${order} LIMIT ${TEXT_CANDIDATES}), ` +
      `page AS (SELECT id, doc, ts_rank(${vector}, ${q}, 1) AS score FROM candidates ` +
      `ORDER BY score DESC, id LIMIT ${params.add(query.limit)} OFFSET ${params.add(query.skip ?? 0)}) ` +
      `SELECT doc, score, ts_headline('simple'::regconfig, ${textFieldSql(query.field)}, ${q}, ${options}) AS snippet ` +
      `FROM page ORDER BY score DESC, id`;
    return (await this.run<{ doc: T; score: number; snippet: string }>(sql, params)).rows.map((row) => ({
      doc: row.doc,
      score: Number(row.score),
      snippet: row.snippet,
    }));
  }

  async countDocuments(filter: Filter, options: { limit?: number } = {}): Promise<number> {
    const params = new Params();
    const where = await this.where(filter, params);
    const sql =
      options.limit === undefined
        ? `SELECT count(*)::int AS n FROM ${this.table} WHERE ${where}`
        : `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${this.table} WHERE ${where} LIMIT ${params.add(options.limit)}) AS counted`;
    return (await this.run<{ n: number }>(sql, params)).rows[0]!.n;
  }

  /**
   * Inserts unless a document with that id (or that value of a unique index) exists. ON CONFLICT DO NOTHING rather than
   * a failing INSERT: inside a transaction a failed statement would abort the whole of it, and a projector that meets
   * an existing document (the position guard) goes on.
   */
  private async insertRow(id: string, docSql: string, params: Params): Promise<void> {
    const inserted = await this.run(
      `INSERT INTO ${this.table} (id, doc) VALUES (${params.add(id)}, ${docSql}) ON CONFLICT DO NOTHING RETURNING id`,
      params,
    );
    if (inserted.rowCount === 1) return;
    const onId = ((await this.run(`SELECT 1 FROM ${this.table} WHERE id = $1`, [id])).rowCount ?? 0) > 0;
    throw new ConflictError('duplicate_key', `Duplicate key in ${this.name}`, { collection: this.name, onId });
  }

  async insertOne(doc: T): Promise<void> {
    assertSafeDocument(doc);
    await this.prepare();
    const params = new Params();
    await this.insertRow(doc._id, params.add(JSON.stringify(doc), '::jsonb'), params);
  }

  async replaceOne(filter: Filter, doc: T, options: { upsert?: boolean } = {}): Promise<WriteResult> {
    assertSafeDocument(doc);
    if (options.upsert) assertUpsertFilter(filter);
    const params = new Params();
    const where = await this.where(filter, params);
    const replacement = params.add(JSON.stringify(doc), '::jsonb');
    const result = await this.run<{ target: string | null; modified: number }>(
      `WITH target AS (SELECT id FROM ${this.table} WHERE ${where} LIMIT 1 FOR UPDATE),
       replaced AS (UPDATE ${this.table} AS t SET doc = ${replacement} FROM target WHERE t.id = target.id AND target.id = ${params.add(doc._id)} RETURNING t.id)
       SELECT (SELECT id FROM target) AS target, (SELECT count(*) FROM replaced)::int AS modified`,
      params,
    );
    const { target, modified } = result.rows[0]!;
    if (target !== null && target !== doc._id) throw new ValidationError('_id cannot be changed');
    if (target !== null) return { matched: 1, modified, upsertedId: null };
    if (!options.upsert) return { matched: 0, modified: 0, upsertedId: null };
    // Nothing matched (no document, or one the filter refused, e.g. a newer position): a document that exists makes
    // this a duplicate_key on the id, as on MongoDB.
    const insert = new Params();
    await this.insertRow(doc._id, insert.add(JSON.stringify(doc), '::jsonb'), insert);
    return { matched: 0, modified: 0, upsertedId: doc._id };
  }

  async updateOne(filter: Filter, update: Update, options: { upsert?: boolean } = {}): Promise<WriteResult> {
    return this.updateWhere(filter, update, 1, options.upsert ?? false);
  }

  async updateMany(filter: Filter, update: Update): Promise<WriteResult> {
    return this.updateWhere(filter, update, undefined, false);
  }

  private async updateWhere(filter: Filter, update: Update, limit: number | undefined, upsert: boolean): Promise<WriteResult> {
    assertSafeUpdate(update);
    if (upsert) assertUpsertFilter(filter);
    const params = new Params();
    const where = await this.where(filter, params);
    const next = compileUpdate(update, 'target.doc', this.fn, params, false);
    const result = await this.run<{ matched: number; modified: number }>(
      `WITH target AS (SELECT id, doc FROM ${this.table} WHERE ${where}${limit === undefined ? '' : ` LIMIT ${limit}`} FOR UPDATE),
       changed AS (SELECT target.id, ${next} AS doc FROM target),
       updated AS (UPDATE ${this.table} AS t SET doc = changed.doc FROM changed WHERE t.id = changed.id AND t.doc IS DISTINCT FROM changed.doc RETURNING t.id)
       SELECT (SELECT count(*) FROM target)::int AS matched, (SELECT count(*) FROM updated)::int AS modified`,
      params,
    );
    const { matched, modified } = result.rows[0]!;
    if (matched > 0 || !upsert) return { matched, modified, upsertedId: null };
    const seed = seedFromFilter(filter);
    const insert = new Params();
    const doc = compileUpdate(update, insert.add(JSON.stringify(seed), '::jsonb'), this.fn, insert, true);
    await this.insertRow(seed._id, doc, insert);
    return { matched: 0, modified: 0, upsertedId: seed._id };
  }

  async deleteOne(filter: Filter): Promise<number> {
    const params = new Params();
    const where = await this.where(filter, params);
    const result = await this.run(
      `WITH target AS (SELECT id FROM ${this.table} WHERE ${where} LIMIT 1 FOR UPDATE) DELETE FROM ${this.table} AS t USING target WHERE t.id = target.id`,
      params,
    );
    return result.rowCount ?? 0;
  }

  async deleteMany(filter: Filter): Promise<number> {
    const params = new Params();
    const result = await this.run(`DELETE FROM ${this.table} WHERE ${await this.where(filter, params)}`, params);
    return result.rowCount ?? 0;
  }
}

/** The port's errors: a unique violation is `duplicate_key` (`onId` for the primary key), a refused update a 400. */
function translate(error: unknown, collection?: string): unknown {
  if (error instanceof ConflictError || error instanceof ValidationError || error instanceof UnavailableError) return error;
  if (isUnavailable(error)) return unavailable('The read store', error);
  const pgError = error as { code?: string; constraint?: string; message?: string };
  if (pgError.code === UNIQUE_VIOLATION) {
    return new ConflictError('duplicate_key', `Duplicate key in ${collection ?? 'the read store'}`, {
      ...(collection ? { collection } : {}),
      onId: pgError.constraint?.endsWith('_pkey') ?? false,
    });
  }
  if (pgError.code === UPDATE_REFUSED) return new ValidationError(pgError.message ?? 'Update refused');
  return error;
}
