import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventUpcaster } from '../../commands/shared/upcasting.ts';
import type { EventStore } from '../eventstore/port.ts';
import type { Projector } from '../projection/projector.ts';
import { rebuildProjections, type RebuildSummary } from '../projection/rebuild.ts';
import type { ReadStore } from '../readstore/port.ts';
import { SqliteReadStore } from '../readstore/sqlite.ts';
import { atOrBefore, type Moment } from './moments.ts';
import { scanLog, type ScanOptions } from './scan.ts';

/** Where the replay for a moment stops: the last event at or before it (position 0: before any event). */
export interface ResolvedMoment {
  position: number;
  /** That event's time; null when no event sits exactly at the position asked for. */
  time: string | null;
}

/**
 * A position stands for itself (capped at the head). A time stands for the last event, in log order, whose
 * command was accepted at or before it: found by scanning the log to the head in pages.
 */
export async function resolveMoment(
  eventStore: EventStore,
  moment: Moment,
  head: number,
  options: ScanOptions = {},
): Promise<ResolvedMoment> {
  if (moment.kind === 'position') {
    const position = Math.min(moment.position, head);
    const [event] = position > 0 ? await eventStore.readAll({ after: position - 1, maxCount: 1 }) : [];
    return { position, time: event?.position === position ? event.metadata.timestamp : null };
  }
  let found: ResolvedMoment = { position: 0, time: null };
  for await (const event of scanLog(eventStore, {}, head, options)) {
    if (atOrBefore(event, moment)) found = { position: event.position, time: event.metadata.timestamp };
  }
  return found;
}

/** Every collection some projector writes, for usage messages. */
export const collectionsOf = (projectors: readonly Projector[]): string[] =>
  projectors.flatMap((projector) => Object.keys(projector.collections));

export interface ReadModelAtOptions {
  eventStore: EventStore;
  upcaster: EventUpcaster;
  /** Every projector: the one writing `collection` is replayed with those it reads from. */
  projectors: readonly Projector[];
  collection: string;
  /** Replay up to and including this position. */
  upTo: number;
  onProgress?: (position: number, head: number) => void;
}

/**
 * Replays the projector writing `collection` (with its dependencies) from the start of the log up to `upTo` into
 * a temporary SQLite read store, hands that store to `use`, then deletes it, also on Ctrl-C. The live read store
 * is never touched; the rebuild reads the log in batches, so memory stays bounded whatever the log's length.
 */
export async function withReadModelAt<R>(
  options: ReadModelAtOptions,
  use: (readStore: ReadStore, summary: RebuildSummary) => Promise<R>,
): Promise<R> {
  const owner = options.projectors.find((projector) => options.collection in projector.collections);
  if (!owner) throw new Error(`No projector writes ${options.collection}`);
  const dir = mkdtempSync(join(tmpdir(), 'letsapp-audit-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  const onSignal = () => {
    removeDir();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let readStore: SqliteReadStore | null = null;
  try {
    readStore = new SqliteReadStore(join(dir, 'read.sqlite'));
    const summary = await rebuildProjections({
      eventStore: options.eventStore,
      readStore,
      projectors: [owner],
      all: options.projectors,
      upcaster: options.upcaster,
      upTo: options.upTo,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return await use(readStore, summary);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await readStore?.close();
    removeDir();
  }
}
