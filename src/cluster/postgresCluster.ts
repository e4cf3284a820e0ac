import type pg from 'pg';
import type { Logger } from 'pino';
import {
  createClient,
  createStoreTables,
  createPool,
  isUnavailable,
  quoteIdent,
  schemaOf,
  unavailable,
  type PostgresSettings,
} from '../postgres/connection.ts';
import type { ClusterBus, ClusterMessage, ConnectionIds } from './clusterBus.ts';

/** A NOTIFY payload is limited to 8,000 bytes: anything longer goes through `cluster_messages` and only its id is notified. */
const INLINE_MAX_BYTES = 7_000;
/** Nothing the bus carries is larger (a call.signal frame is at most 64 KiB); a larger message is dropped and logged. */
const MAX_MESSAGE_BYTES = 256 * 1024;
/** Messages waiting to be sent: past this, new ones are dropped (ephemeral traffic) rather than queued without bound. */
const MAX_PENDING = 1_000;
/** A stored message is read within milliseconds by the listeners; it is kept this long, then deleted by whoever sweeps. */
export const STORED_MESSAGE_RETENTION_MS = 10_000;
const SWEEP_INTERVAL_MS = 5_000;
/** Connection ids are taken from a sequence in blocks, so a socket rarely waits for a round trip. */
const CONNECTION_ID_BLOCK = 1_000;

interface Envelope {
  /** The publishing instance. */
  f: string;
  /** The message, or the id of its row in `cluster_messages`. */
  m?: ClusterMessage;
  r?: string;
}

/**
 * The instances' bus on PostgreSQL: NOTIFY on one channel per schema, heard by one dedicated LISTEN session per
 * instance that reconnects with backoff; a message over NOTIFY's limit (a call.signal with a 16 KiB SDP) is written
 * to the unlogged `cluster_messages` and its id notified. Publishes of one instance go out one after another, and
 * each listener handles what it hears in order (reading a stored message before the next), so one instance's
 * messages arrive in the order it sent them. Also hands out connection ids unique across instances.
 */
