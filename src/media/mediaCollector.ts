import { rm } from 'node:fs/promises';
import { mediaDecider, mediaStream } from '../../commands/media.ts';
import { GROUPS, type GroupDoc } from '../../projections/groups.ts';
import { MEDIA_FILES, type MediaDoc } from '../../projections/mediaFiles.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { newId } from '../ids.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { BlobStore } from './blobStore.ts';

export interface CollectOptions {
  now: Date;
  /** Uploads never attached for this long expire. */
  unattachedTtlMs: number;
  /** Blobs and temp files younger than this are left alone: their upload may still be on its way to the log. */
  graceMs: number;
  dryRun: boolean;
  /** Thumbnails kept in all, in bytes: past it the least recently served go (DEFAULT_DERIVED_MAX_BYTES). */
  derivedMaxBytes?: number;
  /** Called as work progresses (a progress bar). */
  onProgress?: (stage: 'expire' | 'blobs' | 'temps', done: number) => void;
}

export interface CollectSummary {
  expired: number;
  blobsDeleted: number;
  bytesFreed: number;
  tempsDeleted: number;
  blobsKept: number;
  /** Thumbnails of live files evicted to stay within `derivedMaxBytes`. */
  derivedEvicted: number;
}

/** Thumbnails are a cache: 1 GiB of them in all unless told otherwise. */
export const DEFAULT_DERIVED_MAX_BYTES = 1024 ** 3;

/**
 * The media collector: uploads never attached expire (MediaExpired), then blobs that no live file names any more
 * (deleted, expired, released with their message, or orphaned by a crash between write and record) and stale temp
 * files are deleted, each only once older than the grace period; thumbnails past their byte budget are evicted, the
 * least recently served first. Safe beside a running server; `dryRun` only counts.
 */
export async function collectMedia(
  deps: { readStore: ReadStore; commands: CommandHandler; blobs: BlobStore },
  options: CollectOptions,
): Promise<CollectSummary> {
  const summary: CollectSummary = { expired: 0, blobsDeleted: 0, bytesFreed: 0, tempsDeleted: 0, blobsKept: 0, derivedEvicted: 0 };
  const media = deps.readStore.collection<MediaDoc>(MEDIA_FILES);
  const cutoff = new Date(options.now.getTime() - options.unattachedTtlMs).toISOString();
  const unattached = (await media.find({ state: 'live', purpose: 'attachment', uploadedAt: { $lt: cutoff } })).filter(
    (doc) => doc.references.length === 0,
  );
  for (const doc of unattached) {
    // A group icon is in use though no message names it.
    const icon = (await deps.readStore.collection<GroupDoc>(GROUPS).countDocuments({ iconMediaId: doc._id }, { limit: 1 })) > 0;
    if (!options.dryRun) {
      const correlationId = `gc-media:${newId()}`;
      const result = await deps.commands.handle(mediaDecider, mediaStream(doc._id), {
        type: 'ExpireMedia',
        data: { mediaId: doc._id, attached: icon, untouchedSince: cutoff },
        metadata: { commandId: newId(), correlationId, causationId: correlationId, userId: null, now: options.now.toISOString() },
      });
      if (result.position !== null) summary.expired++;
    } else if (!icon) summary.expired++;
    options.onProgress?.('expire', summary.expired);
  }

  const expiring = new Set(options.dryRun ? unattached.map((doc) => doc._id) : []);
  const live = new Set<string>();
  for (const doc of await media.find({ state: 'live' })) {
    if (expiring.has(doc._id)) continue;
    live.add(doc.sha256);
    for (const variant of Object.values(doc.variants)) live.add(variant);
  }
  const oldEnough = options.now.getTime() - options.graceMs;
  let seen = 0;
  const keptDerived: Array<{ sha256: string; path: string; size: number; modifiedAt: number }> = [];
  for await (const blob of deps.blobs.blobs()) {
    seen++;
    options.onProgress?.('blobs', seen);
    if (live.has(blob.sha256) || blob.modifiedAt > oldEnough) {
      if (blob.path !== deps.blobs.pathOf(blob.sha256)) keptDerived.push(blob);
      summary.blobsKept++;
      continue;
    }
    if (!options.dryRun) {
      if (blob.path !== deps.blobs.pathOf(blob.sha256)) {
        await deps.blobs.remove(blob.sha256, blob.path); // a thumbnail: made again if asked for
      } else if (
        (await media.countDocuments({ sha256: blob.sha256, state: 'live' }, { limit: 1 })) > 0 ||
        !(await deps.blobs.removeIfUntouched(blob.sha256, oldEnough))
      ) {
        // Checked again at the last moment: a file recorded since the pass began names these bytes, or an upload of
        // the same bytes refreshed them.
        summary.blobsKept++;
        continue;
      }
    }
    summary.blobsDeleted++;
    summary.bytesFreed += blob.size;
  }
  // Thumbnails past the budget: the least recently served first (serving one refreshes its time).
  let derivedBytes = keptDerived.reduce((sum, file) => sum + file.size, 0);
  const budget = options.derivedMaxBytes ?? DEFAULT_DERIVED_MAX_BYTES;
  for (const file of keptDerived.sort((a, b) => a.modifiedAt - b.modifiedAt)) {
    if (derivedBytes <= budget) break;
    if (!options.dryRun) await deps.blobs.remove(file.sha256, file.path);
    derivedBytes -= file.size;
    summary.derivedEvicted++;
    summary.bytesFreed += file.size;
  }
  for await (const temp of deps.blobs.temps()) {
    if (temp.modifiedAt > oldEnough) continue;
    if (!options.dryRun) await rm(temp.path, { force: true });
    summary.tempsDeleted++;
    options.onProgress?.('temps', summary.tempsDeleted);
  }
  return summary;
}
