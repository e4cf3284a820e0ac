import test from 'ava';
import {
  AccessDeniedError,
  CancelledError,
  DeadlineExceededError,
  NotLeaderError,
  StreamDeletedError,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError as EventStoreUnavailableError,
  WrongExpectedVersionError,
  type AllStreamResolvedEvent,
  type AppendResult as ClientAppendResult,
  type Position,
  type ReadPosition,
} from '@eventstore/db-client';
import { ConcurrencyError, UnavailableError, ValidationError } from '../../commands/shared/errors.ts';
import {
  EventStoreDbEventStore,
  PAGE_SIZE,
  comparePositions,
  fromEventStoreError,
  fromPosition,
  type EventStoreDbClient,
} from '../../src/eventstore/eventstoredb.ts';
import type { NewEvent } from '../../src/eventstore/port.ts';
import { join } from 'node:path';
import { pino } from 'pino';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { projectionSkipStream } from '../../commands/projectionSkips.ts';
import type { Projector } from '../../src/projection/projector.ts';
import { CHECKPOINTS, ProjectionRunner } from '../../src/projection/runner.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { tempDir } from '../helpers/app.ts';

/** The metadata the adapter appends with every event (and checks on the way back). */
const metadataOf = (eventId: string) => ({
  eventId,
  correlationId: 'c',
  causationId: 'c',
  userId: null,
  timestamp: '2026-01-01T00:00:00.000Z',
});

/**
 * A stand-in for the EventStoreDB client over an in-memory $all, read in pages as the server does: forwards
 * from a position includes the record at it, backwards from a position includes it too (`inclusive: false`
 * checks the adapter against the opposite reading as well). Records whose type starts with `$` are system
 * events; positions are { commit, prepare }.
 */
interface LogRecord {
  stream: string;
  type: string;
  position: Position;
  isJson: boolean;
  revision: number;
}

function fakeClient(log: readonly LogRecord[], inclusive = true) {
  if (log.some((record, i) => i > 0 && comparePositions(log[i - 1]!.position, record.position) >= 0))
    throw new Error('the fake log must be in position order');
  const requests: Array<{ direction: string; from: ReadPosition; maxCount: number }> = [];
  const resolvedOf = (record: LogRecord): AllStreamResolvedEvent => ({
    event: {
      streamId: record.stream,
      id: `id-${record.position.commit}`,
      revision: BigInt(record.revision),
      type: record.type,
      data: {},
      metadata: metadataOf(`id-${record.position.commit}`),
      isJson: record.isJson as true,
      created: new Date(0),
      position: record.position,
    },
    commitPosition: record.position.commit,
  });
  const client = {
    readAll({
      direction = 'forwards',
      fromPosition = 'start',
      maxCount = Number.MAX_SAFE_INTEGER,
    }: { direction?: string; fromPosition?: ReadPosition; maxCount?: number | bigint } = {}) {
      const count = Number(maxCount);
      requests.push({ direction, from: fromPosition, maxCount: count });
      let selected: LogRecord[];
      if (direction === 'forwards') {
        selected =
          fromPosition === 'start'
            ? [...log]
            : log.filter((r) => {
                const order = comparePositions(r.position, fromPosition as Position);
                return inclusive ? order >= 0 : order > 0;
              });
      } else {
        selected = (
          fromPosition === 'end'
            ? [...log]
            : log.filter((r) => {
                const order = comparePositions(r.position, fromPosition as Position);
                return inclusive ? order <= 0 : order < 0;
              })
        ).reverse();
      }
      const page = selected.slice(0, count).map(resolvedOf);
      return (async function* () {
        yield* page;
      })();
    },
    readStream: () =>
      (async function* () {
        /* empty */
      })(),
    appendToStream: async (): Promise<ClientAppendResult> => {
      throw new Error('not scripted');
    },
    subscribeToAll: () => {
      throw new Error('not used');
    },
    dispose: async () => undefined,
  };
  // eslint-disable-next-line no-restricted-syntax -- a fake of the few EventStoreDB client methods the adapter calls, not the whole client.
  return { store: EventStoreDbEventStore.over(client as unknown as EventStoreDbClient), requests, client };
}

let nextPosition = 100n;
const at = (type: string, stream = 'chat-1', isJson = true): LogRecord => {
  nextPosition += 97n;
  return { stream, type, position: { commit: nextPosition, prepare: nextPosition }, isJson, revision: 0 };
};
const system = (count: number): LogRecord[] => Array.from({ length: count }, () => at('$statistics-collected', '$stats-node'));

const newEvent = (id: string): NewEvent => ({
  type: 'MessageSent',
  data: { text: 'hi' },
  metadata: { eventId: id, correlationId: id, causationId: id, userId: 'u1', timestamp: '2026-01-01T00:00:00.000Z' },
});

