import Database from 'better-sqlite3';
import { isBusy, LOCK_WAIT_LIMIT_MS, retryWhileBusy } from '../sqlite/busy.ts';
import { BackgroundCheckpointer, WAL_SIZE_LIMIT_BYTES, type CheckpointStatus, type SqliteStoreOptions } from '../sqlite/checkpointer.ts';
import { ConcurrencyError, ConflictError, UnavailableError } from '../../commands/shared/errors.ts';
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
import { CHAIN_VERSION, chainHash, firstBreak, GENESIS_HASH, type ChainedRow } from './chainHash.ts';
import { checkHead, readAnchorFile, signHead, writeAnchorFile, type AnchorCheck, type SignedHead } from './anchor.ts';
import { assertOneEvent } from './port.ts';

export interface SqliteEventStoreOptions extends SqliteStoreOptions {
  /** Open the log read-only (the audit CLI): nothing is created, migrated or written; appends are refused. */
  readonly?: boolean;
  /**
   * Anchor the hash chain (see anchor.ts): check the anchor at open and, while it matches, sign the newest head into
   * `file` at most every `intervalMs` after commits (and at close). Left out by connections that only read.
   */
  anchor?: { file: string; key: string; intervalMs?: number };
}

/** How often at most the anchor follows the commits: a small file written off the serving thread, not per append. */
const ANCHOR_INTERVAL_MS = 1_000;

/** How often a parked subscription looks for events other processes appended. */
const EXTERNAL_APPEND_POLL_MS = 1_000;

interface EventRow {
  position: number;
  event_id: string;
  stream: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
  chain_hash: string | null;
}

interface PendingAppend {
  stream: string;
  events: readonly NewEvent[];
  expected: ExpectedRevision;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
  queuedAt: number;
}

/**
 * Appends that arrive in the same turn of the event loop share one transaction, hence one fsync, up to this many:
 * a commit of thousands would hold the serving thread for a hundred milliseconds and more.
 */
const MAX_APPENDS_PER_COMMIT = 256;

const toRecorded = (row: EventRow): RecordedEvent => ({
  stream: row.stream,
  revision: row.revision,
  position: row.position,
  type: row.type,
  data: JSON.parse(row.data),
  metadata: JSON.parse(row.metadata) as EventMetadata,
});

/**
 * The embedded event store: one SQLite file in WAL mode with synchronous=FULL, so an append that resolved
 * survives a kill -9 and a power loss. Throughput comes from group commit, not from weaker durability.
 */
export class SqliteEventStore implements EventStore {
  readonly kind = 'embedded';
  private readonly db: Database.Database;
  private readonly statements: ReturnType<SqliteEventStore['prepareStatements']>;
  private readonly commitListeners = new Set<() => void>();
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  /** Set while a busy commit waits to be retried; appends meanwhile join the retried batch. */
  private retryTimer: NodeJS.Timeout | null = null;
  /** Set while appends wait for the WAL to be drained; they join the next commit. */
  private resetting = false;
  private closed = false;

  private readonly checkpointer: BackgroundCheckpointer | null;

  /** What the anchor said at open; null without an anchor key. */
  readonly anchorAtOpen: AnchorCheck | null;
  private readonly anchor: { file: string; key: string; intervalMs: number } | null;
  /** Set at open when the log does not match its anchor: the anchor is then kept as it is, as evidence. */
  private anchorSince: SignedHead['since'] | undefined;
  private anchorTimer: NodeJS.Timeout | null = null;
  private anchorWrite: Promise<void> = Promise.resolve();
  private anchoredPosition = -1;
  /** The last failure to write the anchor, if any (for /ping). */
  anchorError: unknown = null;

