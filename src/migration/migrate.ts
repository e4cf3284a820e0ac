import { chainHash, GENESIS_HASH } from '../eventstore/chainHash.ts';
import type { EventStore } from '../eventstore/port.ts';
import { storedMetadata } from '../eventstore/metadata.ts';
import type { PostgresEventStore, StoredEvent } from '../eventstore/postgres.ts';
import type { PostgresSettings } from '../postgres/connection.ts';
import type { SecretStore } from '../secrets/secretStore.ts';
import type { EmbeddedSource } from './embeddedSource.ts';

/** A migration that must not go on: the source's chain is broken, or the target holds events that are not the source's. */
export class MigrationRefused extends Error {}

export interface MigrationProgress {
  /** `source`: checking the embedded log's hash chain; `copy`: copying events; `target`: reading the copy back. */
  phase: 'source' | 'copy' | 'target';
  done: number;
  total: number;
}

export interface ChainCheck {
  events: number;
  /** The chain hash after the last event (the genesis hash when empty). */
  headHash: string;
  /** The source position of the first event whose hash does not match, or null. */
  breakAt: number | null;
}

/** Where a migration copies to. */
export interface MigrationTarget {
  readonly kind: 'postgres' | 'eventstoredb';
  /** Where sealed secrets go, or null when the target deployment keeps them in STORAGE_DIR/secrets.sqlite. */
  readonly secrets: SecretStore | null;
  /** The source position after which the target lacks events; refuses a target holding anything but a prefix of the source. */
  resumeAfter(source: EmbeddedSource): Promise<number>;
  write(events: readonly StoredEvent[]): Promise<void>;
  /** Reads the whole copy back, in order, and recomputes the chain over it. */
  verify(source: EmbeddedSource, batchSize: number, onProgress: (done: number) => void): Promise<ChainCheck>;
  close(): Promise<void>;
}

export interface MigrationSummary {
  sourceEvents: number;
  /** Found in the target already (an earlier, interrupted run). */
  alreadyCopied: number;
  copied: number;
  targetEvents: number;
  headPosition: number;
  headHash: string;
  secrets: { copied: number; alreadyThere: number; keptTarget: number; left: number };
  seconds: number;
}

/**
 * Copies the embedded event log to `target` in position order — ids, streams, revisions, types, data and metadata
 * (with each event's time) exactly as stored — then reads the copy back and checks its count and hash chain against
 * the source's, and copies the sealed secrets. The source is only read. Run again after an interruption, it goes on
 * after what the target already holds (a PostgreSQL batch is one transaction, so nothing is half-copied).
 */
export async function migrateEmbeddedLog(options: {
  source: EmbeddedSource;
  target: MigrationTarget;
  batchSize?: number;
  onProgress?: (progress: MigrationProgress) => void;
  /** Stops between batches (with the signal's reason): what was copied stays, a next run resumes. */
  signal?: AbortSignal;
}): Promise<MigrationSummary> {
  const { source, target, batchSize = 1_000, onProgress, signal } = options;
  const started = performance.now();
  const total = source.count();

  // The source's chain first: a log altered before the migration must not become a target that verifies.
  let checked = 0;
  let hash = GENESIS_HASH;
  let headPosition = 0;
  for (let after = 0; ;) {
    const rows = source.after(after, batchSize);
    if (rows.length === 0) break;
    for (const row of rows) {
      hash = chainHash(hash, row);
      if (row.chainHash !== hash) {
        throw new MigrationRefused(
          `The embedded log's hash chain breaks at position ${row.position} ` +
            `(${row.chainHash === null ? 'no hash stored' : 'the stored hash does not match'}; npm run audit -- verify): nothing was copied`,
        );
      }
    }
    after = headPosition = rows[rows.length - 1]!.position;
    checked += rows.length;
    onProgress?.({ phase: 'source', done: checked, total });
  }

  const resumeAfter = await target.resumeAfter(source);
  let copied = 0;
  let position = resumeAfter;
  const remaining = source.countAfter(resumeAfter);
  onProgress?.({ phase: 'copy', done: 0, total: remaining });
  for (;;) {
    signal?.throwIfAborted();
    const rows = source.after(position, batchSize) as StoredEvent[];
    if (rows.length === 0) break;
    await target.write(rows);
    copied += rows.length;
    position = rows[rows.length - 1]!.position;
    onProgress?.({ phase: 'copy', done: copied, total: remaining });
  }

  const check = await target.verify(source, batchSize, (done) => onProgress?.({ phase: 'target', done, total }));
  if (check.breakAt !== null)
    throw new Error(`The copy does not verify: its hash chain differs from the source's at position ${check.breakAt}`);
  if (check.events !== total || check.headHash !== hash) {
    throw new Error(
      `The copy does not verify: it holds ${check.events} events (the source ${total}), chain head ${check.headHash} (the source's ${hash})`,
    );
  }

  const secrets = { copied: 0, alreadyThere: 0, keptTarget: 0, left: 0 };
  const sealed = source.secrets();
  if (!target.secrets) {
    secrets.left = sealed.length;
  } else {
    for (const { purpose, subject, envelope } of sealed) {
      const there = await target.secrets.get(purpose, subject);
      if (there === null) {
        await target.secrets.put(purpose, subject, envelope);
        secrets.copied++;
      } else if (there === envelope) {
        secrets.alreadyThere++;
      } else {
        // Set on the new deployment after an earlier run: the newer one is kept.
        secrets.keptTarget++;
      }
    }
  }
  return {
    sourceEvents: total,
    alreadyCopied: total - copied,
    copied,
    targetEvents: check.events,
    headPosition,
    headHash: hash,
    secrets,
    seconds: (performance.now() - started) / 1000,
  };
}