for (const inclusive of [true, false]) {
  const reading = inclusive ? 'reads from a position include it' : 'reads from a position exclude it';

  test(`readAll (${reading}) reads past more than a page of system events instead of taking it for the end`, async (t) => {
    const first = at('MessageSent');
    const quiet = system(PAGE_SIZE * 2 + 5);
    const rest = [at('MessageSent'), at('MessageRead')];
    const { store, requests } = fakeClient([first, ...quiet, ...rest, ...system(3)], inclusive);
    const events = await store.readAll({ after: Number(first.position.commit), maxCount: 10 });
    t.deepEqual(
      events.map((e) => e.position),
      rest.map((r) => Number(r.position.commit)),
    );
    t.true(requests.length >= 3, 'it asked for further pages');
  });

  test(`readAll (${reading}) is exclusive of after, in log order, and stops at maxCount`, async (t) => {
    const log: LogRecord[] = [];
    const user = () => {
      const record = at('MessageSent');
      log.push(record);
      return record;
    };
    const users = [user()];
    log.push(...system(3));
    users.push(user(), user());
    log.push(...system(2));
    users.push(user(), user(), user(), user());
    const { store } = fakeClient(log, inclusive);
    const positions = users.map((u) => Number(u.position.commit));
    t.deepEqual(
      (await store.readAll({ after: positions[1]!, maxCount: 3 })).map((e) => e.position),
      positions.slice(2, 5),
    );
    t.deepEqual(
      (await store.readAll({})).map((e) => e.position),
      positions,
    );
    t.deepEqual(await store.readAll({ after: positions[6]! }), [], 'nothing after the newest event');
  });

  test(`headPosition (${reading}) scans back past pages of system events to the newest user event`, async (t) => {
    const older = at('MessageSent');
    const newest = at('MessageSent');
    const { store, requests } = fakeClient([older, newest, at('Binary', 'chat-1', false), ...system(PAGE_SIZE * 2 + 1)], inclusive);
    t.is(await store.headPosition(), Number(newest.position.commit));
    t.true(requests.every((r) => r.direction === 'backwards'));
    t.true(requests.length >= 3, 'it asked for further pages');
  });
}

test('headPosition finds the oldest event behind three pages of system events, and is 0 when there is no user event', async (t) => {
  const only = at('GroupCreated');
  t.is(await fakeClient([only, ...system(PAGE_SIZE * 3)]).store.headPosition(), Number(only.position.commit));
  const { store, requests } = fakeClient(system(PAGE_SIZE * 3));
  t.is(await store.headPosition(), 0);
  t.true(requests.length >= 3, 'it scanned the whole log before answering 0');
});

test('the port position after an event is EventStoreDB position with equal commit and prepare, and 0 is the start', (t) => {
  t.is(fromPosition(0), 'start');
  t.deepEqual(fromPosition(4242), { commit: 4242n, prepare: 4242n });
});

test('an append of several events is refused before anything reaches EventStoreDB', async (t) => {
  const { store, client } = fakeClient([]);
  let calls = 0;
  client.appendToStream = async () => {
    calls++;
    throw new Error('reached the client');
  };
  const several = await t.throwsAsync(store.append('chat-1', [newEvent('a'), newEvent('b')], 'any'));
  t.regex(several.message, /exactly one event, got 2/);
  const none = await t.throwsAsync(store.append('chat-1', [], 'any'));
  t.regex(none.message, /exactly one event, got 0/);
  t.is(calls, 0);
});

test('an append answered success:false is a ConcurrencyError with the actual revision', async (t) => {
  const { store, client } = fakeClient([]);
  client.appendToStream = async () => ({ success: false, nextExpectedRevision: 4n, position: undefined });
  const stale = await t.throwsAsync(store.append('chat-1', [newEvent('a')], 2), { instanceOf: ConcurrencyError });
  t.like(stale.details, { stream: 'chat-1', expected: 2, actual: 4 });
  client.appendToStream = async () => ({ success: false, nextExpectedRevision: -1n, position: undefined });
  const missing = await t.throwsAsync(store.append('chat-1', [newEvent('a')], 0), { instanceOf: ConcurrencyError });
  t.like(missing.details, { actual: 'no-stream' });
});

test('an accepted append reports the revision and the commit position; one without a position is looked up', async (t) => {
  const { store, client } = fakeClient([]);
  client.appendToStream = async () => ({ success: true, nextExpectedRevision: 3n, position: { commit: 500n, prepare: 500n } });
  t.deepEqual(await store.append('chat-1', [newEvent('a')], 2), { revision: 3, position: 500 });
  client.appendToStream = async () => ({ success: true, nextExpectedRevision: 3n, position: undefined });
  client.readStream = (() =>
    (async function* () {
      yield { event: { position: { commit: 777n, prepare: 777n } } };
    })()) as never;
  t.deepEqual(await store.append('chat-1', [newEvent('a')], 2), { revision: 3, position: 777 });
});

