import type { ExecutionContext } from 'ava';
import type { PostgresSettings } from '../../src/postgres/connection.ts';
import { registerUser, request, startTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { postgresTest, rawClient } from '../helpers/postgres.ts';
import { spawnServer } from '../helpers/process.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

/**
 * Several instances on one PostgreSQL schema, each with its own sockets: what one user does through one instance
 * reaches the others' sockets (typing, presence, call signaling, a logout), connection ids name one socket in the
 * whole cluster, presence counts every instance's sockets, and call timers fire once.
 */

type User = Awaited<ReturnType<typeof registerUser>>;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Instances<N extends number> = N extends 1 ? [TestApp] : N extends 2 ? [TestApp, TestApp] : [TestApp, TestApp, TestApp];

async function cluster<N extends 1 | 2 | 3>(
  t: ExecutionContext,
  settings: PostgresSettings,
  count: N,
  env: Record<string, string> = {},
): Promise<Instances<N>> {
  const apps: TestApp[] = [];
  for (let i = 0; i < count; i++) {
    const app = await startTestApp({
      env: {
        DATABASE_URL: settings.url,
        DATABASE_SCHEMA: settings.schema!,
        DATABASE_POOL_MAX: '2',
        PRESENCE_PUSH_COALESCE_MS: '0',
        ...env,
      },
    });
    t.teardown(() => app.dispose());
    apps.push(app);
  }
  return apps as Instances<N>;
}

async function device(wsUrl: string, who: User): Promise<TestSocket & { connectionId: number }> {
  const socket = await connect(wsUrl, who.accessToken);
  // The welcome waits for the session to be recorded in PostgreSQL; a freshly spawned instance on a loaded CI
  // machine has taken over 5 s for its first one.
  const welcome = await socket.next((f) => f.type === 'welcome', 20_000);
  socket.send({ type: 'sync', id: 'sync' });
  await socket.next((f) => f.id === 'sync');
  return Object.assign(socket, { connectionId: welcome.connectionId as number });
}

const api = (app: TestApp | { url: string }, who: User, method: string, path: string, body?: unknown) =>
  request(app.url, method, path, { token: who.accessToken, ...(body === undefined ? {} : { body }) });

async function eventually(t: ExecutionContext, check: () => Promise<boolean>, what: string, timeoutMs = 8_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await sleep(50);
  }
  t.fail(`not within ${timeoutMs} ms: ${what}`);
}

const streamTypes = async (app: TestApp, stream: string) => (await app.eventStore.readStream(stream)).map((event) => event.type);

