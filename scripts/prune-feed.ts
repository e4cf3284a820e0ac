/**
 * Operator tool: bound the `feed` collection (the per-user replay behind socket `sync`).
 *   npm run prune-feed -- --days 30
 * Entries of events older than that are removed; a client resuming from before them gets `sync.reset`.
 */
import { loadConfig } from '../src/config.ts';
import { pruneFeed } from '../src/projection/feedRetention.ts';
import { openReadStore } from '../src/stores.ts';
import { parseScriptArgs } from './lib/args.ts';

// Whatever this script creates in the storage dir is the server user's alone, as for the server.
process.umask(0o077);
const { values, fail } = parseScriptArgs('Usage: npm run prune-feed -- [--days <n>]   feed entries older than n days go (default 30)', {
  days: { type: 'string', default: '30' },
});
const days = Number(values.days);
if (!Number.isFinite(days) || days < 0) fail('--days takes a number of days (0 or more)');
const readStore = await openReadStore(loadConfig());
try {
  const { horizon, removed } = await pruneFeed(readStore, new Date(Date.now() - days * 86_400_000));
  console.log(`Removed ${removed} feed entries older than ${days} days; sync resumes from position ${horizon} or later.`);
} finally {
  await readStore.close();
}