export class PostgresCluster implements ClusterBus, ConnectionIds {
  readonly kind = 'postgres';
  private readonly table: string;
  private readonly sequence: string;
  private readonly channel: string;
  private readonly handlers: Array<(message: ClusterMessage) => void> = [];
  private sending: Promise<void> = Promise.resolve();
  private pending = 0;
  private receiving: Promise<void> = Promise.resolve();
  private listener: pg.Client | null = null;
  private listenerRetry: NodeJS.Timeout | null = null;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  private nextId = 0;
  private blockEnd = 0;
  private taking: Promise<void> | null = null;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly settings: PostgresSettings,
    private readonly schema: string,
    readonly instanceId: string,
    private readonly logger: Logger,
  ) {
    this.table = `${quoteIdent(schema)}.cluster_messages`;
    this.sequence = `${quoteIdent(schema)}.connection_id_blocks`;
    this.channel = `letsapp_bus_${schema}`;
    this.sweeper = setInterval(() => {
      void this.sweep();
    }, SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  static async connect(settings: PostgresSettings, instanceId: string, logger: Logger): Promise<PostgresCluster> {
    const pool = createPool({ ...settings, poolMax: Math.min(settings.poolMax ?? 2, 2) });
    const cluster = new PostgresCluster(pool, settings, schemaOf(settings), instanceId, logger);
    try {
      await cluster.createTables();
      await cluster.listen();
    } catch (error) {
      await cluster.close();
      throw isUnavailable(error) ? unavailable('The cluster bus', error) : error;
    }
    return cluster;
  }

  /** Idempotent; under the same advisory lock as the other stores' catalog changes. */
  private async createTables(): Promise<void> {
    await createStoreTables(this.pool, this.schema, [
      // Unlogged: a message is worth nothing after a crash of the server, and writing it to the WAL would cost.
      `CREATE UNLOGGED TABLE IF NOT EXISTS ${this.table} (
        id      bigserial PRIMARY KEY,
        sent_at timestamptz NOT NULL DEFAULT now(),
        payload text NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS cluster_messages_sent_at ON ${this.table} (sent_at)`,
      `CREATE SEQUENCE IF NOT EXISTS ${this.sequence}`,
    ]);
  }

  publish(message: ClusterMessage): void {
    if (this.closed) return;
    const payload = JSON.stringify({ f: this.instanceId, m: message } satisfies Envelope);
    const bytes = Buffer.byteLength(payload);
    if (bytes > MAX_MESSAGE_BYTES || this.pending >= MAX_PENDING) {
      this.logger.warn({ type: message.type, bytes, pending: this.pending }, 'cluster message dropped');
      return;
    }
    this.pending++;
    this.sending = this.sending.then(async () => {
      try {
        if (bytes <= INLINE_MAX_BYTES) await this.pool.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
        else {
          // One statement: the row and its notice commit together.
          await this.pool.query(
            `WITH stored AS (INSERT INTO ${this.table} (payload) VALUES ($2) RETURNING id)
            SELECT pg_notify($1, json_build_object('f', $3::text, 'r', id::text)::text) FROM stored`,
            [this.channel, payload, this.instanceId],
          );
        }
      } catch (error) {
        this.logger.warn({ err: error, type: message.type }, 'cluster message not sent');
      } finally {
        this.pending--;
      }
    });
  }

  onMessage(handler: (message: ClusterMessage) => void): void {
    this.handlers.push(handler);
  }

  private heard(text: string | undefined): void {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(text ?? '') as Envelope;
    } catch {
      return;
    }
    if (envelope.f === this.instanceId) return;
    this.receiving = this.receiving.then(async () => {
      let message = envelope.m;
      if (envelope.r !== undefined) {
        try {
          const row = (await this.pool.query<{ payload: string }>(`SELECT payload FROM ${this.table} WHERE id = $1`, [envelope.r])).rows[0];
          message = row ? (JSON.parse(row.payload) as Envelope).m : undefined;
        } catch (error) {
          this.logger.warn({ err: error }, 'stored cluster message not read');
        }
      }
      if (!message || this.closed) return;
      for (const handler of this.handlers) {
        try {
          handler(message);
        } catch (error) {
          this.logger.error({ err: error, type: message.type }, 'cluster message handler failed');
        }
      }
    });
  }

  /** One dedicated session LISTENs; when it drops it reconnects with backoff (what was said meanwhile is missed). */
  private listen(attempt = 0): Promise<void> {
    const client = createClient(this.settings);
    this.listener = client;
    const retry = (error?: unknown) => {
      if (this.listener !== client) return;
      this.listener = null;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.logger.warn({ err: error, attempt }, 'cluster bus listener lost; reconnecting');
      this.listenerRetry = setTimeout(
        () => {
          this.listenerRetry = null;
          this.listen(attempt + 1).catch(() => undefined);
        },
        Math.min(5_000, 100 * 2 ** attempt),
      );
      this.listenerRetry.unref();
    };
    client.on('notification', (notice) => this.heard(notice.payload));
    client.on('error', retry);
    client.on('end', () => retry());
    return client
      .connect()
      .then(() => client.query(`LISTEN ${quoteIdent(this.channel)}`))
      .then(
        () => {
          if (attempt > 0) this.logger.info('cluster bus listener back');
        },
        (error: unknown) => {
          // The first connect's failure is the caller's (the server does not start); later ones are retried.
          if (attempt === 0) throw error;
          retry(error);
        },
      );
  }

  /** The session LISTENing (tests end it from the server's side to see the reconnect). */
  listenerPid(): Promise<number | null> {
    const client = this.listener;
    return client
      ? client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid').then(
          (r) => r.rows[0]!.pid,
          () => null,
        )
      : Promise.resolve(null);
  }

  private async sweep(): Promise<void> {
    try {
      await this.pool.query(`DELETE FROM ${this.table} WHERE sent_at < now() - make_interval(secs => $1)`, [
        STORED_MESSAGE_RETENTION_MS / 1000,
      ]);
    } catch (error) {
      this.logger.warn({ err: error }, 'cluster messages not swept');
    }
  }

  async next(): Promise<number> {
    while (this.nextId >= this.blockEnd) {
      this.taking ??= this.takeBlock().finally(() => {
        this.taking = null;
      });
      await this.taking;
    }
    return ++this.nextId;
  }

  private async takeBlock(): Promise<void> {
    try {
      const block = Number(
        (await this.pool.query<{ block: string }>(`SELECT nextval('${this.sequence.replaceAll("'", "''")}') AS block`)).rows[0]!.block,
      );
      this.nextId = (block - 1) * CONNECTION_ID_BLOCK;
      this.blockEnd = block * CONNECTION_ID_BLOCK;
    } catch (error) {
      throw isUnavailable(error) ? unavailable('The cluster bus', error) : error;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    if (this.listenerRetry) clearTimeout(this.listenerRetry);
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => undefined);
    await this.sending;
    await this.receiving;
    await this.pool.end().catch(() => undefined);
  }
}