postgresTest(
  'typing, presence frames and call signaling (a 16 KiB SDP) reach sockets on another instance',
  async (t, settings) => {
    const [a, b] = await cluster(t, settings, 2);
    const [alice, bob] = [await registerUser(a.url), await registerUser(a.url)];
    t.is((await api(a, alice, 'POST', '/api/messages', { recipientId: bob.user.id, text: 'hi', clientMessageId: 't-1' })).status, 201);
    const bobOnB = await device(b.wsUrl, bob);
    t.teardown(() => bobOnB.close());
    bobOnB.send({ type: 'presence.subscribe', id: 'sub', userIds: [alice.user.id] });
    t.like(await bobOnB.next((f) => f.type === 'presence.snapshot'), { users: [{ userId: alice.user.id, status: 'offline' }] });

    const aliceOnA = await device(a.wsUrl, alice);
    t.teardown(() => aliceOnA.close());
    t.like(
      await bobOnB.next((f) => f.type === 'presence' && f.status === 'online'),
      { userId: alice.user.id },
      'alice came online on A: bob, subscribed on B, is told',
    );

    aliceOnA.send({ type: 'typing', id: 'typing', with: bob.user.id });
    t.like(await aliceOnA.next((f) => f.id === 'typing'), { type: 'typing.ok' });
    t.like(await bobOnB.next((f) => f.type === 'typing'), { userId: alice.user.id }, 'typing on A shows on B');

    const call = (await api(a, alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'video' })).body.call;
    await bobOnB.next((f) => f.type === 'call.incoming' && f.callId === call.id);
    t.is((await api(b, bob, 'POST', `/api/calls/${call.id}/answer`, { connectionId: bobOnB.connectionId })).status, 200);
    const sdp = `v=0\r\n${'a=x'.repeat(5_460)}`.slice(0, 16_384);
    t.true(sdp.length > 8_000, 'larger than a NOTIFY payload');
    aliceOnA.send({
      type: 'call.signal',
      id: 'offer',
      callId: call.id,
      toConnectionId: bobOnB.connectionId,
      kind: 'offer',
      payload: { type: 'offer', sdp },
    });
    aliceOnA.send({
      type: 'call.signal',
      id: 'ice',
      callId: call.id,
      toConnectionId: bobOnB.connectionId,
      kind: 'candidates',
      payload: { candidates: [{ candidate: 'candidate:1 1 udp 1 10.0.0.1 5000 typ host' }] },
    });
    t.like(await aliceOnA.next((f) => f.id === 'offer'), { type: 'call.signal.ok' });
    const offer = await bobOnB.next((f) => f.type === 'call.signal' && f.kind === 'offer');
    t.is(offer.payload.sdp, sdp, 'the whole SDP crossed');
    t.like(offer, { fromUserId: alice.user.id, fromConnectionId: aliceOnA.connectionId });
    await bobOnB.next((f) => f.type === 'call.signal' && f.kind === 'candidates');
    const signals = bobOnB.frames.filter((f) => f.type === 'call.signal').map((f) => f.kind);
    t.deepEqual(signals, ['offer', 'candidates'], 'in the order sent');

    bobOnB.send({
      type: 'call.signal',
      id: 'answer',
      callId: call.id,
      toConnectionId: aliceOnA.connectionId,
      kind: 'answer',
      payload: { type: 'answer', sdp: 'v=0 answer' },
    });
    t.like(await aliceOnA.next((f) => f.type === 'call.signal'), { kind: 'answer', fromConnectionId: bobOnB.connectionId });

    const client = await rawClient(t);
    await eventually(
      t,
      async () => (await client.query(`SELECT count(*)::int AS n FROM "${settings.schema}".cluster_messages`)).rows[0].n === 0,
      "the large payload's row is removed once read",
      20_000,
    );
  },
  { serial: true },
);

