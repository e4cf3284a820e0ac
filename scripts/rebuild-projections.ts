/**
 * Operator tool: rebuild read collections from the whole event history while the server keeps serving.
 *   npm run rebuild-projections                 # every projector
 *   npm run rebuild-projections -- --only users # one (repeat --only for several)
 *   npm run rebuild-projections -- --batch-size 10000  # events per transaction: faster, holds more in memory
 */
import cliProgress from 'cli-progress';
import { eventUpcaster } from '../commands/upcasters.ts';
import { projectors } from '../projections/index.ts';
import { loadConfig } from '../src/config.ts';
import { DEFAULT_REBUILD_BATCH, rebuildProjections } from '../src/projection/rebuild.ts';
import { openEventStore, openReadStore } from '../src/stores.ts';
import { openKeysForTools } from '../src/privacy/auditorKeys.ts';
import { revealingProjectors } from '../src/privacy/revealingProjectors.ts';
import { parseScriptArgs } from './lib/args.ts';

// Whatever this script creates in the storage dir is the server user's alone, as for the server.
process.umask(0o077);
const { values, fail } = parseScriptArgs(
  `Usage: npm run rebuild-projections -- [--only <projector>]... [--batch-size <events>]
  --only        rebuild this projector (and what it reads); repeat for several; default: every one
                (${projectors.map((p) => p.name).join(', ')})
  --batch-size  events per transaction (default ${DEFAULT_REBUILD_BATCH})`,
  { only: { type: 'string', multiple: true }, 'batch-size': { type: 'string', default: String(DEFAULT_REBUILD_BATCH) } },
);
const only = values.only ?? [];
const batchSize = Number(values['batch-size']);
if (!Number.isInteger(batchSize) || batchSize < 1)
  fail(`--batch-size takes a positive whole number of events, not ${values['batch-size']}`);
const unknown = only.filter((name) => !projectors.some((projector) => projector.name === name));
if (unknown.length > 0) fail(`Unknown projector(s): ${unknown.join(', ')}. Known: ${projectors.map((p) => p.name).join(', ')}`);
const selected = only.length > 0 ? projectors.filter((projector) => only.includes(projector.name)) : projectors;

const config = loadConfig();
const eventStore = await openEventStore(config);
const readStore = await openReadStore(config);
// Sealed texts are opened with their content keys (read-only): a rebuild without them would show every text `[erased]`.
const contentKeys = await openKeysForTools(config);
const bar = new cliProgress.SingleBar(
  {
    format: 'rebuilding [{bar}] {percentage}% | position {value}/{total} | {eta_formatted} left',
  },
  cliProgress.Presets.shades_classic,
);
bar.start(Math.max(1, await eventStore.headPosition()), 0);
try {
  const summary = await rebuildProjections({
    eventStore,
    readStore,
    projectors: revealingProjectors(selected, contentKeys.keys),
    all: revealingProjectors(projectors, contentKeys.keys),
    upcaster: eventUpcaster,
    batchSize,
    onProgress: (position, head) => bar.update(Math.min(position, head)),
  });
  bar.update(bar.getTotal());
  bar.stop();
  console.log(
    `Rebuilt ${summary.projectors.join(', ')}: ${summary.events} events in ${summary.seconds.toFixed(2)} s ` +
      `(${summary.eventsPerSecond} events/s), up to position ${summary.position}.`,
  );
} finally {
  bar.stop();
  await eventStore.close();
  await readStore.close();
  await contentKeys.close();
}
