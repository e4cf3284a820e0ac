import { SmallStoreDb, type PostgresSettings } from '../postgres/connection.ts';
import type { CallGraceDeadlines } from './callGraceDeadlines.ts';

/** Call disconnect deadlines in PostgreSQL (with DATABASE_URL): `call_grace_deadlines`, one row per user, indexed by due time. */
export class PostgresCallGraceDeadlines implements CallGraceDeadlines {
  readonly kind = 'postgres';
  private readonly table: string;

  private constructor(private readonly db: SmallStoreDb) {
    this.table = db.table('call_grace_deadlines');
  }

  static async connect(settings: PostgresSettings): Promise<PostgresCallGraceDeadlines> {
    const db = await SmallStoreDb.open(settings, 'The call timers store', (table) => [
      `CREATE TABLE IF NOT EXISTS ${table('call_grace_deadlines')} (
        user_id text COLLATE "C" PRIMARY KEY,
        due_at  timestamptz NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS call_grace_deadlines_due ON ${table('call_grace_deadlines')} (due_at)`,
    ]);
    return new PostgresCallGraceDeadlines(db);
  }

  async arm(userId: string, dueAt: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.table} AS d (user_id, due_at) VALUES ($1, $2)
      ON CONFLICT (user_id) DO UPDATE SET due_at = LEAST(d.due_at, EXCLUDED.due_at)`,
      [userId, dueAt],
    );
  }

  async disarm(userId: string): Promise<void> {
    await this.db.query(`DELETE FROM ${this.table} WHERE user_id = $1`, [userId]);
  }

  async claim(userId: string, now: Date): Promise<boolean> {
    return ((await this.db.query(`DELETE FROM ${this.table} WHERE user_id = $1 AND due_at <= $2`, [userId, now])).rowCount ?? 0) > 0;
  }

  /** One DELETE … RETURNING: instances passing at once each get their own share, so each deadline fires once. */
  async takeDue(now: Date): Promise<string[]> {
    const rows = (await this.db.query<{ user_id: string }>(`DELETE FROM ${this.table} WHERE due_at <= $1 RETURNING user_id`, [now])).rows;
    return rows.map((row) => row.user_id).sort();
  }

  async list(): Promise<Array<{ userId: string; dueAt: string }>> {
    const rows = (await this.db.query<{ user_id: string; due_at: Date }>(`SELECT user_id, due_at FROM ${this.table} ORDER BY user_id`))
      .rows;
    return rows.map((row) => ({ userId: row.user_id, dueAt: row.due_at.toISOString() }));
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
