/**
 * Operator tool: let a projector pass over one event it cannot apply, so it stops holding the read model back.
 *   npm run skip-event -- --projector conversations --position 1234 --reason "bad data, see ticket 42"
 * The skip is recorded as an event (`ProjectionEventSkipped`, audited like everything else); the running
 * server's next retry of that projector passes over the event (see GET /ping, projections.stalled).
 * The better fix is a corrected projector and `npm run rebuild-projections`; this is the way out meanwhile.
 */
import { projectionSkipDecider, projectionSkipStream } from '../commands/projectionSkips.ts';
import { eventUpcaster } from '../commands/upcasters.ts';
import { projectors } from '../projections/index.ts';
import { CommandHandler } from '../src/commandHandler.ts';
import { loadConfig } from '../src/config.ts';
import { newId } from '../src/ids.ts';
import { openEventStore } from '../src/stores.ts';
import { parseScriptArgs } from './lib/args.ts';

process.umask(0o077);
const { values, fail } = parseScriptArgs(
  `Usage: npm run skip-event -- --projector <${projectors.map((p) => p.name).join('|')}> --position <n> --reason "<why>"`,
  { projector: { type: 'string' }, position: { type: 'string' }, reason: { type: 'string' } });
const projectorName = projectors.some((projector) => projector.name === values.projector) ? values.projector! : fail('Name the projector that is held.');
const position = Number(values.position);
if (!Number.isInteger(position) || position < 1) fail('--position takes the position the projector is held at (GET /ping, projections.stalled).');
const reason = values.reason || fail('--reason is required: it is recorded with the skip.');
const eventStore = await openEventStore(loadConfig());
try {
  const [event] = await eventStore.readAll({ after: position - 1, maxCount: 1 });
  if (!event || event.position !== position) {
    console.error(`No event at position ${position}.`);
    process.exit(1);
  }
  const commandId = newId();
  const result = await new CommandHandler(eventStore, eventUpcaster).handle(projectionSkipDecider, projectionSkipStream(projectorName), {
    type: 'SkipProjectionEvent',
    data: { projector: projectorName, position, eventId: event.metadata.eventId, eventType: event.type, reason },
    metadata: { commandId, correlationId: commandId, causationId: commandId, userId: null, now: new Date().toISOString() },
  });
  console.log(result.position === null
    ? `${projectorName} already skips ${event.type} at position ${position}.`
    : `Recorded: ${projectorName} skips ${event.type} at position ${position} (event ${event.metadata.eventId}).`);
} finally {
  await eventStore.close();
}
