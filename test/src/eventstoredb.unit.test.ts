import test from 'ava';
import {
  AccessDeniedError, CancelledError, DeadlineExceededError, NotLeaderError, StreamDeletedError, StreamNotFoundError, TimeoutError,
  UnavailableError as EventStoreUnavailableError, WrongExpectedVersionError,
  type AllStreamResolvedEvent, type AppendResult as ClientAppendResult, type Position, type ReadPosition,
} from '@eventstore/db-client';
import { ConcurrencyError, UnavailableError, ValidationError } from '../../commands/shared/errors.ts';
import {
  EventStoreDbEventStore, PAGE_SIZE, comparePositions, fromEventStoreError, fromPosition, type EventStoreDbClient,
} from '../../src/eventstore/eventstoredb.ts';
import type { NewEvent } from '../../src/eventstore/port.ts';

/**
 * A stand-in for the EventStoreDB client over an in-memory $all, read in pages as the server does: forwards
 * from a position includes the record at it, backwards from a position includes it too (`inclusive: false`
 * checks the adapter against the opposite reading as well). Records whose type starts with `$` are system
 * events; positions are { commit, prepare }.
 */
interface LogRecord { stream: string; type: string; position: Position; isJson: boolean; revision: number }

function fakeClient(log: readonly LogRecord[], inclusive = true) {
  if (log.some((record, i) => i > 0 && comparePositions(log[i - 1]!.position, record.position) >= 0)) throw new Error('the fake log must be in position order');
  const requests: Array<{ direction: string; from: ReadPosition; maxCount: number }> = [];
  const resolvedOf = (record: LogRecord): AllStreamResolvedEvent => ({
    event: {
      streamId: record.stream, id: `id-${record.position.commit}`, revision: BigInt(record.revision), type: record.type,
      data: {}, metadata: { eventId: `id-${record.position.commit}` }, isJson: record.isJson as true, created: new Date(0),
      position: record.position,
    } as AllStreamResolvedEvent['event'],
    commitPosition: record.position.commit,
  });
  const client = {
    readAll({ direction = 'forwards', fromPosition = 'start', maxCount = Number.MAX_SAFE_INTEGER }: { direction?: string; fromPosition?: ReadPosition; maxCount?: number | bigint } = {}) {
      const count = Number(maxCount);
      requests.push({ direction, from: fromPosition, maxCount: count });
      let selected: LogRecord[];
      if (direction === 'forwards') {
        selected = fromPosition === 'start' ? [...log] : log.filter((r) => {
          const order = comparePositions(r.position, fromPosition as Position);
          return inclusive ? order >= 0 : order > 0;
        });
      } else {
        selected = (fromPosition === 'end' ? [...log] : log.filter((r) => {
          const order = comparePositions(r.position, fromPosition as Position);
          return inclusive ? order <= 0 : order < 0;
        })).reverse();
      }
      const page = selected.slice(0, count).map(resolvedOf);
      return (async function* () { yield* page; })();
    },
    readStream: () => (async function* () { /* empty */ })(),
    appendToStream: async (): Promise<ClientAppendResult> => { throw new Error('not scripted'); },
    subscribeToAll: () => { throw new Error('not used'); },
    dispose: async () => undefined,
  };
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
    t.deepEqual(events.map((e) => e.position), rest.map((r) => Number(r.position.commit)));
    t.true(requests.length >= 3, 'it asked for further pages');
  });

  test(`readAll (${reading}) is exclusive of after, in log order, and stops at maxCount`, async (t) => {
    const log: LogRecord[] = [];
    const user = () => { const record = at('MessageSent'); log.push(record); return record; };
    const users = [user()];
    log.push(...system(3));
    users.push(user(), user());
    log.push(...system(2));
    users.push(user(), user(), user(), user());
    const { store } = fakeClient(log, inclusive);
    const positions = users.map((u) => Number(u.position.commit));
    t.deepEqual((await store.readAll({ after: positions[1]!, maxCount: 3 })).map((e) => e.position), positions.slice(2, 5));
    t.deepEqual((await store.readAll({})).map((e) => e.position), positions);
    t.deepEqual((await store.readAll({ after: positions[6]! })), [], 'nothing after the newest event');
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
  client.appendToStream = async () => { calls++; throw new Error('reached the client'); };
  const several = await t.throwsAsync(store.append('chat-1', [newEvent('a'), newEvent('b')], 'any'));
  t.regex(several!.message, /exactly one event, got 2/);
  const none = await t.throwsAsync(store.append('chat-1', [], 'any'));
  t.regex(none!.message, /exactly one event, got 0/);
  t.is(calls, 0);
});

