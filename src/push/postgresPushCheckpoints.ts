import { SmallStoreDb, type PostgresSettings } from '../postgres/connection.ts';
import type { PushCheckpoints } from './pushCheckpoints.ts';

/**
 * The push checkpoint in PostgreSQL (`push_checkpoint`, one row) with a lease: the instance holding it delivers, and
 * a checkpoint is only moved by the holder, so two instances never push the same events at once.
 */
export class PostgresPushCheckpoints implements PushCheckpoints {
  private readonly table: string;

  private constructor(private readonly db: SmallStoreDb) {
    this.table = db.table('push_checkpoint');
  }

  static async connect(settings: PostgresSettings): Promise<PostgresPushCheckpoints> {
    const db = await SmallStoreDb.open(settings, 'The push checkpoint store', (table) => [
      `CREATE TABLE IF NOT EXISTS ${table('push_checkpoint')} (
        name        text COLLATE "C" PRIMARY KEY,
        position    bigint,
        owner       text,
        lease_until timestamptz NOT NULL DEFAULT 'epoch'
      )`,
      `INSERT INTO ${table('push_checkpoint')} (name) VALUES ('deliveries') ON CONFLICT DO NOTHING`,
    ]);
    return new PostgresPushCheckpoints(db);
  }

  async hold(owner: string, ttlMs: number): Promise<boolean> {
    const result = await this.db.query(
      `UPDATE ${this.table} SET owner = $1, lease_until = now() + make_interval(secs => $2::double precision / 1000)
       WHERE name = 'deliveries' AND (owner = $1 OR lease_until < now())`,
      [owner, ttlMs],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async load(): Promise<number | null> {
    const row = (await this.db.query<{ position: string | null }>(`SELECT position FROM ${this.table} WHERE name = 'deliveries'`)).rows[0];
    return row?.position == null ? null : Number(row.position);
  }

  async save(position: number, owner: string): Promise<boolean> {
    const result = await this.db.query(
      `UPDATE ${this.table} SET position = GREATEST(COALESCE(position, 0), $1) WHERE name = 'deliveries' AND owner = $2`,
      [position, owner],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