/** PostgreSQL: the events with their positions and chain hashes as they are, the secrets into its `secrets` table. */
export class PostgresTarget implements MigrationTarget {
  readonly kind = 'postgres';

  private constructor(
    private readonly events: PostgresEventStore,
    readonly secrets: SecretStore,
  ) {}

  static async open(settings: PostgresSettings): Promise<PostgresTarget> {
    const { PostgresEventStore } = await import('../eventstore/postgres.ts');
    const { PostgresSecretStore } = await import('../secrets/postgresSecretStore.ts');
    const events = await PostgresEventStore.connect({ ...settings, poolMax: 2 });
    try {
      return new PostgresTarget(events, await PostgresSecretStore.connect(settings));
    } catch (error) {
      await events.close();
      throw error;
    }
  }

  async resumeAfter(source: EmbeddedSource): Promise<number> {
    const head = await this.events.storedHead();
    if (head.position === 0) return 0;
    if (source.hashAt(head.position) !== head.hash) {
      throw new MigrationRefused(
        `The target already holds events that are not this log's (its newest, at position ${head.position}, ` +
          "is not the embedded log's event there): migrate into an empty schema",
      );
    }
    return head.position;
  }

  write(events: readonly StoredEvent[]): Promise<void> {
    return this.events.importStored(events);
  }

  async verify(_source: EmbeddedSource, batchSize: number, onProgress: (done: number) => void): Promise<ChainCheck> {
    let events = 0;
    let hash = GENESIS_HASH;
    for (let after = 0; ;) {
      const rows = await this.events.readStored(after, batchSize);
      if (rows.length === 0) break;
      for (const row of rows) {
        hash = chainHash(hash, row);
        if (row.chainHash !== hash) return { events: events + 1, headHash: hash, breakAt: row.position };
        events++;
      }
      after = rows[rows.length - 1]!.position;
      onProgress(events);
    }
    return { events, headHash: hash, breakAt: null };
  }

  async close(): Promise<void> {
    await this.events.close();
    await this.secrets.close();
  }
}

/**
 * EventStoreDB through the port's adapter (not verified against a server here): each event appended with its id and
 * the revision before it, so a repeated run's appends are answered as already done by EventStoreDB's idempotence.
 * Its positions are its own: the copy is checked event by event against the source, and the chain is recomputed over
 * what it returns at the source's positions. Secrets stay in STORAGE_DIR/secrets.sqlite, where that deployment reads them.
 */
export class EventStoreDbTarget implements MigrationTarget {
  readonly kind = 'eventstoredb';
  readonly secrets = null;

  private constructor(private readonly events: EventStore) {}

  static async open(connectionString: string): Promise<EventStoreDbTarget> {
    const { EventStoreDbEventStore } = await import('../eventstore/eventstoredb.ts');
    return new EventStoreDbTarget(await EventStoreDbEventStore.connect(connectionString));
  }

  resumeAfter(): Promise<number> {
    return Promise.resolve(0);
  }

  async write(events: readonly StoredEvent[]): Promise<void> {
    for (const event of events) {
      await this.events.append(
        event.stream,
        [{ type: event.type, data: JSON.parse(event.data), metadata: storedMetadata.parse(JSON.parse(event.metadata)) }],
        event.revision === 0 ? 'no-stream' : event.revision - 1,
      );
    }
  }

  async verify(source: EmbeddedSource, batchSize: number, onProgress: (done: number) => void): Promise<ChainCheck> {
    let events = 0;
    let hash = GENESIS_HASH;
    let sourcePosition = 0;
    for (let after = 0; ;) {
      const page = await this.events.readAll({ after, maxCount: batchSize });
      if (page.length === 0) break;
      const originals = source.after(sourcePosition, page.length);
      for (const [index, event] of page.entries()) {
        const original = originals[index];
        events++;
        if (!original || original.eventId !== event.metadata.eventId)
          return { events, headHash: hash, breakAt: original?.position ?? sourcePosition + 1 };
        hash = chainHash(hash, {
          position: original.position,
          stream: event.stream,
          revision: event.revision,
          type: event.type,
          data: JSON.stringify(event.data),
          metadata: JSON.stringify(event.metadata),
        });
        if (hash !== original.chainHash) return { events, headHash: hash, breakAt: original.position };
        sourcePosition = original.position;
      }
      after = page[page.length - 1]!.position;
      onProgress(events);
    }
    return { events, headHash: hash, breakAt: null };
  }

  async close(): Promise<void> {
    await this.events.close();
  }
}
