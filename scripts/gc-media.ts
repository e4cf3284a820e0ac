/**
 * Operator tool: expire uploads never attached and delete the bytes no live file names any more.
 *   npm run gc-media -- [--dry-run] [--grace-hours 1] [--unattached-hours 24] [--thumbnail-mib 1024]
 * Safe beside a running server (which runs the same collector every MEDIA_GC_INTERVAL_MS).
 */
import cliProgress from 'cli-progress';
import { eventUpcaster } from '../commands/upcasters.ts';
import { CommandHandler } from '../src/commandHandler.ts';
import { loadConfig } from '../src/config.ts';
import { LocalBlobStore } from '../src/media/blobStore.ts';
import { collectMedia } from '../src/media/mediaCollector.ts';
import { openEventStore, openReadStore } from '../src/stores.ts';
import { parseScriptArgs } from './lib/args.ts';

process.umask(0o077);
const { values, fail } = parseScriptArgs(
  `Usage: npm run gc-media -- [--dry-run] [--grace-hours <h>] [--unattached-hours <h>] [--thumbnail-mib <MiB>]
  --dry-run           count what would go, delete and append nothing
  --grace-hours       leave blobs and temp files younger than this (default 1)
  --unattached-hours  uploads never attached expire after this (default MEDIA_UNATTACHED_TTL_MS)
  --thumbnail-mib     thumbnails kept, least recently served evicted first (default 1024)`,
  {
    'dry-run': { type: 'boolean', default: false },
    'grace-hours': { type: 'string', default: '1' },
    'unattached-hours': { type: 'string' },
    'thumbnail-mib': { type: 'string', default: '1024' },
  },
);
const config = loadConfig();
const hours = (value: string | undefined, fallbackMs: number) => (value === undefined ? fallbackMs : Number(value) * 3_600_000);
const graceMs = hours(values['grace-hours'], 3_600_000);
const unattachedTtlMs = hours(values['unattached-hours'], config.media.unattachedTtlMs);
if (!(graceMs >= 0) || !(unattachedTtlMs >= 0)) fail('--grace-hours and --unattached-hours take a number of hours (0 or more)');
const derivedMaxBytes = Number(values['thumbnail-mib']) * 1_048_576;
if (!(derivedMaxBytes >= 0)) fail('--thumbnail-mib takes a number of MiB (0 or more)');
const [eventStore, readStore] = [await openEventStore(config), await openReadStore(config, { checkpoints: false })];
const bar = new cliProgress.SingleBar({ format: '{stage} {value} | {duration}s', hideCursor: true }, cliProgress.Presets.shades_classic);
bar.start(0, 0, { stage: 'expire' });
try {
  const summary = await collectMedia(
    { readStore, commands: new CommandHandler(eventStore, eventUpcaster), blobs: await new LocalBlobStore(config.mediaDir).init() },
    {
      now: new Date(),
      unattachedTtlMs,
      graceMs,
      derivedMaxBytes,
      dryRun: values['dry-run'],
      onProgress: (stage, done) => bar.update(done, { stage }),
    },
  );
  bar.stop();
  const verb = values['dry-run'] ? 'would' : '';
  console.log(
    `${values['dry-run'] ? 'Dry run: ' : ''}${summary.expired} unattached uploads ${verb} expire${verb ? '' : 'd'}; ` +
      `${summary.blobsDeleted} blobs (${(summary.bytesFreed / 1_048_576).toFixed(1)} MiB) ${verb} ${verb ? 'be deleted' : 'deleted'}, ${summary.blobsKept} kept; ` +
      `${summary.derivedEvicted} thumbnails ${verb ? 'would be ' : ''}evicted; ${summary.tempsDeleted} stale temp files ${verb ? 'would be ' : ''}removed.`,
  );
} finally {
  bar.stop();
  await eventStore.close();
  await readStore.close();
}
