import type pg from 'pg';
import { ConcurrencyError, ConflictError, UnavailableError } from '../../commands/shared/errors.ts';
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
import { chainHash, firstBreak, GENESIS_HASH, type ChainedRow } from './chainHash.ts';
import type {
  AppendResult,
  BatchHandler,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
} from './port.ts';
import { assertOneEvent } from './port.ts';

/** A parked subscription looks again this often even without a NOTIFY (a lost notification, a dropped listener). */
const POLL_MS = 1_000;
/** Events committed but still behind an older open transaction (the visibility horizon): looked for again soon. */
const HORIZON_RETRY_MS = 5;
/** As on SQLite: appends waiting while a commit runs share the next one, up to this many. */
const MAX_APPENDS_PER_COMMIT = 256;

interface EventRow {
  position: string;
  stream: string;
  revision: string;
  type: string;
  data: string;
  metadata: string;
}

/** An event as a log stores it: the text of its data and metadata exactly as written, and its chain hash. */
export interface StoredEvent extends ChainedRow {
  eventId: string;
  chainHash: string;
}

interface PendingAppend {
  stream: string;
  event: NewEvent;
  expected: ExpectedRevision;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: AppendResult } | { ok: false; error: unknown };

const toRecorded = (row: EventRow): RecordedEvent => ({
  stream: row.stream,
  revision: Number(row.revision),
  position: Number(row.position),
  type: row.type,
  data: JSON.parse(row.data),
  metadata: JSON.parse(row.metadata) as EventMetadata,
});

/**
 * The event log on PostgreSQL. Positions are dense and given in commit order: every append transaction first takes
 * a transaction-scoped advisory lock (before it has a transaction id), then reads the head, inserts and commits; the
 * lock is released only after the commit is visible. So position order, transaction-id order and commit order agree,
 * and the hash chain is computed in the append's transaction from the head it read.
 *
 * Readers of `$all` additionally see only rows whose writing transaction is older than every transaction still
 * running (`pg_snapshot_xmin(pg_current_snapshot())`), in (transaction id, position) order: a row can then never
 * appear behind a reader, even one written without the lock (an operator's SQL). A sequence alone would not do:
 * position 8 can commit before 7, and a reader that moved past 8 would never see 7.
 */