test('an append answered success:false is a ConcurrencyError with the actual revision', async (t) => {
  const { store, client } = fakeClient([]);
  client.appendToStream = async () => ({ success: false, nextExpectedRevision: 4n, position: undefined });
  const stale = await t.throwsAsync(store.append('chat-1', [newEvent('a')], 2), { instanceOf: ConcurrencyError });
  t.like(stale!.details, { stream: 'chat-1', expected: 2, actual: 4 });
  client.appendToStream = async () => ({ success: false, nextExpectedRevision: -1n, position: undefined });
  const missing = await t.throwsAsync(store.append('chat-1', [newEvent('a')], 0), { instanceOf: ConcurrencyError });
  t.like(missing!.details, { actual: 'no-stream' });
});

test('an accepted append reports the revision and the commit position; one without a position is looked up', async (t) => {
  const { store, client } = fakeClient([]);
  client.appendToStream = async () => ({ success: true, nextExpectedRevision: 3n, position: { commit: 500n, prepare: 500n } });
  t.deepEqual(await store.append('chat-1', [newEvent('a')], 2), { revision: 3, position: 500 });
  client.appendToStream = async () => ({ success: true, nextExpectedRevision: 3n, position: undefined });
  client.readStream = (() => (async function* () { yield { event: { position: { commit: 777n, prepare: 777n } } }; })()) as never;
  t.deepEqual(await store.append('chat-1', [newEvent('a')], 2), { revision: 3, position: 777 });
});

test('a WrongExpectedVersionError from the client is a ConcurrencyError', async (t) => {
  const { store, client } = fakeClient([]);
  client.appendToStream = async () => {
    throw new WrongExpectedVersionError(undefined, { streamName: 'chat-1', expected: 0n, current: 2n });
  };
  const error = await t.throwsAsync(store.append('chat-1', [newEvent('a')], 0), { instanceOf: ConcurrencyError });
  t.like(error!.details, { stream: 'chat-1', expected: 0, actual: 2 });
});

const serviceError = (code: number, details: string) =>
  Object.assign(new Error(`${code} ${details}`), { code, details, metadata: { getMap: () => ({ 'leader-endpoint-host': 'node-2', 'leader-endpoint-port': '2113' }) } });

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
  const conflict = fromEventStoreError(new WrongExpectedVersionError(undefined, { streamName: 's', expected: 'no_stream', current: 0n }), 's', 'no-stream');
  t.true(conflict instanceof ConcurrencyError);
  t.like(conflict, { details: { stream: 's', expected: 'no-stream', actual: 0 } });
});

test('every operation reports an unreachable server as UnavailableError; a missing stream reads as empty', async (t) => {
  const { store, client } = fakeClient([]);
  const down = () => (async function* () { throw new EventStoreUnavailableError(); })();
  client.readAll = down as never;
  client.readStream = down as never;
  client.appendToStream = async () => { throw new DeadlineExceededError(); };
  await t.throwsAsync(store.readAll({ after: 0, maxCount: 10 }), { instanceOf: UnavailableError });
  await t.throwsAsync(store.headPosition(), { instanceOf: UnavailableError });
  await t.throwsAsync(store.readStream('chat-1'), { instanceOf: UnavailableError });
  await t.throwsAsync(store.append('chat-1', [newEvent('a')], 'any'), { instanceOf: UnavailableError });
  client.readStream = (() => (async function* () { throw new StreamNotFoundError(undefined, 'chat-1'); })()) as never;
  t.deepEqual(await store.readStream('chat-1'), []);
});