test('a WrongExpectedVersionError from the client is a ConcurrencyError', async (t) => {
  const { store, client } = fakeClient([]);
  client.appendToStream = async () => {
    throw new WrongExpectedVersionError(undefined, { streamName: 'chat-1', expected: 0n, current: 2n });
  };
  const error = await t.throwsAsync(store.append('chat-1', [newEvent('a')], 0), { instanceOf: ConcurrencyError });
  t.like(error.details, { stream: 'chat-1', expected: 0, actual: 2 });
});

const serviceError = (code: number, details: string) =>
  Object.assign(new Error(`${code} ${details}`), {
    code,
    details,
    metadata: { getMap: () => ({ 'leader-endpoint-host': 'node-2', 'leader-endpoint-port': '2113' }) },
  });

test('outages, timeouts, a lost leader and a deleted stream map to UnavailableError (503) keeping the cause', (t) => {
  const failures: Error[] = [
    new EventStoreUnavailableError(),
    new DeadlineExceededError(),
    new CancelledError(),
    new TimeoutError(),
    new NotLeaderError(serviceError(14, 'not leader') as never),
    StreamDeletedError.fromStreamName('chat-1'),
    new Error('Failed to discover after 10 attempts.'),
    serviceError(14, 'No connection established'),
    serviceError(4, 'Deadline exceeded'),
  ];
  for (const failure of failures) {
    const mapped = fromEventStoreError(failure, 'chat-1');
    t.true(mapped instanceof UnavailableError, `${failure.constructor.name}: ${failure.message}`);
    t.like(mapped, { status: 503, code: 'unavailable', cause: failure });
  }
});

test('the mapping leaves other failures as they are and turns a wrong expected version into a ConcurrencyError', (t) => {
  const denied = new AccessDeniedError();
  const other = new Error('boom');
  const validation = new ValidationError('bad');
  t.is(fromEventStoreError(denied, 's'), denied);
  t.is(fromEventStoreError(other, 's'), other);
  t.is(fromEventStoreError(validation, 's'), validation);
  t.is(fromEventStoreError(Object.assign(new Error('x'), { code: 'ECONNRESET' }), 's') instanceof UnavailableError, false);
  const conflict = fromEventStoreError(
    new WrongExpectedVersionError(undefined, { streamName: 's', expected: 'no_stream', current: 0n }),
    's',
    'no-stream',
  );
  t.true(conflict instanceof ConcurrencyError);
  t.like(conflict, { details: { stream: 's', expected: 'no-stream', actual: 0 } });
});

test('every operation reports an unreachable server as UnavailableError; a missing stream reads as empty', async (t) => {
  const { store, client } = fakeClient([]);
  const down = () =>
    // eslint-disable-next-line require-yield -- a read that fails before its first event
    (async function* () {
      throw new EventStoreUnavailableError();
    })();
  client.readAll = down;
  client.readStream = down;
  client.appendToStream = async () => {
    throw new DeadlineExceededError();
  };
  await t.throwsAsync(store.readAll({ after: 0, maxCount: 10 }), { instanceOf: UnavailableError });
  await t.throwsAsync(store.headPosition(), { instanceOf: UnavailableError });
  await t.throwsAsync(store.readStream('chat-1'), { instanceOf: UnavailableError });
  await t.throwsAsync(store.append('chat-1', [newEvent('a')], 'any'), { instanceOf: UnavailableError });
  client.readStream = () =>
    // eslint-disable-next-line require-yield -- a read of a stream that does not exist fails before its first event
    (async function* () {
      throw new StreamNotFoundError(undefined, 'chat-1');
    })();
  t.deepEqual(await store.readStream('chat-1'), []);
});

test("headPosition asks for the newest records only, not a page of $all, when the newest is one of the port's events", async (t) => {
  const older = [...system(3), at('MessageSent')];
  const newest = at('MessageSent');
  const { store, requests } = fakeClient([...older, newest]);
  t.is(await store.headPosition(), Number(newest.position.commit));
  t.is(requests.length, 1);
  t.true(requests[0]!.maxCount <= 2, `asked for ${requests[0]!.maxCount} records`);
});

/**
 * A client over a log that grows: reads and subscriptions from a position that is no record's fail, as a read of
 * $all from a position that names no event does on the server; a subscription waits for records appended later.
 */