postgresTest(
  'connection ids are unique across instances: a device on C answers a call through REST on B',
  async (t, settings) => {
    const [a, b, c] = await cluster(t, settings, 3);
    const [alice, bob] = [await registerUser(a.url), await registerUser(a.url)];
    const sockets = [await device(a.wsUrl, alice), await device(b.wsUrl, alice), await device(c.wsUrl, bob)];
    t.teardown(() => sockets.forEach((socket) => socket.close()));
    const ids = sockets.map((socket) => socket.connectionId);
    t.is(new Set(ids).size, 3, `one id per socket in the cluster: ${ids.join(', ')}`);
    const bobOnC = sockets[2]!;

    const call = (await api(a, alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).body.call;
    await bobOnC.next((f) => f.type === 'call.incoming' && f.callId === call.id);
    const answered = await api(b, bob, 'POST', `/api/calls/${call.id}/answer`, { connectionId: bobOnC.connectionId });
    t.is(answered.status, 200, JSON.stringify(answered.body));
    t.like(answered.body.call, { state: 'active' });
    const events = await a.eventStore.readStream(`call-${call.id}`);
    t.deepEqual(
      events.map((e) => e.type),
      ['CallInitiated', 'CallAnswered'],
    );
    t.like(events[1]!.data, { userId: bob.user.id, connectionId: bobOnC.connectionId });
    t.like(await sockets[0]!.next((f) => f.type === 'call.answered'), { byConnectionId: bobOnC.connectionId });
    // Another user's socket is still not yours, wherever it is.
    t.is((await api(b, bob, 'POST', `/api/calls/${call.id}/answer`, { connectionId: sockets[1]!.connectionId })).status, 400);
  },
  { serial: true },
);

postgresTest(
  "presence counts the sockets on every instance: closing one instance's socket, or a new instance starting, does not take a user offline",
  async (t, settings) => {
    const [a, b] = await cluster(t, settings, 2, { PRESENCE_OFFLINE_GRACE_MS: '200' });
    const [alice, bob] = [await registerUser(a.url), await registerUser(a.url)];
    await api(a, alice, 'POST', '/api/messages', { recipientId: bob.user.id, text: 'hi', clientMessageId: 'p-1' });
    const aliceOnA = await device(a.wsUrl, alice);
    const aliceOnB = await device(b.wsUrl, alice);
    t.teardown(() => aliceOnB.close());
    await eventually(t, async () => (await streamTypes(a, `presence-${alice.user.id}`)).includes('UserCameOnline'), 'alice online');
    aliceOnA.close();
    await sleep(1_000);
    t.deepEqual(await streamTypes(a, `presence-${alice.user.id}`), ['UserCameOnline'], 'still online: her socket on B is open');
    const [c] = await cluster(t, settings, 1, { PRESENCE_OFFLINE_GRACE_MS: '200' });
    await sleep(300);
    t.deepEqual(
      await streamTypes(a, `presence-${alice.user.id}`),
      ['UserCameOnline'],
      'a third instance starting does not mark her offline',
    );
    const asSeen = await api(c, bob, 'GET', `/api/presence?userIds=${alice.user.id}`);
    t.is(asSeen.status, 200, JSON.stringify(asSeen.body));
    t.like(asSeen.body.users?.[0] ?? asSeen.body[0], { status: 'online' }, 'an instance she has no socket on sees her online');
  },
  { serial: true },
);

postgresTest(
  'the sessions of an instance that died (kill -9) expire after the grace: its users go offline, subscribers elsewhere are told',
  async (t, settings) => {
    // Two instances survive: both expire stale sessions, each session is handled by whichever deletes it first.
    const [a, b] = await cluster(t, settings, 2, { PRESENCE_SESSION_TTL_MS: '1500' });
    const [alice, bob] = [await registerUser(a.url), await registerUser(a.url)];
    await api(a, alice, 'POST', '/api/messages', { recipientId: bob.user.id, text: 'hi', clientMessageId: 'd-1' });
    const doomed = await spawnServer(tempDir(), {
      DATABASE_URL: settings.url,
      DATABASE_SCHEMA: settings.schema!,
      DATABASE_POOL_MAX: '2',
      PRESENCE_SESSION_TTL_MS: '1500',
    });
    t.teardown(() => doomed.kill9());
    const bobOnA = await device(a.wsUrl, bob);
    const bobOnB = await device(b.wsUrl, bob);
    t.teardown(() => [bobOnA, bobOnB].forEach((socket) => socket.close()));
    const aliceOnDoomed = await device(doomed.wsUrl, alice);
    for (const socket of [bobOnA, bobOnB]) {
      socket.send({ type: 'presence.subscribe', id: 'sub', userIds: [alice.user.id] });
      await socket.next((f) => f.type === 'presence.snapshot');
    }
    await eventually(t, async () => (await streamTypes(a, `presence-${alice.user.id}`)).includes('UserCameOnline'), 'alice online');
    await doomed.kill9();
    await aliceOnDoomed.closed;
    for (const socket of [bobOnA, bobOnB]) {
      t.truthy(
        await socket.next((f) => f.type === 'presence' && f.userId === alice.user.id && f.status === 'offline', 10_000),
        'told on both instances',
      );
    }
    await sleep(1_500);
    await eventually(
      t,
      async () => (await streamTypes(a, `presence-${alice.user.id}`)).includes('UserWentOffline'),
      'alice recorded offline',
    );
    const events = await a.eventStore.readStream(`presence-${alice.user.id}`);
    t.deepEqual(
      events.map((e) => e.type),
      ['UserCameOnline', 'UserWentOffline'],
      'once',
    );
    const client = await rawClient(t);
    t.is(
      (await client.query(`SELECT count(*)::int AS n FROM "${settings.schema}".presence_sessions WHERE user_id = $1`, [alice.user.id]))
        .rows[0].n,
      0,
    );
  },
  { serial: true },
);

postgresTest(
  'call timers fire once for the cluster: a call that rings out on two instances is ended by one CallEnded',
  async (t, settings) => {
    const [a, b] = await cluster(t, settings, 2, { CALL_RING_TIMEOUT_MS: '1000' });
    const [alice, bob] = [await registerUser(a.url), await registerUser(a.url)];
    const calls: string[] = [];
    for (let i = 0; i < 3; i++) {
      const call = (
        await api(i % 2 ? b : a, alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio', clientCallId: `ring-${i}` })
      ).body.call;
      calls.push(call.id);
      await eventually(t, async () => (await streamTypes(a, `call-${call.id}`)).includes('CallEnded'), 'rung out', 6_000);
    }
    await sleep(1_500);
    for (const callId of calls) t.deepEqual(await streamTypes(a, `call-${callId}`), ['CallInitiated', 'CallEnded'], 'one CallEnded');
  },
  { serial: true },
);

postgresTest(
  'a party with a socket on another instance is not dropped from a call: not when one socket closes, not when an instance starts',
  async (t, settings) => {
    const env = { CALL_DISCONNECT_GRACE_MS: '300' };
    const [a, b] = await cluster(t, settings, 2, env);
    const [alice, bob] = [await registerUser(a.url), await registerUser(a.url)];
    const aliceOnA = await device(a.wsUrl, alice);
    const bobOnA = await device(a.wsUrl, bob);
    const bobOnB = await device(b.wsUrl, bob);
    t.teardown(() => [aliceOnA, bobOnB].forEach((socket) => socket.close()));
    const call = (await api(a, alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).body.call;
    t.is((await api(a, bob, 'POST', `/api/calls/${call.id}/answer`, { connectionId: bobOnA.connectionId })).status, 200);
    bobOnA.close();
    await bobOnA.closed;
    const [c] = await cluster(t, settings, 1, env);
    t.truthy(c);
    await sleep(2_000);
    t.deepEqual(
      await streamTypes(a, `call-${call.id}`),
      ['CallInitiated', 'CallAnswered'],
      'both still have a socket in the cluster: the call goes on',
    );
    bobOnB.close();
    await eventually(
      t,
      async () => (await streamTypes(a, `call-${call.id}`)).includes('CallEnded'),
      "bob's last socket gone: dropped after the grace",
    );
    const events = await a.eventStore.readStream(`call-${call.id}`);
    t.like(events.at(-1)!.data, { reason: 'disconnected' });
    t.is(events.filter((e) => e.type === 'CallEnded').length, 1);
  },
  { serial: true },
);

postgresTest(
  "a logout closes the token's sockets on every instance",
  async (t, settings) => {
    const [a, b, c] = await cluster(t, settings, 3);
    const alice = await registerUser(a.url);
    const sockets = [await device(a.wsUrl, alice), await device(b.wsUrl, alice), await device(c.wsUrl, alice)];
    t.teardown(() => sockets.forEach((socket) => socket.close()));
    const logout = await api(b, alice, 'POST', '/auth/logout');
    t.is(logout.status, 204, JSON.stringify(logout.body));
    await eventually(t, async () => (await streamTypes(a, `user-${alice.user.id}`)).includes('UserLoggedOut'), 'UserLoggedOut appended');
    for (const [i, socket] of sockets.entries()) {
      const closed = await Promise.race([socket.closed, sleep(5_000).then(() => null)]);
      t.like(closed, { code: 4401, reason: 'token_revoked' }, `socket ${i} closed`);
    }
  },
  { serial: true },
);
