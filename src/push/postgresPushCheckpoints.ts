import type pg from 'pg';
import {
  createPool,
  createStoreTables,
  isUnavailable,
  quoteIdent,
  schemaOf,
  unavailable,
  type PostgresSettings,
} from '../postgres/connection.ts';
import type { PushCheckpoints } from './pushCheckpoints.ts';

/**
 * The push checkpoint in PostgreSQL (`push_checkpoint`, one row) with a lease: the instance holding it delivers, and
 * a checkpoint is only moved by the holder, so two instances never push the same events at once.
 */
export class PostgresPushCheckpoints implements PushCheckpoints {
  private readonly table: string;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {
    this.table = `${quoteIdent(schema)}.push_checkpoint`;
  }

  static async connect(settings: PostgresSettings): Promise<PostgresPushCheckpoints> {
    const pool = createPool({ ...settings, poolMax: Math.min(settings.poolMax ?? 2, 2) });
    const store = new PostgresPushCheckpoints(pool, schemaOf(settings));
    try {
      await createStoreTables(pool, store.schema, [
        `CREATE TABLE IF NOT EXISTS ${store.table} (
          name        text COLLATE "C" PRIMARY KEY,
          position    bigint,
          owner       text,
          lease_until timestamptz NOT NULL DEFAULT 'epoch'
        )`,
        `INSERT INTO ${store.table} (name) VALUES ('deliveries') ON CONFLICT DO NOTHING`,
      ]);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw isUnavailable(error) ? unavailable('The push checkpoint store', error) : error;
    }
    return store;
  }

  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (error) {
      throw isUnavailable(error) ? unavailable('The push checkpoint store', error) : error;
    }
  }

  async hold(owner: string, ttlMs: number): Promise<boolean> {
    const result = await this.query(
      `UPDATE ${this.table} SET owner = $1, lease_until = now() + make_interval(secs => $2::double precision / 1000)
       WHERE name = 'deliveries' AND (owner = $1 OR lease_until < now())`,
      [owner, ttlMs],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async load(): Promise<number | null> {
    const row = (await this.query<{ position: string | null }>(`SELECT position FROM ${this.table} WHERE name = 'deliveries'`)).rows[0];
    return row?.position == null ? null : Number(row.position);
  }

  async save(position: number, owner: string): Promise<boolean> {
    const result = await this.query(
      `UPDATE ${this.table} SET position = GREATEST(COALESCE(position, 0), $1) WHERE name = 'deliveries' AND owner = $2`,
      [position, owner],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