  constructor(file: string, options: SqliteEventStoreOptions = {}) {
    if (options.readonly) {
      this.db = new Database(file, { readonly: true, fileMustExist: true });
      this.db.pragma('busy_timeout = 0');
      this.statements = this.prepareStatements();
      this.checkpointer = null;
      this.anchor = null;
      this.anchorAtOpen = null;
      return;
    }
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('wal_autocheckpoint = 0');
    this.db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    // Never a synchronous lock wait on the serving thread: a busy commit is retried asynchronously (flush).
    this.db.pragma('busy_timeout = 0');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS events (
        position INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        stream   TEXT NOT NULL,
        revision INTEGER NOT NULL,
        type     TEXT NOT NULL,
        data     TEXT NOT NULL,
        metadata TEXT NOT NULL,
        chain_hash TEXT,
        UNIQUE (stream, revision)
      )`);
    this.addChainColumn();
    this.statements = this.prepareStatements();
    // Should the background worker die, SQLite checkpoints on its own again: slower, never unbounded.
    this.checkpointer =
      options.checkpoints === false
        ? null
        : new BackgroundCheckpointer(file, {
            onFailure: () => this.db.pragma('wal_autocheckpoint = 1000'),
            walLimitBytes: options.walLimitBytes,
            onCheckpointProblem: options.onCheckpointProblem,
          });
    this.anchor = options.anchor ? { intervalMs: ANCHOR_INTERVAL_MS, ...options.anchor } : null;
    this.anchorAtOpen = this.anchor ? this.checkAnchor() : null;
    if (this.anchorAtOpen?.status === 'ok') {
      this.anchorSince = this.anchorAtOpen.since;
      this.anchoredPosition = this.anchorAtOpen.position ?? -1;
    }
    // A missing anchor starts over from this head (its `since` says from where); one that does not match is kept.
    this.scheduleAnchor();
  }

  private prepareStatements() {
    return {
      streamRevision: this.db.prepare<[string], { revision: number }>(
        'SELECT revision FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1',
      ),
      byEventId: this.db.prepare<[string], EventRow>('SELECT * FROM events WHERE event_id = ?'),
      byPosition: this.db.prepare<[number], EventRow>('SELECT * FROM events WHERE position = ?'),
      insert: this.db.prepare(
        'INSERT INTO events (position, event_id, stream, revision, type, data, metadata, chain_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      last: this.db.prepare<[], { position: number; chain_hash: string | null }>(
        'SELECT position, chain_hash FROM events ORDER BY position DESC LIMIT 1',
      ),
      readStream: this.db.prepare<[string, number, number], EventRow>(
        'SELECT * FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?',
      ),
      readAll: this.db.prepare<[number, number], EventRow>('SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?'),
      head: this.db.prepare<[], { position: number | null }>('SELECT max(position) AS position FROM events'),
      hashAt: this.db.prepare<[number], { chain_hash: string | null }>('SELECT chain_hash FROM events WHERE position = ?'),
    };
  }

  /**
   * A log written before the chain existed gets the column, not hashes: its events stay unchained and show as a break
   * at position 1. Nothing is ever chained at open: a missing or changed hash is a finding, not a state to repair.
   */
  private addChainColumn(): void {
    const columns = this.db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('events')").all();
    if (!columns.some((column) => column.name === 'chain_hash')) this.db.exec('ALTER TABLE events ADD COLUMN chain_hash TEXT');
    this.db.exec('CREATE TABLE IF NOT EXISTS event_log_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    this.db.prepare("INSERT INTO event_log_meta (key, value) VALUES ('chain', ?) ON CONFLICT (key) DO NOTHING").run(CHAIN_VERSION);
  }

  /** The anchor file against this log as it is now. */
  checkAnchor(): AnchorCheck {
    const anchor = this.anchor!;
    return checkHead(
      readAnchorFile(anchor.file),
      anchor.key,
      this.statements.head.get()?.position ?? 0,
      (position) => this.statements.hashAt.get(position)?.chain_hash,
    );
  }

  /** After a commit: the anchor follows within `intervalMs`, unless the log did not match it at open. */
  /** Anchoring goes on while the log matched its anchor at open (or had none). */
  private get anchoring(): boolean {
    const status = this.anchorAtOpen?.status;
    return this.anchor !== null && (status === 'ok' || status === 'missing');
  }

  private scheduleAnchor(): void {
    if (!this.anchoring || this.anchorTimer || this.closed) return;
    this.anchorTimer = setTimeout(() => {
      this.anchorTimer = null;
      // Never rejects: a failed write is kept in anchorError.
      void this.anchorHead();
    }, this.anchor!.intervalMs);
    this.anchorTimer.unref();
  }

  /** Signs the newest committed head (read now: other processes append too) and writes it off the serving thread. */
  private anchorHead(): Promise<void> {
    const anchor = this.anchor!;
    let last;
    try {
      last = this.statements.last.get();
    } catch (error) {
      // Busy for a moment while another connection restarts the WAL: the next interval tries again.
      this.anchorError = error;
      this.scheduleAnchor();
      return this.anchorWrite;
    }
    if (!last || last.position <= this.anchoredPosition) return this.anchorWrite;
    const signed = signHead(anchor.key, { position: last.position, hash: last.chain_hash }, new Date(), this.anchorSince);
    this.anchorSince = signed.since;
    this.anchoredPosition = last.position;
    this.anchorWrite = this.anchorWrite
      .then(() => writeAnchorFile(anchor.file, signed))
      .then(
        () => {
          this.anchorError = null;
        },
        (error: unknown) => {
          // The next commit tries again; a lasting failure shows on /ping and as an anchor behind the head.
          this.anchoredPosition = -1;
          this.anchorError = error;
        },
      );
    return this.anchorWrite;
  }

  /** One event as stored, with its chain hash (for `audit export`). */
  storedAt(position: number): (ChainedRow & { chain_hash: string | null }) | null {
    return this.statements.byPosition.get(position) ?? null;
  }

  append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new UnavailableError('Event store is closed'));
    if (this.db.readonly) return Promise.reject(new UnavailableError('This connection to the event log is read-only'));
    try {
      assertOneEvent(stream, events);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ stream, events, expected, resolve, reject, queuedAt: performance.now() });
      if (this.retryTimer || this.resetting) return;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Commits every pending append in one transaction. An append is one INSERT after checks that throw before it
   * writes, and SQLite backs out a failed statement by itself, so one append's failure leaves the others to
   * commit with no savepoint around each.
   */
  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    if (this.checkpointer?.wantsReset && !this.closed) {
      // The WAL passed its limit: appends wait until it is drained, so the next commit starts it over.
      if (!this.resetting) {
        this.resetting = true;
        void this.checkpointer.resetBeforeWrite().finally(() => {
          this.resetting = false;
          this.flush();
        });
      }
      return;
    }
    // At most MAX_APPENDS_PER_COMMIT per commit: a longer one would hold the serving thread; the rest follow at once.
    const batch = this.pending.splice(0, MAX_APPENDS_PER_COMMIT);
    if (this.pending.length > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    let outcomes: Array<{ ok: true; value: AppendResult } | { ok: false; error: unknown }> = [];
    try {
      this.db
        .transaction(() => {
          outcomes = [];
          for (const request of batch) {
            try {
              outcomes.push({ ok: true, value: this.appendInTransaction(request) });
            } catch (error) {
              // An I/O error or a full disk can make SQLite roll the whole transaction back: then nothing of this batch
              // is written, and the appends after it must not run outside a transaction, each committing on its own.
              if (!this.db.inTransaction) throw error;
              outcomes.push({ ok: false, error });
            }
          }
        })
        .immediate();
    } catch (error) {
      if (isBusy(error) && !this.closed && performance.now() - batch[0]!.queuedAt < LOCK_WAIT_LIMIT_MS) {
        // Another process (an operator script) holds the lock: nothing was written; try again shortly, without
        // blocking the event loop.
        this.pending = [...batch, ...this.pending];
        this.retryTimer ??= setTimeout(() => {
          this.retryTimer = null;
          this.flush();
        }, 2);
        return;
      }
      // The commit itself failed (disk full, I/O error, locked for too long): nothing of this batch is durable.
      const failure = isBusy(error) ? new UnavailableError('The event log is locked by another process; try again') : error;
      for (const request of batch) request.reject(failure);
      return;
    }
    batch.forEach((request, index) => {
      const outcome = outcomes[index]!;
      if (outcome.ok) request.resolve(outcome.value);
      else request.reject(outcome.error);
    });
    for (const listener of this.commitListeners) listener();
    if (outcomes.some((outcome) => outcome.ok)) this.scheduleAnchor();
  }

  private appendInTransaction({ stream, events, expected }: PendingAppend): AppendResult {
    const first = events[0]!;
    const already = this.statements.byEventId.get(first.metadata.eventId);
    if (already) return this.idempotentResult(already, stream, events);
    const current = this.statements.streamRevision.get(stream)?.revision ?? -1;
    const matches = expected === 'any' || (expected === 'no-stream' ? current === -1 : current === expected);
    if (!matches) throw new ConcurrencyError(stream, expected, current === -1 ? 'no-stream' : current);
    let position = 0;
    events.forEach((event, index) => {
      // Read in the transaction, not remembered: operator scripts append to this log too.
      const last = this.statements.last.get();
      const row = {
        position: (last?.position ?? 0) + 1,
        stream,
        revision: current + 1 + index,
        type: event.type,
        data: JSON.stringify(event.data),
        metadata: JSON.stringify(event.metadata),
      };
      // After an unchained (NULL) hash the chain goes on from the genesis: that event stays the break verify names.
      const hash = chainHash(last?.chain_hash ?? GENESIS_HASH, row);
      this.statements.insert.run(row.position, event.metadata.eventId, stream, row.revision, row.type, row.data, row.metadata, hash);
      position = row.position;
    });
    return { revision: current + events.length, position };
  }

  /** The same event ids appended again: succeed with the original result, as EventStoreDB does. */
  private idempotentResult(first: EventRow, stream: string, events: readonly NewEvent[]): AppendResult {
    let last = first;
    for (let index = 0; index < events.length; index++) {
      const row = index === 0 ? first : this.statements.byEventId.get(events[index]!.metadata.eventId);
      if (!row || row.stream !== stream || row.revision !== first.revision + index) {
        throw new ConflictError('duplicate_event_id', 'Event ids were already used by a different append', {
          stream,
          eventId: events[index]!.metadata.eventId,
        });
      }
      last = row;
    }
    return { revision: last.revision, position: last.position };
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    // Reads can meet SQLITE_BUSY for a moment while another connection restarts the WAL: retried asynchronously.
    const rows = await retryWhileBusy(() => this.statements.readStream.all(stream, options.fromRevision ?? 0, options.maxCount ?? -1));
    return rows.map(toRecorded);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    return retryWhileBusy(() => this.readAllNow(options.after ?? 0, options.maxCount ?? -1));
  }

  private readAllNow(after: number, maxCount: number): RecordedEvent[] {
    return this.statements.readAll.all(after, maxCount).map(toRecorded);
  }

  async headPosition(): Promise<number> {
    return retryWhileBusy(() => this.statements.head.get()?.position ?? 0);
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
    const done = (async () => {
      let position = after;
      try {
        while (!stopped) {
          let batch: RecordedEvent[];
          try {
            batch = this.closed ? [] : this.readAllNow(position, batchSize);
          } catch (error) {
            if (!isBusy(error)) throw error;
            await new Promise((resolve) => setTimeout(resolve, 2));
            continue;
          }
          if (batch.length === 0) {
            // Reading and parking happen in one synchronous step, so no commit can slip between them. Commits of other
            // processes (an operator's script) send no notice: a parked subscription also looks again every second.
            await new Promise<void>((resolve) => {
              const timer = setTimeout(() => listener(), EXTERNAL_APPEND_POLL_MS);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            continue;
          }
          await handler(batch);
          position = batch[batch.length - 1]!.position;
          // Batches back to back would otherwise run as one chain of promises: let the event loop serve messages,
          // timers and sockets between them.
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

  /**
   * Recomputes the hash chain over the last `count` events from the stored hash just before them: a cheap check at
   * startup that the newest part of the log was not altered (`npm run audit -- verify` checks all of it).
   */
  verifyTail(count = 1_000): { checked: number; breakAt: number | null } {
    const rows = this.db
      .prepare<[number], ChainedRow & { chain_hash: string | null }>(
        'SELECT position, stream, revision, type, data, metadata, chain_hash FROM events ORDER BY position DESC LIMIT ?',
      )
      .all(count)
      .reverse();
    if (rows.length === 0) return { checked: 0, breakAt: null };
    const before = this.db
      .prepare<[number], { chain_hash: string | null }>('SELECT chain_hash FROM events WHERE position < ? ORDER BY position DESC LIMIT 1')
      .get(rows[0]!.position);
    const broken = firstBreak(rows, before?.chain_hash ?? GENESIS_HASH);
    return { checked: rows.length, breakAt: broken?.position ?? null };
  }

  checkpointStatus(): CheckpointStatus | undefined {
    return this.checkpointer?.status();
  }

  /**
   * Another connection (the serving thread's) committed appends: wakes this instance's subscriptions, which
   * otherwise hear only of this instance's own commits.
   */
  notifyCommitted(): void {
    for (const listener of this.commitListeners) listener();
  }

  /** Called after each commit of this instance's appends (to tell another thread's subscriptions). */
  onCommit(listener: () => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    // Closed first: a last flush that meets a lock fails its appends instead of retrying on a closed database.
    this.closed = true;
    this.flush();
    for (const listener of this.commitListeners) listener();
    if (this.anchorTimer) clearTimeout(this.anchorTimer);
    this.anchorTimer = null;
    // The final head (the last flush's commits too) is anchored before the database closes.
    if (this.anchoring) void this.anchorHead();
    await this.anchorWrite;
    await this.checkpointer?.stop();
    this.db.close();
  }
}
