import { randomUUID } from 'node:crypto';
import test from 'ava';
import { auditorDecider, AUDITORS_STREAM } from '../../commands/auditors.ts';
import { messageStream } from '../../commands/messages.ts';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { SCAN_SLICE } from '../../src/audit/search.ts';
import { CommandHandler } from '../../src/commandHandler.ts';
import type { EventStore } from '../../src/eventstore/port.ts';
import { registerUser, request, startTestApp } from '../helpers/app.ts';

/**
 * An auditor's search reads thousands of events from an event store that reads synchronously: it must not hold the
 * serving thread for its whole length. Measured in events read per turn of the event loop (not in milliseconds),
 * and by another user's request answered while the scan is still going on.
 */

const FILLER = 5_000;

/**
 * Counts the events `readAll` and `readStream` return in each turn of the event loop (a turn ends when the loop
 * gets to its check phase: setImmediate), while `record` is on.
 */
function eventsPerTurn(eventStore: EventStore) {
  const turns: number[] = [0];
  let recording = true;
  const tick = () => {
    if (!recording) return;
    turns.push(0);
    setImmediate(tick);
  };
  setImmediate(tick);
  const readAll = eventStore.readAll.bind(eventStore);
  const readStream = eventStore.readStream.bind(eventStore);
  let firstRead: (() => void) | null = null;
  const started = new Promise<void>((resolve) => {
    firstRead = resolve;
  });
  const counted = (events: Awaited<ReturnType<EventStore['readAll']>>) => {
    turns[turns.length - 1]! += events.length;
    firstRead?.();
    return events;
  };
  Object.assign(eventStore, {
    readAll: async (options?: Parameters<EventStore['readAll']>[0]) => counted(await readAll(options)),
    readStream: async (stream: string, options?: Parameters<EventStore['readStream']>[1]) => counted(await readStream(stream, options)),
  });
  return {
    started,
    stop() {
      recording = false;
      Object.assign(eventStore, { readAll, readStream });
      return Math.max(...turns);
    },
  };
}

test("an auditor's search through 5,000 events reads them in slices between which other users are served", async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const [auditor, someone] = [await registerUser(app.url), await registerUser(app.url)];
  const correlationId = `test:${randomUUID()}`;
  await new CommandHandler(app.eventStore, eventUpcaster).handle(auditorDecider, AUDITORS_STREAM, {
    type: 'GrantAuditor',
    data: { userId: auditor.user.id, userExists: true },
    metadata: { commandId: randomUUID(), correlationId, causationId: correlationId, userId: null, now: new Date().toISOString() },
  });
  // History the search has to read through: 5,000 events by nobody it looks for, the last 1,000 in one entity's
  // stream (appended 1,000 at a time, which the store commits together).
  const longEntity = randomUUID();
  for (let from = 0; from < FILLER; from += 1_000) {
    await Promise.all(
      Array.from({ length: 1_000 }, (_, offset) =>
        app.eventStore.append(
          from === FILLER - 1_000 ? messageStream(longEntity) : `filler-${offset % 100}`,
          [
            {
              type: 'AuditScanFiller',
              data: { padding: 'x'.repeat(200) },
              metadata: {
                eventId: randomUUID(),
                correlationId: 'filler',
                causationId: 'filler',
                userId: null,
                timestamp: new Date().toISOString(),
              },
            },
          ],
          'any',
        ),
      ),
    );
  }
  await app.projections.waitFor(await app.eventStore.headPosition());

  const measure = eventsPerTurn(app.eventStore);
  const finished: string[] = [];
  const search = request(app.url, 'GET', `/api/audit/actors/${someone.user.id}?limit=500`, { token: auditor.accessToken }).then(
    (answer) => {
      finished.push('search');
      return answer;
    },
  );
  await measure.started;
  const other = request(app.url, 'GET', '/api/conversations', { token: someone.accessToken }).then((answer) => {
    finished.push('other user');
    return answer;
  });
  const [searched, served] = await Promise.all([search, other]);
  const mostInOneTurn = measure.stop();

  t.is(searched.status, 200);
  t.deepEqual(searched.body.events, []);
  t.true(searched.body.next === null, `stopped at ${searched.body.next} (the head)`);
  t.is(served.status, 200);
  t.log(`most events read in one turn of the event loop: ${mostInOneTurn}`);
  t.true(mostInOneTurn <= SCAN_SLICE, `read ${mostInOneTurn} events in one turn`);
  t.deepEqual(finished, ['other user', 'search'], 'the other user is answered while the search goes on');

  // An entity's timeline is read in slices too: a stream of 1,000 events, paged from a position.
  const timelineMeasure = eventsPerTurn(app.eventStore);
  const timeline = await request(app.url, 'GET', `/api/audit/entities/message/${longEntity}?limit=500`, { token: auditor.accessToken });
  t.is(timeline.status, 200);
  t.is(timeline.body.events.length, 500);
  const rest = await request(app.url, 'GET', `/api/audit/entities/message/${longEntity}?limit=500&after=${timeline.body.next}`, {
    token: auditor.accessToken,
  });
  t.is(rest.body.events.length, 500);
  t.is(rest.body.next, null);
  t.is(rest.body.events[0].position, timeline.body.events[499].position + 1);
  const mostForTimeline = timelineMeasure.stop();
  t.true(mostForTimeline <= SCAN_SLICE, `read ${mostForTimeline} events in one turn`);
});
