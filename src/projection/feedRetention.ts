import { FEED, FEED_HORIZON, type FeedEntry, type FeedHorizon } from '../../projections/feed.ts';
import type { ReadStore } from '../readstore/port.ts';

export interface PruneSummary {
  /** Entries at or below this position are gone; a `sync` from before it gets `sync.reset`. */
  horizon: number;
  removed: number;
}

/**
 * Drops feed entries of events older than `cutoff`. The event log keeps everything: this only bounds how far
 * back a client can resume with `sync`; older positions get a fresh snapshot instead.
 */
export async function pruneFeed(readStore: ReadStore, cutoff: Date, pageSize = 5_000): Promise<PruneSummary> {
  const feed = readStore.collection<FeedEntry>(FEED);
  const horizons = readStore.collection<FeedHorizon>(FEED_HORIZON);
  let horizon = (await horizons.findOne({ _id: FEED }))?.position ?? 0;
  const until = cutoff.toISOString();
  // Walk forward by position while entries are older than the cutoff; positions and times rise together.
  for (;;) {
    const page = await feed.find({ position: { $gt: horizon } }, { sort: { position: 1 }, limit: pageSize });
    const old = page.filter((entry) => entry.at < until);
    if (old.length === 0) break;
    horizon = old[old.length - 1]!.position;
    if (old.length < page.length) break;
  }
  // The horizon is recorded first: a sync racing the deletion answers with a reset, never with a gap.
  await horizons.replaceOne({ _id: FEED }, { _id: FEED, position: horizon }, { upsert: true });
  // Deleted in slices, each its own short transaction, so the server's projection never waits long for the lock.
  let removed = 0;
  for (;;) {
    const ids = (await feed.find({ position: { $lte: horizon } }, { sort: { position: 1 }, limit: pageSize })).map((entry) => entry._id);
    if (ids.length === 0) break;
    removed += await feed.deleteMany({ _id: { $in: ids } });
  }
  return { horizon, removed };
}
