import Database from 'better-sqlite3';
import { join } from 'node:path';
import { createPrivateFile } from '../config.ts';

/**
 * The webhook deliveries' own store: the consumer's checkpoint in the event log, the queue of deliveries still to make
 * and the log of those made, in one place so that planning an event's deliveries and moving the checkpoint past it are
 * one transaction (a restart neither loses nor repeats them).
 *
 * Why not the read store: these rows are operational (attempts, claims, a lease), change at every try, and must commit
 * together with the checkpoint; the read store is rebuilt from the log, which would lose the history of attempts and
 * replan every event. It is a dedicated store, like the push checkpoint: `STORAGE_DIR/webhooks.sqlite`, or PostgreSQL's
 * tables (with a lease: one instance delivers at a time).
 */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'cancelled' | 'dropped';

/** A delivery the consumer planned from an event. */
export interface PlannedDelivery {
  /** The idempotency key (X-LetsApp-Delivery): derived from the webhook's id and the event's. */
  id: string;
  webhookId: string;
  eventId: string;
  position: number;
  kind: string;
  /** The JSON body (kept only until the delivery ends). */
  payload: string;
  createdAt: number;
}

/** A pending delivery claimed for an attempt. */
export interface DueDelivery extends PlannedDelivery {
  attempts: number;
}

/** What the log shows of a delivery (never its payload). */
export interface DeliveryRecord {
  seq: number;
  id: string;
  webhookId: string;
  eventId: string;
  kind: string;
  status: DeliveryStatus;
  attempts: number;
  createdAt: number;
  nextAttemptAt: number | null;
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  durationMs: number | null;
  finishedAt: number | null;
}

/** An attempt's outcome: still pending with its next try, or ended. */
export interface AttemptOutcome {
  status: DeliveryStatus;
  attempts: number;
  at: number;
  nextAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  durationMs: number | null;
}

export interface WebhookDeliveryStore {
  /** Whether this instance delivers now: takes or renews the lease (always true on one server). */
  hold(owner: string, ttlMs: number): Promise<boolean>;
  /** The checkpoint, or null before the first start (which begins at the log's head: history is not delivered). */
  load(): Promise<number | null>;
  /**
   * Inserts the deliveries (an id already there is kept as it is: a replayed event plans nothing new), a webhook's past
   * `maxPending` pending ones as `dropped`, and moves the checkpoint to `position`, in one transaction; false when the
   * lease was lost meanwhile (nothing written).
   */
  enqueue(deliveries: readonly PlannedDelivery[], position: number, owner: string, maxPending: number): Promise<boolean>;
  /**
   * Claims for `claimMs` up to `limit` pending deliveries due at `now`: the oldest due of each webhook, none of the
   * webhooks in `busy` (one attempt per webhook at a time, so a slow receiver holds only its own).
   */
  claimDue(now: number, limit: number, busy: readonly string[], claimMs: number): Promise<DueDelivery[]>;
  /** Records an attempt; an ended delivery loses its payload, and its webhook's log keeps the newest `keep` ended ones. */
  record(id: string, outcome: AttemptOutcome, keep: number): Promise<void>;
  /** Lets another attempt claim it at once (a stopping server gave it back). */
  release(id: string): Promise<void>;
  /** Adds a failed attempt to the webhook's run of failures; the run's length now. */
  failed(webhookId: string): Promise<number>;
  /** A success (or re-enabling) ends the run. */
  resetFailures(webhookId: string): Promise<void>;
  /** The webhook's deliveries, newest first, before `before` (a seq). */
  page(webhookId: string, before: number | null, limit: number): Promise<DeliveryRecord[]>;
  close(): Promise<void>;
}

export interface DeliveryRow {
  seq: number;
  id: string;
  webhook_id: string;
  event_id: string;
  position: number;
  kind: string;
  payload: string | null;
  status: DeliveryStatus;
  attempts: number;
  created_at: number;
  next_attempt_at: number | null;
  last_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
  duration_ms: number | null;
  finished_at: number | null;
}

