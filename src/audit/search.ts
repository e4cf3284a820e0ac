import { setImmediate as nextTurn } from 'node:timers/promises';
import type { EventStore, RecordedEvent } from '../eventstore/port.ts';

/**
 * Auditors' searches on the serving thread, in slices: the embedded event store reads synchronously, so a scan of
 * thousands of events in one go would hold every other user's request for its whole length. Each slice reads at most
 * SCAN_SLICE events, then gives the event loop a turn (I/O, other requests) before the next.
 */
export const SCAN_SLICE = 250;

export interface LogSearch {
  /** Scan from after this position. */
  after: number;
  /** Stop once this many events are found. */
  limit: number;
  /** Read at most this many events (the answer says where it stopped, for the next page). */
  scanLimit: number;
  keep: (event: RecordedEvent) => boolean;
}

/** Events `keep` accepts, in log order from `after`, and where to go on (null when the head was reached). */
export async function searchLog(
  eventStore: EventStore,
  { after, limit, scanLimit, keep }: LogSearch,
): Promise<{ events: RecordedEvent[]; next: number | null }> {
  const found: RecordedEvent[] = [];
  let position = after;
  const head = await eventStore.headPosition();
  while (position < head && position - after < scanLimit && found.length < limit) {
    const slice = await eventStore.readAll({ after: position, maxCount: SCAN_SLICE });
    if (slice.length === 0) break;
    for (const event of slice) {
      position = event.position;
      if (keep(event)) found.push(event);
      if (found.length >= limit) break;
    }
    await nextTurn();
  }
  return { events: found, next: position < head ? position : null };
}

/** Events of one stream an entity's timeline reads at most per request. */
export const STREAM_SCAN_LIMIT = 100_000;

/**
 * Up to `limit + 1` events of one stream after position `after` (the extra one says there is more), read in slices,
 * from the stream's start and no further than STREAM_SCAN_LIMIT events.
 */
export async function streamAfter(eventStore: EventStore, stream: string, after: number, limit: number): Promise<RecordedEvent[]> {
  const found: RecordedEvent[] = [];
  for (let fromRevision = 0; found.length <= limit && fromRevision < STREAM_SCAN_LIMIT;) {
    const slice = await eventStore.readStream(stream, { fromRevision, maxCount: SCAN_SLICE });
    for (const event of slice) if (event.position > after && found.length <= limit) found.push(event);
    if (slice.length < SCAN_SLICE) break;
    fromRevision = slice[slice.length - 1]!.revision + 1;
    await nextTurn();
  }
  return found;
}
