import test from 'ava';
import { registerUser, request, startTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { spawnServer } from '../helpers/process.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

/**
 * Presence: two events per session at most, a grace for flapping links, frames only to sockets that subscribed to
 * someone they may see, and privacy, blocks and modes applied to every view.
 */
const GRACE_MS = 400;
const settle = (ms = GRACE_MS + 300) => new Promise((resolve) => setTimeout(resolve, ms));
const presenceEnv = { PRESENCE_OFFLINE_GRACE_MS: String(GRACE_MS), PRESENCE_PUSH_COALESCE_MS: '20' };

let app: TestApp;
test.before(async () => {
  app = await startTestApp({ env: presenceEnv });
});
test.after.always(async () => {
  await app.dispose();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const api = (who: User, method: string, path: string, body?: unknown) =>
  request(app.url, method, path, { token: who.accessToken, ...(body === undefined ? {} : { body }) });
const presenceEvents = async (userId: string) => (await app.eventStore.readStream(`presence-${userId}`)).map((event) => event.type);

async function watching(viewer: User, ...targets: User[]): Promise<TestSocket> {
  const socket = await connect(app.wsUrl, viewer.accessToken);
  socket.send({ type: 'presence.subscribe', id: 'sub', userIds: targets.map((target) => target.user.id) });
  await socket.next((f) => f.type === 'presence.snapshot');
  return socket;
}
const framesAbout = (socket: TestSocket, who: User) => socket.frames.filter((f) => f.type === 'presence' && f.userId === who.user.id);

test('two devices: closing one changes nothing; closing both goes offline once, after the grace; two events in all', async (t) => {
  const [alice, friend] = [await registerUser(app.url), await registerUser(app.url)];
  await api(friend, 'POST', '/api/contacts', { userId: alice.user.id });
  const watcher = await watching(friend, alice);
  t.teardown(() => watcher.close());
  t.like(watcher.frames.find((f) => f.type === 'presence.snapshot').users[0], {
    userId: alice.user.id,
    status: 'offline',
    lastSeenAt: null,
  });

  const [phone, laptop] = [await connect(app.wsUrl, alice.accessToken), await connect(app.wsUrl, alice.accessToken)];
  t.like(await watcher.next((f) => f.type === 'presence' && f.userId === alice.user.id), { status: 'online', lastSeenAt: null });
  phone.close();
  await settle();
  t.is(framesAbout(watcher, alice).length, 1, 'one device left: still online, nothing sent');
  laptop.close();
  const offline = await watcher.next((f) => f.type === 'presence' && f.status === 'offline');
  t.regex(offline.lastSeenAt, /:00\.000Z$/, 'last seen to the minute');
  t.deepEqual(await presenceEvents(alice.user.id), ['UserCameOnline', 'UserWentOffline']);
  t.like((await api(friend, 'GET', `/api/presence?userIds=${alice.user.id}`)).body.users[0], {
    status: 'offline',
    lastSeenAt: offline.lastSeenAt,
  });
});

test('a reconnect inside the grace produces no event and no frame', async (t) => {
  const [bob, friend] = [await registerUser(app.url), await registerUser(app.url)];
  await api(friend, 'POST', '/api/contacts', { userId: bob.user.id });
  const watcher = await watching(friend, bob);
  t.teardown(() => watcher.close());
  const first = await connect(app.wsUrl, bob.accessToken);
  await watcher.next((f) => f.type === 'presence' && f.userId === bob.user.id);
  first.close();
  await settle(GRACE_MS / 4);
  const again = await connect(app.wsUrl, bob.accessToken);
  t.teardown(() => again.close());
  await settle();
  t.deepEqual(await presenceEvents(bob.user.id), ['UserCameOnline']);
  t.is(framesAbout(watcher, bob).length, 1);
});

test('who sees what: strangers, group members and the blocked see nothing; settings, reciprocity and modes apply', async (t) => {
  const [carol, contact, stranger, groupMate, blocked] = await Promise.all([1, 2, 3, 4, 5].map(() => registerUser(app.url)));
  await api(contact!, 'POST', '/api/contacts', { userId: carol!.user.id });
  await api(blocked!, 'POST', '/api/contacts', { userId: carol!.user.id });
  await api(carol!, 'PUT', `/api/blocks/${blocked!.user.id}`);
  await api(carol!, 'POST', '/api/groups', { name: 'G', memberIds: [groupMate!.user.id] });
  const sockets = await Promise.all([contact!, stranger!, groupMate!, blocked!].map((viewer) => watching(viewer, carol!)));
  t.teardown(() => sockets.forEach((socket) => socket.close()));
  const [contactSocket, strangerSocket, groupSocket, blockedSocket] = sockets as [TestSocket, TestSocket, TestSocket, TestSocket];
  const device = await connect(app.wsUrl, carol!.accessToken);
  t.teardown(() => device.close());
  await contactSocket.next((f) => f.type === 'presence' && f.status === 'online');
  await settle(200);
  for (const socket of [strangerSocket, groupSocket, blockedSocket])
    t.deepEqual(framesAbout(socket, carol!), [], 'no frame, not even "offline"');
  const seenBy = async (viewer: User) => (await api(viewer, 'GET', `/api/presence?userIds=${carol!.user.id}`)).body.users[0];
  t.like(await seenBy(contact!), { status: 'online' });
  for (const viewer of [stranger!, groupMate!, blocked!]) t.like(await seenBy(viewer), { status: 'offline', lastSeenAt: null });

  device.send({ type: 'presence.set', id: 'idle', state: 'idle' });
  t.like(await contactSocket.next((f) => f.type === 'presence' && f.status === 'away'), { userId: carol!.user.id });
  t.like((await api(carol!, 'PUT', '/api/presence', { mode: 'dnd', statusText: 'focusing', expiresInSeconds: 3600 })).body.presence, {
    mode: 'dnd',
    statusText: 'focusing',
  });
  t.like(await contactSocket.next((f) => f.type === 'presence' && f.status === 'dnd'), { statusText: 'focusing' });
  await api(carol!, 'PUT', '/api/presence', { mode: 'invisible' });
  t.like(await contactSocket.next((f) => f.type === 'presence' && f.status === 'offline'), { lastSeenAt: null });
  t.like(await seenBy(carol!), { status: 'away' }, 'she still sees herself, idle');
  await api(carol!, 'PUT', '/api/presence', { mode: 'auto' });
  await contactSocket.next((f) => f.type === 'presence' && f.status === 'away');

  await api(carol!, 'PUT', '/api/users/profile', { privacy: { online: 'nobody' } });
  t.like(await seenBy(contact!), { status: 'offline' }, 'online hidden from everyone');
  await api(carol!, 'PUT', '/api/users/profile', { privacy: { online: 'everyone' } });
  await api(contact!, 'PUT', '/api/users/profile', { privacy: { online: 'nobody' } });
  t.like(await seenBy(contact!), { status: 'offline' }, "reciprocity: who hides their own sees no one's");
});

test('PRESENCE_ENABLED=false: status unknown, no events, no frames', async (t) => {
  const off = await startTestApp({ env: { ...presenceEnv, PRESENCE_ENABLED: 'false' } });
  t.teardown(() => off.dispose());
  const [dan, friend] = [await registerUser(off.url), await registerUser(off.url)];
  await request(off.url, 'POST', '/api/contacts', { token: friend.accessToken, body: { userId: dan.user.id } });
  const watcher = await connect(off.wsUrl, friend.accessToken);
  t.teardown(() => watcher.close());
  watcher.send({ type: 'presence.subscribe', userIds: [dan.user.id] });
  t.like((await watcher.next((f) => f.type === 'presence.snapshot')).users[0], { status: 'unknown' });
  const device = await connect(off.wsUrl, dan.accessToken);
  t.teardown(() => device.close());
  await settle();
  t.deepEqual(
    watcher.frames.filter((f) => f.type === 'presence'),
    [],
  );
  t.deepEqual(await off.eventStore.readStream(`presence-${dan.user.id}`), []);
  t.is(
    (await request(off.url, 'PUT', '/api/presence', { token: dan.accessToken, body: { mode: 'dnd' } })).body.error.code,
    'presence_disabled',
  );
});

test('kill -9 while users are online: after the restart nobody is online, last seen no later than the crash', async (t) => {
  const storageDir = tempDir();
  const server = await spawnServer(storageDir, presenceEnv);
  const register = async (name: string) =>
    (
      await request(server.url, 'POST', '/auth/register', {
        body: { email: `${name}@example.test`, username: name, password: 'a long password' },
      })
    ).body;
  const [erin, friend] = [await register(`erin_${process.pid}`), await register(`friend_${process.pid}`)];
  await request(server.url, 'POST', '/api/contacts', { token: friend.accessToken, body: { userId: erin.user.id } });
  const device = await connect(server.wsUrl, erin.accessToken);
  const seen = async (url: string) =>
    (await request(url, 'GET', `/api/presence?userIds=${erin.user.id}`, { token: friend.accessToken })).body.users[0];
  for (let i = 0; i < 50 && (await seen(server.url)).status !== 'online'; i++) await settle(50);
  t.like(await seen(server.url), { status: 'online' });
  const crashedAt = new Date().toISOString();
  await server.kill9();
  device.close();

  const restarted = await spawnServer(storageDir, presenceEnv);
  t.teardown(() => restarted.stop());
  const after = await seen(restarted.url);
  t.is(after.status, 'offline');
  t.true(after.lastSeenAt !== null && after.lastSeenAt <= crashedAt);
});

test('a socket subscribed to nobody receives no presence frame while many others flap; two events per session at most', async (t) => {
  const quiet = await registerUser(app.url);
  const watcher = await connect(app.wsUrl, quiet.accessToken);
  t.teardown(() => watcher.close());
  const flappers = await Promise.all(Array.from({ length: 40 }, () => registerUser(app.url)));
  // Everyone is the quiet user's contact: presence would be theirs to see, had they subscribed.
  for (const flapper of flappers) await api(quiet, 'POST', '/api/contacts', { userId: flapper.user.id });
  for (let round = 0; round < 3; round++) {
    const sockets = await Promise.all(flappers.map((flapper) => connect(app.wsUrl, flapper.accessToken)));
    sockets.forEach((socket) => socket.close());
  }
  await settle();
  t.deepEqual(
    watcher.frames.filter((f) => f.type.startsWith('presence')),
    [],
  );
  for (const flapper of flappers.slice(0, 5)) t.true((await presenceEvents(flapper.user.id)).length <= 2);
});

test('a presence frame never repeats what the viewer already sees: a change undone within the coalescing window sends nothing', async (t) => {
  const slow = await startTestApp({ env: { ...presenceEnv, PRESENCE_PUSH_COALESCE_MS: '400' } });
  t.teardown(() => slow.dispose());
  const [dana, friend] = [await registerUser(slow.url), await registerUser(slow.url)];
  const as = (who: User, method: string, path: string, body?: unknown) => request(slow.url, method, path, { token: who.accessToken, body });
  await as(friend, 'POST', '/api/contacts', { userId: dana.user.id });
  const watcher = await connect(slow.wsUrl, friend.accessToken);
  t.teardown(() => watcher.close());
  watcher.send({ type: 'presence.subscribe', id: 'sub', userIds: [dana.user.id] });
  await watcher.next((f) => f.type === 'presence.snapshot');
  const device = await connect(slow.wsUrl, dana.accessToken);
  t.teardown(() => device.close());
  await watcher.next((f) => f.type === 'presence' && f.status === 'online');

  // Do not disturb, and back, before the frame goes out: the watcher still sees "online", so it is sent nothing.
  await as(dana, 'PUT', '/api/presence', { mode: 'dnd' });
  await as(dana, 'PUT', '/api/presence', { mode: 'auto' });
  await settle(600);
  await as(dana, 'PUT', '/api/presence', { mode: 'away' });
  await watcher.next((f) => f.type === 'presence' && f.status === 'away');
  t.deepEqual(
    framesAbout(watcher, dana).map((f) => f.status),
    ['online', 'away'],
  );
  t.deepEqual((await slow.eventStore.readStream(`presence-${dana.user.id}`)).map((e) => e.type).slice(-3), [
    'PresenceModeSet',
    'PresenceModeSet',
    'PresenceModeSet',
  ]);
});