export const recordOf = (row: DeliveryRow): DeliveryRecord => ({
  seq: Number(row.seq),
  id: row.id,
  webhookId: row.webhook_id,
  eventId: row.event_id,
  kind: row.kind,
  status: row.status,
  attempts: Number(row.attempts),
  createdAt: Number(row.created_at),
  nextAttemptAt: row.next_attempt_at === null ? null : Number(row.next_attempt_at),
  lastAttemptAt: row.last_attempt_at === null ? null : Number(row.last_attempt_at),
  lastStatus: row.last_status === null ? null : Number(row.last_status),
  lastError: row.last_error,
  durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
  finishedAt: row.finished_at === null ? null : Number(row.finished_at),
});

export const dueOf = (row: DeliveryRow): DueDelivery => ({
  id: row.id,
  webhookId: row.webhook_id,
  eventId: row.event_id,
  position: Number(row.position),
  kind: row.kind,
  payload: row.payload ?? '',
  createdAt: Number(row.created_at),
  attempts: Number(row.attempts),
});

/** The embedded store: `STORAGE_DIR/webhooks.sqlite`, written only by the serving thread of the one server. */
export class SqliteWebhookDeliveryStore implements WebhookDeliveryStore {
  private readonly db: Database.Database;

  constructor(storageDir: string) {
    const file = join(storageDir, 'webhooks.sqlite');
    createPrivateFile(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // The payloads hold message text: freed pages are zeroed, not left in the file.
    this.db.pragma('secure_delete = ON');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS webhook_checkpoint (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS webhook_deliveries (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT NOT NULL UNIQUE,
        webhook_id      TEXT NOT NULL,
        event_id        TEXT NOT NULL,
        position        INTEGER NOT NULL,
        kind            TEXT NOT NULL,
        payload         TEXT,
        status          TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        created_at      INTEGER NOT NULL,
        next_attempt_at INTEGER,
        claimed_until   INTEGER,
        last_attempt_at INTEGER,
        last_status     INTEGER,
        last_error      TEXT,
        duration_ms     INTEGER,
        finished_at     INTEGER
      );
      CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
      CREATE INDEX IF NOT EXISTS webhook_deliveries_log ON webhook_deliveries (webhook_id, status, seq);
      CREATE TABLE IF NOT EXISTS webhook_failures (webhook_id TEXT PRIMARY KEY, consecutive INTEGER NOT NULL);
    `);
  }

  hold(): Promise<boolean> {
    return Promise.resolve(true);
  }

  load(): Promise<number | null> {
    const row = this.db.prepare(`SELECT position FROM webhook_checkpoint WHERE name = 'deliveries'`).get() as
      { position: number } | undefined;
    return Promise.resolve(row?.position ?? null);
  }

  enqueue(deliveries: readonly PlannedDelivery[], position: number, _owner: string, maxPending: number): Promise<boolean> {
    const pendingOf = this.db.prepare(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND status = 'pending'`);
    const insert = this.db.prepare(
      `INSERT INTO webhook_deliveries (id, webhook_id, event_id, position, kind, payload, status, created_at, next_attempt_at, finished_at, last_error)
       VALUES (@id, @webhookId, @eventId, @position, @kind, @payload, @status, @createdAt, @next, @finished, @error)
       ON CONFLICT (id) DO NOTHING`,
    );
    const save = this.db.prepare(
      `INSERT INTO webhook_checkpoint (name, position) VALUES ('deliveries', ?)
       ON CONFLICT (name) DO UPDATE SET position = MAX(position, excluded.position)`,
    );
    this.db.transaction(() => {
      for (const delivery of deliveries) {
        const full = (pendingOf.get(delivery.webhookId) as { n: number }).n >= maxPending;
        insert.run({
          ...delivery,
          payload: full ? null : delivery.payload,
          status: full ? 'dropped' : 'pending',
          next: full ? null : delivery.createdAt,
          finished: full ? delivery.createdAt : null,
          error: full ? `over ${maxPending} deliveries waiting` : null,
        });
      }
      save.run(position);
    })();
    return Promise.resolve(true);
  }

  claimDue(now: number, limit: number, busy: readonly string[], claimMs: number): Promise<DueDelivery[]> {
    const rows = this.db.transaction(() => {
      const due = this.db
        .prepare(
          `SELECT * FROM (
             SELECT d.*, ROW_NUMBER() OVER (PARTITION BY webhook_id ORDER BY next_attempt_at, seq) AS turn
             FROM webhook_deliveries d
             WHERE status = 'pending' AND next_attempt_at <= @now AND (claimed_until IS NULL OR claimed_until <= @now)
               AND webhook_id NOT IN (SELECT value FROM json_each(@busy))
           ) WHERE turn = 1 ORDER BY next_attempt_at, seq LIMIT @limit`,
        )
        .all({ now, limit, busy: JSON.stringify(busy) }) as DeliveryRow[];
      const claim = this.db.prepare('UPDATE webhook_deliveries SET claimed_until = ? WHERE id = ?');
      for (const row of due) claim.run(now + claimMs, row.id);
      return due;
    })();
    return Promise.resolve(rows.map(dueOf));
  }

  record(id: string, outcome: AttemptOutcome, keep: number): Promise<void> {
    const ended = outcome.status !== 'pending';
    this.db.transaction(() => {
      const row = this.db
        .prepare(
          `UPDATE webhook_deliveries SET status = @status, attempts = @attempts, next_attempt_at = @nextAttemptAt, claimed_until = NULL,
             last_attempt_at = @at, last_status = @lastStatus, last_error = @lastError, duration_ms = @durationMs,
             finished_at = @finishedAt, payload = CASE WHEN @ended THEN NULL ELSE payload END
           WHERE id = @id RETURNING webhook_id`,
        )
        .get({ ...outcome, id, ended: ended ? 1 : 0, finishedAt: ended ? outcome.at : null }) as { webhook_id: string } | undefined;
      if (ended && row) this.prune(row.webhook_id, keep);
    })();
    return Promise.resolve();
  }

  /** The webhook's ended deliveries past the newest `keep` go. */
  private prune(webhookId: string, keep: number): void {
    this.db
      .prepare(
        `DELETE FROM webhook_deliveries WHERE webhook_id = @webhookId AND status != 'pending' AND seq <= (
           SELECT seq FROM webhook_deliveries WHERE webhook_id = @webhookId AND status != 'pending' ORDER BY seq DESC LIMIT 1 OFFSET @keep)`,
      )
      .run({ webhookId, keep });
  }

  release(id: string): Promise<void> {
    this.db.prepare('UPDATE webhook_deliveries SET claimed_until = NULL WHERE id = ?').run(id);
    return Promise.resolve();
  }

  failed(webhookId: string): Promise<number> {
    const row = this.db
      .prepare(
        `INSERT INTO webhook_failures (webhook_id, consecutive) VALUES (?, 1)
         ON CONFLICT (webhook_id) DO UPDATE SET consecutive = consecutive + 1 RETURNING consecutive`,
      )
      .get(webhookId) as { consecutive: number };
    return Promise.resolve(row.consecutive);
  }

  resetFailures(webhookId: string): Promise<void> {
    this.db.prepare('DELETE FROM webhook_failures WHERE webhook_id = ?').run(webhookId);
    return Promise.resolve();
  }

  page(webhookId: string, before: number | null, limit: number): Promise<DeliveryRecord[]> {
    const rows = this.db
      .prepare(`SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`)
      .all(webhookId, before ?? Number.MAX_SAFE_INTEGER, limit) as DeliveryRow[];
    return Promise.resolve(rows.map(recordOf));
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
