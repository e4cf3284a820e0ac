/**
 * Operator tool: let a projector pass over one event it cannot apply, so it stops holding the read model back.
 *   npm run skip-event -- --projector conversations --position 1234 --reason "bad data, see ticket 42"
 * The skip is recorded as an event (`ProjectionEventSkipped`, audited like everything else); the running
 * server's next retry of that projector passes over the event (see GET /ping, projections.stalled).
 * Refused unless the projector is held at that position (its next event is that one), or with --force, which says
 * what the skip drops: a mistyped position would otherwise drop a real event from every later rebuild.
 * The better fix is a corrected projector and `npm run rebuild-projections`; this is the way out meanwhile.
 */
import { projectionSkipDecider, projectionSkipStream } from '../commands/projectionSkips.ts';
import { eventUpcaster } from '../commands/upcasters.ts';
import { projectors } from '../projections/index.ts';
import { CommandHandler } from '../src/commandHandler.ts';
import { loadConfig } from '../src/config.ts';
import { newId } from '../src/ids.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import { holdCheck, loadSkips } from '../src/projection/skips.ts';
import { openEventStore, openReadStore } from '../src/stores.ts';
import { parseScriptArgs } from './lib/args.ts';

process.umask(0o077);
const { values, fail } = parseScriptArgs(
  `Usage: npm run skip-event -- --projector <${projectors.map((p) => p.name).join('|')}> --position <n> --reason "<why>" [--force]
  Only where the projector is held (GET /ping, projections.stalled); --force records a skip elsewhere, saying what it drops.`,
  { projector: { type: 'string' }, position: { type: 'string' }, reason: { type: 'string' }, force: { type: 'boolean' } },
);
const projectorName = projectors.some((projector) => projector.name === values.projector)
  ? values.projector!
  : fail('Name the projector that is held.');
const position = Number(values.position);
if (!Number.isInteger(position) || position < 1)
  fail('--position takes the position the projector is held at (GET /ping, projections.stalled).');
const reason = values.reason || fail('--reason is required: it is recorded with the skip.');
const config = loadConfig();
const eventStore = await openEventStore(config);
const readStore = await openReadStore(config, { checkpoints: false });
try {
  const [event] = await eventStore.readAll({ after: position - 1, maxCount: 1 });
  if (!event || event.position !== position) {
    console.error(`No event at position ${position}.`);
    process.exit(1);
  }
  const projector = projectors.find((candidate) => candidate.name === projectorName)!;
  const alreadySkipped = (await loadSkips(eventStore, [projector])).get(projectorName)?.has(position) ?? false;
  const stand = await holdCheck(eventStore, readStore, projectorName, position);
  if (!alreadySkipped && !stand.held) {
    const where = stand.checkpoint === null ? 'it has applied nothing yet' : `it has applied up to position ${stand.checkpoint}`;
    const next = stand.next ? `, and its next event is at ${stand.next.position}` : ", the log's head";
    const notHeld = `${projectorName} is not held at position ${position}: ${where}${next}.`;
    const drops = `A skip there drops ${describe(event)} from ${projectorName} for good: from its next rebuild on, whatever that event made in it is gone.`;
    if (!values.force) {
      console.error(
        `${notHeld}\n${drops}\nCheck GET /ping (projections.stalled) for the position it is held at, or add --force to record this skip anyway.`,
      );
      process.exit(1);
    }
    console.log(`--force: ${notHeld}\n${drops}`);
  }
  const commandId = newId();
  const result = await new CommandHandler(eventStore, eventUpcaster).handle(projectionSkipDecider, projectionSkipStream(projectorName), {
    type: 'SkipProjectionEvent',
    data: { projector: projectorName, position, eventId: event.metadata.eventId, eventType: event.type, reason },
    metadata: { commandId, correlationId: commandId, causationId: commandId, userId: null, now: new Date().toISOString() },
  });
  console.log(
    result.position === null
      ? `${projectorName} already skips ${event.type} at position ${position}.`
      : `Recorded: ${projectorName} skips ${event.type} at position ${position} (event ${event.metadata.eventId}).`,
  );
} finally {
  await eventStore.close();
  await readStore.close();
}

function describe(event: RecordedEvent): string {
  return `${event.type} on ${event.stream} (event ${event.metadata.eventId}, ${event.metadata.timestamp}${event.metadata.userId ? `, by user ${event.metadata.userId}` : ''})`;
}