interface LiveRecord {
  stream: string;
  type: string;
  data: unknown;
  position: Position;
}
function liveClient(records: LiveRecord[]) {
  let wake = () => undefined as void;
  const grown = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
    });
  const resolvedOf = (record: LiveRecord): AllStreamResolvedEvent => ({
    event: {
      streamId: record.stream,
      id: `id-${record.position.commit}`,
      type: record.type,
      data: record.data as never,
      isJson: true,
      revision: BigInt(records.filter((r) => r.stream === record.stream).indexOf(record)),
      created: new Date(0),
      position: record.position,
      metadata: metadataOf(`id-${record.position.commit}`),
    },
    commitPosition: record.position.commit,
  });
  const startIndex = (from: ReadPosition | undefined) => {
    if (from === undefined || from === 'start') return 0;
    const index = records.findIndex((r) => comparePositions(r.position, from as Position) === 0);
    if (index < 0) throw new Error(`Invalid position: no record at ${String((from as Position).commit)}`);
    return index;
  };
  const client = {
    readAll({
      direction = 'forwards',
      fromPosition,
      maxCount = Number.MAX_SAFE_INTEGER,
    }: { direction?: string; fromPosition?: ReadPosition; maxCount?: number | bigint } = {}) {
      const selected =
        direction === 'forwards'
          ? records.slice(startIndex(fromPosition))
          : records.slice(0, fromPosition === 'end' ? records.length : startIndex(fromPosition) + 1).reverse();
      return (async function* () {
        yield* selected.slice(0, Number(maxCount)).map(resolvedOf);
      })();
    },
    readStream: (stream: string) =>
      (async function* () {
        yield* records.filter((r) => r.stream === stream).map(resolvedOf);
      })(),
    subscribeToAll({ fromPosition }: { fromPosition?: ReadPosition } = {}) {
      let stopped = false;
      const events = (async function* () {
        for (let next = startIndex(fromPosition); !stopped;) {
          if (next < records.length) yield resolvedOf(records[next++]!);
          else await Promise.race([grown(), new Promise((resolve) => setTimeout(resolve, 20))]);
        }
      })();
      return Object.assign(events, {
        unsubscribe: async () => {
          stopped = true;
          wake();
        },
      });
    },
    appendToStream: async (): Promise<ClientAppendResult> => {
      throw new Error('not scripted');
    },
    dispose: async () => undefined,
  };
  return {
    // eslint-disable-next-line no-restricted-syntax -- a fake of the few EventStoreDB client methods the adapter calls, not the whole client.
    store: EventStoreDbEventStore.over(client as unknown as EventStoreDbClient),
    append(stream: string, type: string, data: unknown): LiveRecord {
      const record = { stream, type, data, position: at(type).position };
      records.push(record);
      wake();
      return record;
    },
  };
}

const until = async (condition: () => Promise<boolean>, what: string) => {
  for (let i = 0; i < 300; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting until ${what}`);
};

test("a projector held on EventStoreDB keeps a checkpoint that is an event's position, and catches up after skip-event", async (t) => {
  const log = liveClient([]);
  const picky: Projector = {
    name: 'picky',
    collections: { picky: [] },
    handles: new Set(['NoteWritten']),
    async apply(event, context) {
      const { author } = event.data as { author: string };
      if (author === 'poison') throw new Error('cannot digest poison');
      await context.project<{ _id: string; _position: number; authors: string[] }>('picky', 'all', event, (doc) => ({
        _id: 'all',
        authors: [...(doc?.authors ?? []), author],
      }));
    },
  };
  const read = new SqliteReadStore(join(tempDir(), 'read.sqlite'));
  const runner = new ProjectionRunner(log.store, read, [picky], eventUpcaster, pino({ level: 'silent' }), {
    retryBaseMs: 20,
    maxRetryMs: 50,
  });
  await runner.start();
  t.teardown(async () => {
    await runner.stop();
    await read.close();
  });
  const first = log.append('notes-1', 'NoteWritten', { author: 'a' });
  const poison = log.append('notes-1', 'NoteWritten', { author: 'poison' });
  log.append('notes-1', 'NoteWritten', { author: 'b' });
  await until(async () => (await runner.status()).stalled.length === 1, 'picky is held');
  const checkpoint = await read.collection(CHECKPOINTS).findOne({ _id: 'picky' });
  t.is(checkpoint?.position, Number(first.position.commit), 'held at the last event it applied, a position $all has');

  // The operator records a skip (npm run skip-event): the next retry reads on from the checkpoint and passes over it.
  log.append(projectionSkipStream('picky'), 'ProjectionEventSkipped', {
    projector: 'picky',
    position: Number(poison.position.commit),
    eventId: `id-${poison.position.commit}`,
    eventType: 'NoteWritten',
    reason: 'test',
    skippedAt: '2026-01-01T00:00:00.000Z',
  });
  await until(async () => (await runner.status()).stalled.length === 0, 'picky caught up');
  t.like(await read.collection('picky').findOne({ _id: 'all' }), { authors: ['a', 'b'] });
});
