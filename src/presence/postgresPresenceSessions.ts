import { SmallStoreDb, type PostgresSettings } from '../postgres/connection.ts';
import type { PresenceSession, PresenceSessions, SessionKey } from './presenceSessions.ts';

interface Row {
  instance_id: string;
  connection_id: number;
  user_id: string;
  opened_at: Date;
  expires_at: Date;
}

const toSession = (row: Row): PresenceSession => ({
  instanceId: row.instance_id,
  connectionId: row.connection_id,
  userId: row.user_id,
  openedAt: row.opened_at.toISOString(),
  expiresAt: row.expires_at.toISOString(),
});

/**
 * Presence sessions in PostgreSQL (with DATABASE_URL): `presence_sessions`, one row per (instance, connection), with
 * the user and an expiry the instance's heartbeat pushes forward. Indexed by user (who is live) and by expiry (whose
 * instance stopped renewing).
 */
export class PostgresPresenceSessions implements PresenceSessions {
  readonly kind = 'postgres';
  private readonly table: string;

  private constructor(private readonly db: SmallStoreDb) {
    this.table = db.table('presence_sessions');
  }

  static async connect(settings: PostgresSettings): Promise<PostgresPresenceSessions> {
    const db = await SmallStoreDb.open(settings, 'The presence sessions store', (table) => [
      `CREATE TABLE IF NOT EXISTS ${table('presence_sessions')} (
        instance_id   text COLLATE "C" NOT NULL,
        connection_id integer NOT NULL,
        user_id       text COLLATE "C" NOT NULL,
        opened_at     timestamptz NOT NULL,
        expires_at    timestamptz NOT NULL,
        PRIMARY KEY (instance_id, connection_id)
      )`,
      `CREATE INDEX IF NOT EXISTS presence_sessions_user ON ${table('presence_sessions')} (user_id, expires_at)`,
      `CREATE INDEX IF NOT EXISTS presence_sessions_expiry ON ${table('presence_sessions')} (expires_at)`,
      `CREATE INDEX IF NOT EXISTS presence_sessions_connection ON ${table('presence_sessions')} (connection_id)`,
    ]);
    return new PostgresPresenceSessions(db);
  }

  async open(session: SessionKey, now: Date, expiresAt: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.table} (instance_id, connection_id, user_id, opened_at, expires_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (instance_id, connection_id) DO UPDATE SET user_id = EXCLUDED.user_id, opened_at = EXCLUDED.opened_at, expires_at = EXCLUDED.expires_at`,
      [session.instanceId, session.connectionId, session.userId, now, expiresAt],
    );
  }

  async end(instanceId: string, connectionId: number): Promise<void> {
    await this.db.query(`DELETE FROM ${this.table} WHERE instance_id = $1 AND connection_id = $2`, [instanceId, connectionId]);
  }

  async renew(instanceId: string, expiresAt: Date): Promise<number> {
    return (await this.db.query(`UPDATE ${this.table} SET expires_at = $2 WHERE instance_id = $1`, [instanceId, expiresAt])).rowCount ?? 0;
  }

  async endInstance(instanceId: string): Promise<void> {
    await this.db.query(`DELETE FROM ${this.table} WHERE instance_id = $1`, [instanceId]);
  }

  /** One DELETE … RETURNING: two instances expiring at once each get a disjoint share, each session reported once. */
  async expire(now: Date): Promise<PresenceSession[]> {
    const rows = (await this.db.query<Row>(`DELETE FROM ${this.table} WHERE expires_at <= $1 RETURNING *`, [now])).rows;
    return rows
      .map(toSession)
      .sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : a.connectionId - b.connectionId));
  }

  async find(connectionId: number, now: Date): Promise<PresenceSession | null> {
    const row = (
      await this.db.query<Row>(`SELECT * FROM ${this.table} WHERE connection_id = $1 AND expires_at > $2 LIMIT 1`, [connectionId, now])
    ).rows[0];
    return row ? toSession(row) : null;
  }

  async liveUsers(userIds: readonly string[], now: Date): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const rows = (
      await this.db.query<{ user_id: string }>(
        `SELECT DISTINCT user_id FROM ${this.table} WHERE user_id = ANY($1::text[]) AND expires_at > $2`,
        [[...userIds], now],
      )
    ).rows;
    return new Set(rows.map((row) => row.user_id));
  }

  async list(): Promise<PresenceSession[]> {
    return (await this.db.query<Row>(`SELECT * FROM ${this.table} ORDER BY instance_id, connection_id`)).rows.map(toSession);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