export class PostgresEventStore implements EventStore {
  readonly kind = 'postgres';
  private readonly table: string;
  private readonly channel: string;
  private readonly lockKey: string;
  private readonly commitListeners = new Set<() => void>();
  private pending: PendingAppend[] = [];
  private flushing: Promise<void> | null = null;
  private listener: pg.Client | null = null;
  private listening: Promise<void> | null = null;
  private listenerRetry: NodeJS.Timeout | null = null;
  /** Counts wake-ups, so a subscription that read nothing can tell whether one came while it was reading. */
  private wakeups = 0;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly settings: PostgresSettings,
    private readonly schema: string,
  ) {
    this.table = `${quoteIdent(schema)}.events`;
    this.channel = `letsapp_events_${schema}`;
    this.lockKey = `${schema}.events`;
  }

  static async connect(settings: PostgresSettings): Promise<PostgresEventStore> {
    const schema = schemaOf(settings);
    const pool = createPool(settings);
    const store = new PostgresEventStore(pool, settings, schema);
    try {
      await store.createSchema();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw isUnavailable(error) ? unavailable('The event log', error) : error;
    }
    return store;
  }

  /** Idempotent; serialized by an advisory lock so instances starting together do not race on the catalog. */
  private async createSchema(): Promise<void> {
    await this.inTransaction(async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('letsapp schema'))");
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.schema)}`);
      // `json`, not `jsonb`: it keeps the text exactly as written, which the hash chain covers.
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.table} (
        position       bigint PRIMARY KEY CHECK (position > 0),
        transaction_id xid8   NOT NULL DEFAULT pg_current_xact_id(),
        event_id       text   NOT NULL UNIQUE,
        stream         text   NOT NULL,
        revision       bigint NOT NULL CHECK (revision >= 0),
        type           text   NOT NULL,
        data           json   NOT NULL,
        metadata       json   NOT NULL,
        chain_hash     text   NOT NULL,
        UNIQUE (stream, revision)
      )`);
      await client.query(`CREATE INDEX IF NOT EXISTS events_commit_order ON ${this.table} (transaction_id, position)`);
    });
  }

  private async inTransaction<R>(fn: (client: pg.PoolClient) => Promise<R>): Promise<R> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      client.release(broken);
    }
  }

  append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new UnavailableError('Event store is closed'));
    let event: NewEvent;
    try {
      event = assertOneEvent(stream, events);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ stream, event, expected, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  /** One commit at a time (they serialize on the lock anyway): appends that arrive meanwhile share the next one. */
  private async flush(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, MAX_APPENDS_PER_COMMIT);
        await this.commitBatch(batch);
      }
    } finally {
      this.flushing = null;
    }
  }

  private async commitBatch(batch: PendingAppend[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await this.inTransaction((client) => this.appendInTransaction(client, batch));
    } catch (error) {
      if (batch.length > 1 && !isUnavailable(error)) {
        // A statement failed and PostgreSQL aborted the transaction: nothing was written. Each append alone, so one
        // bad append does not fail the others.
        for (const request of batch) await this.commitBatch([request]);
        return;
      }
      const failure = translate(error);
      for (const request of batch) request.reject(failure);
      return;
    }
    batch.forEach((request, index) => {
      const outcome = outcomes[index]!;
      if (outcome.ok) request.resolve(outcome.value);
      else request.reject(outcome.error);
    });
    this.wake();
  }

  /**
   * Checks every append of the batch against the log (ids already used, stream revisions) and inserts the accepted
   * ones in one statement. The lock first: the transaction has no id yet, so its id is taken after every earlier
   * append's, and its positions follow theirs.
   */
  private async appendInTransaction(client: pg.PoolClient, batch: readonly PendingAppend[]): Promise<Outcome[]> {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.lockKey]);
    const eventIds = batch.map((request) => request.event.metadata.eventId);
    const streams = [...new Set(batch.map((request) => request.stream))];
    // One after another: a client runs one query at a time.
    const existing = await client.query<{ event_id: string; stream: string; revision: string; position: string }>(
      `SELECT event_id, stream, revision, position FROM ${this.table} WHERE event_id = ANY($1::text[])`,
      [eventIds],
    );
    const revisions = await client.query<{ stream: string; revision: string | null }>(
      `SELECT s AS stream, (SELECT revision FROM ${this.table} WHERE stream = s ORDER BY revision DESC LIMIT 1) AS revision
       FROM unnest($1::text[]) AS s`,
      [streams],
    );
    const head = await client.query<{ position: string; chain_hash: string }>(
      `SELECT position, chain_hash FROM ${this.table} ORDER BY position DESC LIMIT 1`,
    );
    const byEventId = new Map(
      existing.rows.map((row) => [row.event_id, { stream: row.stream, revision: Number(row.revision), position: Number(row.position) }]),
    );
    const current = new Map(revisions.rows.map((row) => [row.stream, row.revision === null ? -1 : Number(row.revision)]));
    let position = Number(head.rows[0]?.position ?? 0);
    let hash = head.rows[0]?.chain_hash ?? GENESIS_HASH;
    const rows: Array<ChainedRow & { eventId: string; hash: string }> = [];
    const outcomes = batch.map(({ stream, event, expected }): Outcome => {
      const already = byEventId.get(event.metadata.eventId);
      if (already) {
        // The same event id again: the original result, as EventStoreDB answers a retried append.
        if (already.stream !== stream) {
          return {
            ok: false,
            error: new ConflictError('duplicate_event_id', 'Event ids were already used by a different append', {
              stream,
              eventId: event.metadata.eventId,
            }),
          };
        }
        return { ok: true, value: { revision: already.revision, position: already.position } };
      }
      const revision = current.get(stream) ?? -1;
      const matches = expected === 'any' || (expected === 'no-stream' ? revision === -1 : revision === expected);
      if (!matches) return { ok: false, error: new ConcurrencyError(stream, expected, revision === -1 ? 'no-stream' : revision) };
      position += 1;
      const row = {
        position,
        stream,
        revision: revision + 1,
        type: event.type,
        data: JSON.stringify(event.data),
        metadata: JSON.stringify(event.metadata),
      };
      hash = chainHash(hash, row);
      rows.push({ ...row, eventId: event.metadata.eventId, hash });
      current.set(stream, row.revision);
      byEventId.set(event.metadata.eventId, { stream, revision: row.revision, position });
      return { ok: true, value: { revision: row.revision, position } };
    });
    if (rows.length > 0) {
      await client.query(
        `INSERT INTO ${this.table} (position, event_id, stream, revision, type, data, metadata, chain_hash)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::json[], $7::json[], $8::text[])`,
        [
          rows.map((r) => r.position),
          rows.map((r) => r.eventId),
          rows.map((r) => r.stream),
          rows.map((r) => r.revision),
          rows.map((r) => r.type),
          rows.map((r) => r.data),
          rows.map((r) => r.metadata),
          rows.map((r) => r.hash),
        ],
      );
      // Delivered after the commit, to every instance listening: only a wake-up, never what to read.
      await client.query('SELECT pg_notify($1, $2)', [this.channel, String(position)]);
    }
    return outcomes;
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const result = await this.query<EventRow>(
      `SELECT position, stream, revision, type, data::text AS data, metadata::text AS metadata FROM ${this.table}
       WHERE stream = $1 AND revision >= $2 ORDER BY revision LIMIT $3`,
      [stream, options.fromRevision ?? 0, options.maxCount ?? null],
    );
    return result.rows.map(toRecorded);
  }

  /**
   * Events after `after` in commit order, only below the visibility horizon. `after` is the position of an event
   * already read (its transaction id places it); a position with no event starts at the first event above it.
   */
  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = options.after ?? 0;
    const result = await this.query<EventRow>(
      `SELECT position, stream, revision, type, data::text AS data, metadata::text AS metadata FROM ${this.table}
       WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         AND (transaction_id, position) > (
           COALESCE((SELECT transaction_id FROM ${this.table} WHERE position = $1),
                    (SELECT transaction_id FROM ${this.table} WHERE position > $1 ORDER BY position LIMIT 1),
                    '0'::xid8),
           $1)
       ORDER BY transaction_id, position LIMIT $2`,
      [after, options.maxCount ?? null],
    );
    return result.rows.map(toRecorded);
  }

  async headPosition(): Promise<number> {
    const result = await this.query<{ position: string }>(`SELECT position FROM ${this.table} ORDER BY position DESC LIMIT 1`);
    return Number(result.rows[0]?.position ?? 0);
  }

  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    if (this.closed) throw new UnavailableError('Event store is closed');
    try {
      return await this.pool.query<R>(sql, params);
    } catch (error) {
      throw translate(error);
    }
  }

  /** The newest event's position and stored chain hash; position 0 and the genesis hash when the log is empty. */
  async storedHead(): Promise<{ position: number; hash: string }> {
    const result = await this.query<{ position: string; chain_hash: string }>(
      `SELECT position, chain_hash FROM ${this.table} ORDER BY position DESC LIMIT 1`,
    );
    const row = result.rows[0];
    return row ? { position: Number(row.position), hash: row.chain_hash } : { position: 0, hash: GENESIS_HASH };
  }

  /** Events as stored (text exactly as written, with their chain hashes) in position order, for checks and copies. */
  async readStored(after: number, limit: number): Promise<StoredEvent[]> {
    const result = await this.query<EventRow & { event_id: string; chain_hash: string }>(
      `SELECT position, event_id, stream, revision, type, data::text AS data, metadata::text AS metadata, chain_hash FROM ${this.table}
       WHERE position > $1 ORDER BY position LIMIT $2`,
      [after, limit],
    );
    return result.rows.map((row) => ({
      position: Number(row.position),
      eventId: row.event_id,
      stream: row.stream,
      revision: Number(row.revision),
      type: row.type,
      data: row.data,
      metadata: row.metadata,
      chainHash: row.chain_hash,
    }));
  }

  /**
   * Appends events exactly as another log stored them — positions, text and chain hashes — for `npm run migrate`.
   * Under the append lock, in one transaction: the first must come after this log's head and each hash must continue
   * the chain from the head's (recomputed here), so only a continuation of this very log is accepted and a copy
   * interrupted anywhere resumes from the head without a gap or a duplicate.
   */
  async importStored(events: readonly StoredEvent[]): Promise<void> {
    if (events.length === 0) return;
    try {
      await this.inTransaction(async (client) => {
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.lockKey]);
        const head = await client.query<{ position: string; chain_hash: string }>(
          `SELECT position, chain_hash FROM ${this.table} ORDER BY position DESC LIMIT 1`,
        );
        let position = Number(head.rows[0]?.position ?? 0);
        let hash = head.rows[0]?.chain_hash ?? GENESIS_HASH;
        for (const event of events) {
          if (event.position <= position)
            throw new ConflictError('import_out_of_order', `Event ${event.position} does not come after this log's head (${position})`);
          hash = chainHash(hash, event);
          if (event.chainHash !== hash)
            throw new ConflictError('import_chain_break', `Event ${event.position} does not continue this log's hash chain`);
          position = event.position;
        }
        await client.query(
          `INSERT INTO ${this.table} (position, event_id, stream, revision, type, data, metadata, chain_hash)
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::json[], $7::json[], $8::text[])`,
          [
            events.map((e) => e.position),
            events.map((e) => e.eventId),
            events.map((e) => e.stream),
            events.map((e) => e.revision),
            events.map((e) => e.type),
            events.map((e) => e.data),
            events.map((e) => e.metadata),
            events.map((e) => e.chainHash),
          ],
        );
        await client.query('SELECT pg_notify($1, $2)', [this.channel, String(position)]);
      });
    } catch (error) {
      throw translate(error);
    }
    this.wake();
  }

  /** Recomputes the hash chain over the newest `count` events from the stored hash before them (checked at start). */
  async verifyTail(count = 1_000): Promise<{ checked: number; breakAt: number | null }> {
    const rows = (
      await this.query<ChainedRow & { chain_hash: string; position: number; revision: number }>(
        `SELECT position::float8 AS position, stream, revision::float8 AS revision, type, data::text AS data, metadata::text AS metadata, chain_hash
       FROM ${this.table} ORDER BY position DESC LIMIT $1`,
        [count],
      )
    ).rows.reverse();
    if (rows.length === 0) return { checked: 0, breakAt: null };
    const before = await this.query<{ chain_hash: string }>(
      `SELECT chain_hash FROM ${this.table} WHERE position < $1 ORDER BY position DESC LIMIT 1`,
      [rows[0]!.position],
    );
    const broken = firstBreak(rows, before.rows[0]?.chain_hash ?? GENESIS_HASH);
    return { checked: rows.length, breakAt: broken?.position ?? null };
  }

  subscribeToAll({ after, batchSize = 1_000 }: SubscribeOptions, handler: BatchHandler): Subscription {
    let stopped = false;
    let wake: (() => void) | null = null;
    const listener = () => {
      const resume = wake;
      wake = null;
      resume?.();
    };
    this.commitListeners.add(listener);
    void this.listen();
    const park = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => listener(), ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    const done = (async () => {
      let position = after;
      let failures = 0;
      let hiddenStreak = 0;
      try {
        while (!stopped && !this.closed) {
          const seenWakeups = this.wakeups;
          let batch: RecordedEvent[];
          try {
            batch = await this.readAll({ after: position, maxCount: batchSize });
            failures = 0;
          } catch (error) {
            if (!(error instanceof UnavailableError) || this.closed) throw error;
            // The server is away: keep trying, backing off, rather than end the subscription.
            failures++;
            await park(Math.min(POLL_MS * 5, 50 * 2 ** failures));
            continue;
          }
          if (batch.length === 0) {
            if (stopped || this.closed) break;
            if (this.wakeups !== seenWakeups) continue; // a commit was announced while this read ran
            // Committed events still behind an older open transaction: they become readable when it ends, which
            // sends no notice.
            const hidden = (await this.headPosition().catch(() => position)) > position;
            hiddenStreak = hidden ? hiddenStreak + 1 : 0;
            await park(hidden ? Math.min(POLL_MS, HORIZON_RETRY_MS * 2 ** Math.min(hiddenStreak, 8)) : POLL_MS);
            continue;
          }
          await handler(batch);
          position = batch[batch.length - 1]!.position;
          // Let the event loop serve sockets and timers between batches read back to back.
          await new Promise((resolve) => setImmediate(resolve));
        }
      } finally {
        this.commitListeners.delete(listener);
      }
    })();
    return {
      done,
      stop: async () => {
        stopped = true;
        listener();
        await done.catch(() => undefined);
      },
    };
  }

  /** Called after each commit of this instance's appends (e.g. to tell another thread's subscriptions). */
  onCommit(listener: () => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  private wake(): void {
    this.wakeups++;
    for (const listener of this.commitListeners) listener();
  }

  /**
   * One dedicated session LISTENs for every subscription of this store (a pooled client could be handed to another
   * query). When it drops, it reconnects with backoff and wakes everyone, since notices may have been missed.
   */
  private listen(attempt = 0): Promise<void> {
    if (this.listening || this.closed) return this.listening ?? Promise.resolve();
    const client = createClient(this.settings);
    this.listener = client;
    const retry = () => {
      if (this.listener !== client) return;
      this.listener = null;
      this.listening = null;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.wake();
      this.listenerRetry = setTimeout(
        () => {
          this.listenerRetry = null;
          void this.listen(attempt + 1);
        },
        Math.min(5_000, 100 * 2 ** attempt),
      );
    };
    client.on('notification', () => this.wake());
    client.on('error', retry);
    client.on('end', retry);
    this.listening = client
      .connect()
      .then(() => client.query(`LISTEN ${quoteIdent(this.channel)}`))
      .then(() => {
        attempt = 0;
        this.wake();
      }, retry);
    return this.listening;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Appends already queued are committed (or fail) before the pool goes.
    while (this.flushing) await this.flushing;
    this.closed = true;
    if (this.listenerRetry) clearTimeout(this.listenerRetry);
    const listener = this.listener;
    this.listener = null;
    this.wake();
    await listener?.end().catch(() => undefined);
    await this.pool.end();
  }
}

function translate(error: unknown): unknown {
  if (isUnavailable(error)) return unavailable('The event log', error);
  const pgError = error as { code?: string; constraint?: string };
  // Only possible for a writer that bypassed the append lock: the stream moved under this append.
  if (pgError.code === UNIQUE_VIOLATION && pgError.constraint?.endsWith('stream_revision_key')) {
    return new ConflictError('concurrent_append', 'The stream was appended to concurrently; retry');
  }
  return error;
}
