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
import {
  dueOf,
  recordOf,
  type AttemptOutcome,
  type DeliveryRecord,
  type DeliveryRow,
  type DueDelivery,
  type PlannedDelivery,
  type WebhookDeliveryStore,
} from './webhookDeliveryStore.ts';

/**
 * The webhook deliveries' store in PostgreSQL (`webhook_checkpoint` with a lease, `webhook_deliveries`,
 * `webhook_failures`): the instance holding the lease plans and delivers, and the checkpoint moves only in the holder's
 * transaction that inserts the deliveries, so two instances never plan one event twice. A claimed delivery is not
 * claimed again until its claim runs out, so a lease changing hands mid-request does not send it twice.
 */
export class PostgresWebhookDeliveryStore implements WebhookDeliveryStore {
  private readonly checkpoint: string;
  private readonly deliveries: string;
  private readonly failures: string;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {
    this.checkpoint = `${quoteIdent(schema)}.webhook_checkpoint`;
    this.deliveries = `${quoteIdent(schema)}.webhook_deliveries`;
    this.failures = `${quoteIdent(schema)}.webhook_failures`;
  }

  static async connect(settings: PostgresSettings): Promise<PostgresWebhookDeliveryStore> {
    const pool = createPool({ ...settings, poolMax: Math.min(settings.poolMax ?? 3, 3) });
    const store = new PostgresWebhookDeliveryStore(pool, schemaOf(settings));
    try {
      await createStoreTables(pool, store.schema, [
        `CREATE TABLE IF NOT EXISTS ${store.checkpoint} (
          name        text COLLATE "C" PRIMARY KEY,
          position    bigint,
          owner       text,
          lease_until timestamptz NOT NULL DEFAULT 'epoch'
        )`,
        `INSERT INTO ${store.checkpoint} (name) VALUES ('deliveries') ON CONFLICT DO NOTHING`,
        `CREATE TABLE IF NOT EXISTS ${store.deliveries} (
          seq             bigserial PRIMARY KEY,
          id              text COLLATE "C" NOT NULL UNIQUE,
          webhook_id      text COLLATE "C" NOT NULL,
          event_id        text NOT NULL,
          position        bigint NOT NULL,
          kind            text NOT NULL,
          payload         text,
          status          text NOT NULL,
          attempts        integer NOT NULL DEFAULT 0,
          created_at      bigint NOT NULL,
          next_attempt_at bigint,
          claimed_until   bigint,
          last_attempt_at bigint,
          last_status     integer,
          last_error      text,
          duration_ms     integer,
          finished_at     bigint
        )`,
        `CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON ${store.deliveries} (status, next_attempt_at)`,
        `CREATE INDEX IF NOT EXISTS webhook_deliveries_log ON ${store.deliveries} (webhook_id, status, seq)`,
        `CREATE TABLE IF NOT EXISTS ${store.failures} (webhook_id text COLLATE "C" PRIMARY KEY, consecutive integer NOT NULL)`,
      ]);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw isUnavailable(error) ? unavailable('The webhook delivery store', error) : error;
    }
    return store;
  }

  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = [], client: pg.Pool | pg.PoolClient = this.pool) {
    try {
      return await client.query<R>(sql, params);
    } catch (error) {
      throw isUnavailable(error) ? unavailable('The webhook delivery store', error) : error;
    }
  }

  /** Runs `work` in a transaction on a connection of its own. */
  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw isUnavailable(error) ? unavailable('The webhook delivery store', error) : error;
    }
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw isUnavailable(error) ? unavailable('The webhook delivery store', error) : error;
    } finally {
      client.release();
    }
  }

  async hold(owner: string, ttlMs: number): Promise<boolean> {
    const result = await this.query(
      `UPDATE ${this.checkpoint} SET owner = $1, lease_until = now() + make_interval(secs => $2::double precision / 1000)
       WHERE name = 'deliveries' AND (owner = $1 OR lease_until < now())`,
      [owner, ttlMs],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async load(): Promise<number | null> {
    const row = (await this.query<{ position: string | null }>(`SELECT position FROM ${this.checkpoint} WHERE name = 'deliveries'`))
      .rows[0];
    return row?.position == null ? null : Number(row.position);
  }

  enqueue(deliveries: readonly PlannedDelivery[], position: number, owner: string, maxPending: number): Promise<boolean> {
    return this.transaction(async (client) => {
      // The lease row locked: a holder that lost it meanwhile writes nothing.
      const held = await client.query(`SELECT 1 FROM ${this.checkpoint} WHERE name = 'deliveries' AND owner = $1 FOR UPDATE`, [owner]);
      if ((held.rowCount ?? 0) === 0) return false;
      for (const delivery of deliveries) {
        const pending = await client.query<{ n: string }>(
          `SELECT COUNT(*) AS n FROM ${this.deliveries} WHERE webhook_id = $1 AND status = 'pending'`,
          [delivery.webhookId],
        );
        const full = Number(pending.rows[0]!.n) >= maxPending;
        await client.query(
          `INSERT INTO ${this.deliveries} (id, webhook_id, event_id, position, kind, payload, status, created_at, next_attempt_at, finished_at, last_error)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING`,
          [
            delivery.id,
            delivery.webhookId,
            delivery.eventId,
            delivery.position,
            delivery.kind,
            full ? null : delivery.payload,
            full ? 'dropped' : 'pending',
            delivery.createdAt,
            full ? null : delivery.createdAt,
            full ? delivery.createdAt : null,
            full ? `over ${maxPending} deliveries waiting` : null,
          ],
        );
      }
      await client.query(`UPDATE ${this.checkpoint} SET position = GREATEST(COALESCE(position, 0), $1) WHERE name = 'deliveries'`, [
        position,
      ]);
      return true;
    });
  }

  async claimDue(now: number, limit: number, busy: readonly string[], claimMs: number): Promise<DueDelivery[]> {
    // One statement: the rows are chosen and claimed together (SKIP LOCKED: another claimer's rows are passed over).
    const result = await this.query<DeliveryRow>(
      `UPDATE ${this.deliveries} d SET claimed_until = $1::bigint + $4::bigint
       FROM (
         SELECT id FROM (
           SELECT id, next_attempt_at, seq, ROW_NUMBER() OVER (PARTITION BY webhook_id ORDER BY next_attempt_at, seq) AS turn
           FROM ${this.deliveries}
           WHERE status = 'pending' AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)
             AND NOT (webhook_id = ANY($2::text[]))
         ) ranked WHERE turn = 1 ORDER BY next_attempt_at, seq LIMIT $3
       ) chosen
       WHERE d.id = chosen.id AND (d.claimed_until IS NULL OR d.claimed_until <= $1)
       RETURNING d.*`,
      [now, busy, limit, claimMs],
    );
    return result.rows.map(dueOf);
  }

  async record(id: string, outcome: AttemptOutcome, keep: number): Promise<void> {
    const ended = outcome.status !== 'pending';
    await this.transaction(async (client) => {
      const row = (
        await client.query<{ webhook_id: string }>(
          `UPDATE ${this.deliveries} SET status = $2, attempts = $3, next_attempt_at = $4, claimed_until = NULL, last_attempt_at = $5,
             last_status = $6, last_error = $7, duration_ms = $8, finished_at = $9, payload = CASE WHEN $10 THEN NULL ELSE payload END
           WHERE id = $1 RETURNING webhook_id`,
          [
            id,
            outcome.status,
            outcome.attempts,
            outcome.nextAttemptAt,
            outcome.at,
            outcome.lastStatus,
            outcome.lastError,
            outcome.durationMs,
            ended ? outcome.at : null,
            ended,
          ],
        )
      ).rows[0];
      if (!ended || !row) return;
      await client.query(
        `DELETE FROM ${this.deliveries} WHERE webhook_id = $1 AND status <> 'pending' AND seq <= (
           SELECT seq FROM ${this.deliveries} WHERE webhook_id = $1 AND status <> 'pending' ORDER BY seq DESC LIMIT 1 OFFSET $2)`,
        [row.webhook_id, keep],
      );
    });
  }

  async release(id: string): Promise<void> {
    await this.query(`UPDATE ${this.deliveries} SET claimed_until = NULL WHERE id = $1`, [id]);
  }

  async failed(webhookId: string): Promise<number> {
    const result = await this.query<{ consecutive: number }>(
      `INSERT INTO ${this.failures} (webhook_id, consecutive) VALUES ($1, 1)
       ON CONFLICT (webhook_id) DO UPDATE SET consecutive = ${this.failures}.consecutive + 1 RETURNING consecutive`,
      [webhookId],
    );
    return Number(result.rows[0]!.consecutive);
  }

  async resetFailures(webhookId: string): Promise<void> {
    await this.query(`DELETE FROM ${this.failures} WHERE webhook_id = $1`, [webhookId]);
  }

  async page(webhookId: string, before: number | null, limit: number): Promise<DeliveryRecord[]> {
    const result = await this.query<DeliveryRow>(
      `SELECT * FROM ${this.deliveries} WHERE webhook_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
      [webhookId, before ?? Number.MAX_SAFE_INTEGER, limit],
    );
    return result.rows.map(recordOf);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
