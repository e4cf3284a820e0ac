import test from 'ava';
import pino from 'pino';
import { CallService, type CallSettings, type ConnectionDirectory } from '../../src/calls/callService.ts';

/** The call timers' pass (ring timeouts, maximum durations) runs one at a time, however slow the read store is. */
function timersWithSlowStore(delayMs: number) {
  const seen = { passes: 0, running: 0, mostAtOnce: 0 };
  const collection = {
    async find(filter: Record<string, unknown>) {
      if (filter.state === 'ringing') seen.passes++;
      seen.running++;
      seen.mostAtOnce = Math.max(seen.mostAtOnce, seen.running);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      seen.running--;
      return [];
    },
  };
  const settings: CallSettings = {
    ringTimeoutMs: 60_000,
    disconnectGraceMs: 30_000,
    maxDurationMs: 3_600_000,
    meshMaxParticipants: 4,
    stunUris: [],
    turnUris: [],
    turnSharedSecret: null,
    turnTtlSeconds: 3600,
  };
  const connections: ConnectionDirectory = {
    ownerOf: async () => null,
    isConnectedHere: () => false,
    isConnected: async () => false,
    sendToConnection: async () => false,
    sendToUser: () => undefined,
  };
  const service = new CallService({
    commands: {} as never,
    projections: {} as never,
    blocks: {} as never,
    readStore: { collection: () => collection } as never,
    logger: pino({ level: 'silent' }),
    clock: () => new Date('2026-03-01T10:00:00.000Z'),
    settings,
    connections,
  });
  return { service, seen };
}

test('a tick that comes while the previous pass still runs waits for it instead of running beside it', async (t) => {
  const { service, seen } = timersWithSlowStore(50);
  await Promise.all([service.tick(), service.tick(), service.tick()]);
  t.is(seen.mostAtOnce, 1, 'never two reads of the timers at once');
  t.is(seen.passes, 1, 'one pass for the three ticks that came while it ran');
  await service.tick();
  t.is(seen.passes, 2, 'the next tick after it runs a pass of its own');
});

test("a party's disconnect grace is state, not only a timer: after a restart the next server drops them out of the call once it is due", async (t) => {
  const { MemoryCallGraceDeadlines } = await import('../../src/calls/callGraceDeadlines.ts');
  const deadlines = new MemoryCallGraceDeadlines();
  const settings: CallSettings = {
    ringTimeoutMs: 60_000,
    disconnectGraceMs: 30_000,
    maxDurationMs: 3_600_000,
    meshMaxParticipants: 4,
    stunUris: [],
    turnUris: [],
    turnSharedSecret: null,
    turnTtlSeconds: 3600,
  };
  const call = {
    callId: 'call-1',
    userId: 'alice',
    state: 'active',
    participants: ['alice', 'bob'],
    groupId: null,
    answeredAt: '2026-03-01T10:00:00.000Z',
  };
  const handled: Array<{ stream: string; type: string; data: unknown }> = [];
  const server = (now: string) =>
    new CallService({
      commands: {
        handle: async (_decider: unknown, stream: string, command: { type: string; data: unknown }) => {
          handled.push({ stream, type: command.type, data: command.data });
          return { position: null };
        },
      } as never,
      projections: { waitFor: async () => undefined } as never,
      blocks: {} as never,
      readStore: {
        collection: () => ({ find: async (filter: Record<string, unknown>) => (filter.state === 'active' ? [call] : []) }),
      } as never,
      logger: pino({ level: 'silent' }),
      clock: () => new Date(now),
      settings,
      graceDeadlines: deadlines,
      connections: {
        ownerOf: async () => null,
        isConnectedHere: () => false,
        isConnected: async () => false,
        sendToConnection: async () => false,
        sendToUser: () => undefined,
      },
    });
  const before = server('2026-03-01T10:00:00.000Z');
  before.disconnected('alice');
  await before.settled();
  before.stop(); // the server stops before the grace ends: its timer is gone
  t.deepEqual(await deadlines.list(), [{ userId: 'alice', dueAt: '2026-03-01T10:00:30.000Z' }]);

  const early = server('2026-03-01T10:00:29.000Z');
  await early.tick();
  t.deepEqual(handled, [], 'not due yet');
  const after = server('2026-03-01T10:00:31.000Z');
  await after.tick();
  t.deepEqual(
    handled.map((h) => [h.stream, h.type, h.data]),
    [['call-call-1', 'EndCall', { callId: 'call-1', userId: null, reason: 'disconnected' }]],
  );
  t.deepEqual(await deadlines.list(), [], 'fired once');
  after.stop();
});
