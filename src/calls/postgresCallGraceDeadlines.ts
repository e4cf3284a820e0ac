import type pg from 'pg';
import {
  createPool,
  isUnavailable,
  quoteIdent,
  schemaOf,
  unavailable,
  type PostgresSettings,
  createStoreTables,
} from '../postgres/connection.ts';
import type { CallGraceDeadlines } from './callGraceDeadlines.ts';

/** Call disconnect deadlines in PostgreSQL (with DATABASE_URL): `call_grace_deadlines`, one row per user, indexed by due time. */
export class PostgresCallGraceDeadlines implements CallGraceDeadlines {
  readonly kind = 'postgres';
  private readonly table: string;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {
    this.table = `${quoteIdent(schema)}.call_grace_deadlines`;
  }

  static async connect(settings: PostgresSettings): Promise<PostgresCallGraceDeadlines> {
    const pool = createPool({ ...settings, poolMax: Math.min(settings.poolMax ?? 2, 2) });
    const store = new PostgresCallGraceDeadlines(pool, schemaOf(settings));
    try {
      await store.createTable();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw isUnavailable(error) ? unavailable('The call timers store', error) : error;
    }
    return store;
  }

  /** Idempotent; under the same advisory lock as the other stores' catalog changes. */
  private async createTable(): Promise<void> {
    await createStoreTables(this.pool, this.schema, [
      `CREATE TABLE IF NOT EXISTS ${this.table} (
        user_id text COLLATE "C" PRIMARY KEY,
        due_at  timestamptz NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS call_grace_deadlines_due ON ${this.table} (due_at)`,
    ]);
  }

  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (error) {
      throw isUnavailable(error) ? unavailable('The call timers store', error) : error;
    }
  }

  async arm(userId: string, dueAt: Date): Promise<void> {
    await this.query(
      `INSERT INTO ${this.table} AS d (user_id, due_at) VALUES ($1, $2)
      ON CONFLICT (user_id) DO UPDATE SET due_at = LEAST(d.due_at, EXCLUDED.due_at)`,
      [userId, dueAt],
    );
  }

  async disarm(userId: string): Promise<void> {
    await this.query(`DELETE FROM ${this.table} WHERE user_id = $1`, [userId]);
  }

  async claim(userId: string, now: Date): Promise<boolean> {
    return ((await this.query(`DELETE FROM ${this.table} WHERE user_id = $1 AND due_at <= $2`, [userId, now])).rowCount ?? 0) > 0;
  }

  /** One DELETE … RETURNING: instances passing at once each get their own share, so each deadline fires once. */
  async takeDue(now: Date): Promise<string[]> {
    const rows = (await this.query<{ user_id: string }>(`DELETE FROM ${this.table} WHERE due_at <= $1 RETURNING user_id`, [now])).rows;
    return rows.map((row) => row.user_id).sort();
  }

  async list(): Promise<Array<{ userId: string; dueAt: string }>> {
    const rows = (await this.query<{ user_id: string; due_at: Date }>(`SELECT user_id, due_at FROM ${this.table} ORDER BY user_id`)).rows;
    return rows.map((row) => ({ userId: row.user_id, dueAt: row.due_at.toISOString() }));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
