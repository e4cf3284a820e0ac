import pg from 'pg';
import { UnavailableError, ValidationError } from '../../commands/shared/errors.ts';

/**
 * How the PostgreSQL stores reach their server: one `postgres://` URL (DATABASE_URL) and the TLS settings passed to
 * node-postgres. `schema` keeps several logs in one database apart (each test run gets its own).
 */
export interface PostgresSettings {
  readonly url: string;
  readonly schema?: string;
  /** node-postgres's `ssl` option; undefined leaves it to the URL's `sslmode`. */
  readonly ssl?: pg.ConnectionConfig['ssl'];
  /** Connections each store's pool may hold (DATABASE_POOL_MAX). */
  readonly poolMax?: number;
}

/** Unquoted identifiers PostgreSQL keeps as written (lower case), short enough never to be truncated at 63 bytes. */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,47}$/;

export function schemaOf(settings: PostgresSettings): string {
  const schema = settings.schema ?? 'public';
  if (!IDENTIFIER.test(schema)) throw new ValidationError(`Invalid PostgreSQL schema name ${schema}`);
  return schema;
}

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** `sessionOptions`: server settings for every session of the pool (libpq's `options`, e.g. `-c synchronous_commit=off`). */
export function createPool(settings: PostgresSettings, sessionOptions?: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: settings.url,
    ...(sessionOptions === undefined ? {} : { options: sessionOptions }),
    ...(settings.ssl === undefined ? {} : { ssl: settings.ssl }),
    max: settings.poolMax ?? 10,
    // A dead server must fail a request within seconds (a 503), not hang it.
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
  });
  // An idle client's connection that drops emits here; without a listener it would crash the process.
  pool.on('error', () => undefined);
  // So does a checked-out one's (the pool listens only while a client is idle): its queries fail as unavailable, and
  // on release the pool discards it.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** A dedicated (unpooled) client, e.g. for LISTEN, which must stay on one session. */
export function createClient(settings: PostgresSettings): pg.Client {
  return new pg.Client({
    connectionString: settings.url,
    ...(settings.ssl === undefined ? {} : { ssl: settings.ssl }),
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  });
}

/** SQLSTATE classes and codes meaning "the server cannot be used right now": worth retrying later (a 503). */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);

/** A failure that says the database is unreachable or restarting, as the port's UnavailableError (503), with its cause. */
export function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_STATES.has(code) || NETWORK_CODES.has(code))) return true;
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|Cannot use a pool after calling end/i.test(
    message,
  );
}

export function unavailable(what: string, cause: unknown): UnavailableError {
  return Object.assign(new UnavailableError(`${what} cannot be reached; try again shortly`), { cause });
}

/** SQLSTATE of a unique violation. */
export const UNIQUE_VIOLATION = '23505';

/**
 * Makes a small store's tables and indexes (the statements are idempotent) in one transaction under the lock every
 * store's catalog changes take, so instances starting together do not race over the schema.
 */
export async function createStoreTables(pool: pg.Pool, schema: string, statements: readonly string[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('letsapp schema'))");
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    for (const statement of statements) await client.query(statement);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * The database handle of a small store (secrets, budgets, timers, sessions, checkpoints): its own few-session pool, its
 * tables made before first use (the pool is closed again if that fails), and queries that turn "cannot reach the
 * server" into the port's UnavailableError naming the store.
 */
export class SmallStoreDb {
  private constructor(
    private readonly pool: pg.Pool,
    readonly schema: string,
    private readonly what: string,
  ) {}

  /**
   * `tables` receives the schema-qualified name maker and returns the idempotent statements that make the store's
   * tables. `poolMax` caps the sessions (the configured pool size if smaller).
   */
  static async open(
    settings: PostgresSettings,
    what: string,
    tables: (qualified: (table: string) => string) => readonly string[],
    { poolMax = 2, sessionOptions }: { poolMax?: number; sessionOptions?: string } = {},
  ): Promise<SmallStoreDb> {
    const pool = createPool({ ...settings, poolMax: Math.min(settings.poolMax ?? poolMax, poolMax) }, sessionOptions);
    const db = new SmallStoreDb(pool, schemaOf(settings), what);
    try {
      await createStoreTables(
        pool,
        db.schema,
        tables((table) => db.table(table)),
      );
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw db.translate(error);
    }
    return db;
  }

  /** The schema-qualified, quoted name of one of the store's tables. */
  table(name: string): string {
    return `${quoteIdent(this.schema)}.${quoteIdent(name)}`;
  }

  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (error) {
      throw this.translate(error);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private translate(error: unknown): unknown {
    return isUnavailable(error) ? unavailable(this.what, error) : error;
  }
}
