import type { EventStore, RecordedEvent } from '../eventstore/port.ts';
import { inRange, scanEnd, scanStart, type Range } from './moments.ts';

/** Events read per request: a page at a time is all a scan holds. */
export const PAGE_SIZE = 1_000;

export interface ScanOptions {
  pageSize?: number;
  /** After each page: the position reached and where the scan ends. */
  onProgress?: (position: number, end: number) => void;
}

/**
 * Every event of `range`, in log order, read in pages, up to `head` (the head when the audit began: what a running
 * server appends meanwhile is left for the next run). Only reads.
 */
export async function* scanLog(
  eventStore: EventStore,
  range: Range,
  head: number,
  options: ScanOptions = {},
): AsyncGenerator<RecordedEvent> {
  const { pageSize = PAGE_SIZE, onProgress } = options;
  const end = scanEnd(range, head);
  for (let after = scanStart(range); after < end;) {
    const page = await eventStore.readAll({ after, maxCount: pageSize });
    if (page.length === 0) break;
    for (const event of page) {
      if (event.position > end) break;
      if (inRange(event, range)) yield event;
    }
    after = page[page.length - 1]!.position;
    onProgress?.(Math.min(after, end), end);
  }
}

/** Every event of one stream, in revision order, read in pages. */
export async function* readStreamInPages(eventStore: EventStore, stream: string, pageSize = PAGE_SIZE): AsyncGenerator<RecordedEvent> {
  for (let fromRevision = 0; ;) {
    const page = await eventStore.readStream(stream, { fromRevision, maxCount: pageSize });
    yield* page;
    if (page.length < pageSize) return;
    fromRevision = page[page.length - 1]!.revision + 1;
  }
}
