import test from 'ava';
import { registerUser, request, startTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { spawnServer } from '../helpers/process.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

/** Calls: ringing every device, the first answer winning, signaling only between the chosen devices, timers. */
let app: TestApp;
test.before(async () => {
  app = await startTestApp({ env: {
    CALL_RING_TIMEOUT_MS: '1500', CALL_DISCONNECT_GRACE_MS: '300', CALL_MESH_MAX_PARTICIPANTS: '3',
    STUN_URIS: 'stun:stun.example.test:3478', TURN_URIS: 'turn:turn.example.test:3478', TURN_SHARED_SECRET: 'north',
  } });
});
test.after.always(async () => { await app.dispose(); });

type User = Awaited<ReturnType<typeof registerUser>>;
const api = (who: User, method: string, path: string, body?: unknown) =>
  request(app.url, method, path, { token: who.accessToken, ...(body === undefined ? {} : { body }) });
async function device(who: User): Promise<TestSocket & { connectionId: number }> {
  const socket = await connect(app.wsUrl, who.accessToken);
  const welcome = await socket.next((f) => f.type === 'welcome');
  socket.send({ type: 'sync', id: 'sync' });
  await socket.next((f) => f.id === 'sync');
  return Object.assign(socket, { connectionId: welcome.connectionId as number });
}

test('two devices ring; the first answer wins, the other device stops ringing and never sees signaling; ending is recorded for both', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const [caller, phone, laptop] = [await device(alice), await device(bob), await device(bob)];
  t.teardown(() => [caller, phone, laptop].forEach((s) => s.close()));
  const initiated = await api(alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'video' });
  t.is(initiated.status, 201);
  const callId = initiated.body.call.id;
  t.like(initiated.body.call, { state: 'ringing', media: 'video', callerId: alice.user.id, invitees: [bob.user.id] });
  t.true(initiated.body.iceServers.some((s: any) => s.username?.endsWith(`:${alice.user.id}`)), 'TURN credentials come with it');
  for (const socket of [phone, laptop]) t.like(await socket.next((f) => f.type === 'call.incoming'), { callId, from: alice.user.id, media: 'video' });

  phone.send({ type: 'call.ack', id: 'ack', callId });
  t.like(await caller.next((f) => f.type === 'call.ringing'), { callId, userId: bob.user.id });
  const answered = await api(bob, 'POST', `/api/calls/${callId}/answer`, { connectionId: phone.connectionId });
  t.like(answered.body.call, { state: 'active' });
  for (const socket of [caller, laptop]) t.like(await socket.next((f) => f.type === 'call.answered'), { callId, byUserId: bob.user.id, byConnectionId: phone.connectionId });
  t.is((await api(bob, 'POST', `/api/calls/${callId}/answer`, { connectionId: laptop.connectionId })).status, 200, 'the same user again changes nothing');

  caller.send({ type: 'call.signal', id: 'offer', callId, toConnectionId: phone.connectionId, kind: 'offer', payload: { type: 'offer', sdp: 'v=0 offer' } });
  t.like(await phone.next((f) => f.type === 'call.signal'), { callId, fromUserId: alice.user.id, fromConnectionId: caller.connectionId, kind: 'offer' });
  phone.send({ type: 'call.signal', id: 'answer', callId, toConnectionId: caller.connectionId, kind: 'candidates', payload: { candidates: [{ candidate: 'candidate:1 1 udp 1 10.0.0.1 5000 typ host' }] } });
  t.like(await caller.next((f) => f.type === 'call.signal'), { kind: 'candidates' });
  caller.send({ type: 'call.signal', id: 'stray', callId, toConnectionId: laptop.connectionId, kind: 'offer', payload: { type: 'offer', sdp: 'x' } });
  t.like(await caller.next((f) => f.id === 'stray'), { type: 'error', error: { code: 'not_found' } }, 'the device that did not answer is not a party');
  caller.send({ type: 'call.signal', id: 'big', callId, toConnectionId: phone.connectionId, kind: 'offer', payload: { type: 'offer', sdp: 'x'.repeat(17_000) } });
  t.like(await caller.next((f) => f.id === 'big'), { type: 'error', error: { code: 'validation_failed' } });

  const ended = await api(alice, 'POST', `/api/calls/${callId}/end`, {});
  t.like(ended.body.call, { state: 'ended', reason: 'hangup', outcome: 'answered' });
  for (const socket of [caller, phone, laptop]) t.like(await socket.next((f) => f.type === 'call.ended'), { callId, reason: 'hangup' });
  t.false(laptop.frames.some((f) => f.type === 'call.signal'), 'no signaling ever reached the other device');
  t.is((await api(alice, 'POST', `/api/calls/${callId}/end`, {})).status, 200, 'ending twice is fine');
  const [aliceHistory, bobHistory] = [await api(alice, 'GET', '/api/calls'), await api(bob, 'GET', '/api/calls')];
  t.like(aliceHistory.body.calls[0], { id: callId, direction: 'outgoing', outcome: 'answered', peerId: bob.user.id });
  t.like(bobHistory.body.calls[0], { id: callId, direction: 'incoming', outcome: 'answered' });
  t.true(aliceHistory.body.calls[0].durationMs >= 0);
  const stranger = await registerUser(app.url);
  t.is((await api(stranger, 'GET', `/api/calls/${callId}`)).status, 404);
  t.is((await api(stranger, 'POST', `/api/calls/${callId}/answer`, { connectionId: phone.connectionId })).status, 400, 'not your socket');
});

test('unanswered calls ring out as missed on both sides; rejecting ends a direct call; late answers are refused', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const [caller, callee] = [await device(alice), await device(bob)];
  t.teardown(() => [caller, callee].forEach((s) => s.close()));
  const ringing = (await api(alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).body.call;
  t.like(await caller.next((f) => f.type === 'call.ended' && f.callId === ringing.id, 6_000), { reason: 'missed' });
  t.like((await api(bob, 'GET', `/api/calls/${ringing.id}`)).body.call, { outcome: 'missed', direction: 'incoming' });
  t.is((await api(bob, 'POST', `/api/calls/${ringing.id}/answer`, { connectionId: callee.connectionId })).body.error.code, 'call_ended');

  const second = (await api(alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).body.call;
  t.like((await api(bob, 'POST', `/api/calls/${second.id}/reject`)).body.call, { state: 'ended', outcome: 'rejected' });
  t.like(await caller.next((f) => f.type === 'call.ended' && f.callId === second.id), { reason: 'rejected' });
});

test('glare: calling someone who is calling you finds their call; a block refuses the call either way', async (t) => {
  const [alice, bob, carol] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const first = (await api(alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).body.call;
  const glare = await api(bob, 'POST', '/api/calls/initiate', { calleeId: alice.user.id, media: 'audio' });
  t.is(glare.status, 409);
  t.like(glare.body.error, { code: 'call_in_progress', details: { callId: first.id } });
  await api(carol, 'PUT', `/api/blocks/${alice.user.id}`);
  t.is((await api(alice, 'POST', '/api/calls/initiate', { calleeId: carol.user.id, media: 'audio' })).body.error.code, 'blocked');
  t.is((await api(carol, 'POST', '/api/calls/initiate', { calleeId: alice.user.id, media: 'audio' })).body.error.code, 'blocked');
});

test('a party whose last socket is gone for the grace period ends the call as disconnected', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const [caller, callee] = [await device(alice), await device(bob)];
  t.teardown(() => callee.close());
  const callId = (await api(alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).body.call.id;
  await api(bob, 'POST', `/api/calls/${callId}/answer`, { connectionId: callee.connectionId });
  caller.close();
  t.like(await callee.next((f) => f.type === 'call.ended' && f.callId === callId, 5_000), { reason: 'disconnected' });
});

test('group calls are a mesh: members join until the limit, then call_full', async (t) => {
  const members = await Promise.all([1, 2, 3, 4].map(() => registerUser(app.url)));
  const [owner, ...others] = members as [User, User, User, User];
  const group = (await api(owner, 'POST', '/api/groups', { name: 'Standup', memberIds: others.map((m) => m.user.id) })).body.group;
  const sockets = await Promise.all(others.map((member) => device(member)));
  t.teardown(() => sockets.forEach((s) => s.close()));
  const callId = (await api(owner, 'POST', '/api/calls/initiate', { groupId: group.id, media: 'video' })).body.call.id;
  for (const socket of sockets) await socket.next((f) => f.type === 'call.incoming' && f.callId === callId);
  t.is((await api(others[0], 'POST', `/api/calls/${callId}/answer`, { connectionId: sockets[0]!.connectionId })).status, 200);
  t.is((await api(others[1], 'POST', `/api/calls/${callId}/answer`, { connectionId: sockets[1]!.connectionId })).status, 200);
  const full = await api(others[2], 'POST', `/api/calls/${callId}/answer`, { connectionId: sockets[2]!.connectionId });
  t.is(full.body.error.code, 'call_full');
  t.like(await sockets[2]!.next((f) => f.type === 'call.participant' && f.userId === others[1].user.id), { change: 'joined' });
  t.is((await api(owner, 'POST', '/api/calls/initiate', { groupId: group.id, media: 'audio' })).body.error.code, 'call_in_progress');
});

test('TURN credentials follow the coturn REST scheme', async (t) => {
  const user = await registerUser(app.url);
  const { body } = await api(user, 'GET', '/api/calls/turn-credentials');
  t.deepEqual(body.iceServers[0], { urls: ['stun:stun.example.test:3478'] });
  t.regex(body.iceServers[1].username, new RegExp(`^\\d+:${user.user.id}$`));
  t.regex(body.iceServers[1].credential, /^[A-Za-z0-9+/]{27}=$/, 'base64 of an HMAC-SHA1');
});

test('kill -9 while ringing: after the restart the call is missed, not ringing forever', async (t) => {
  const storageDir = tempDir();
  const env = { CALL_RING_TIMEOUT_MS: '1000' };
  const server = await spawnServer(storageDir, env);
  const register = async (name: string) => (await request(server.url, 'POST', '/auth/register', {
    body: { email: `${name}@example.test`, username: name, password: 'a long password' },
  })).body;
  const [alice, bob] = [await register(`ring_a_${process.pid}`), await register(`ring_b_${process.pid}`)];
  const callId = (await request(server.url, 'POST', '/api/calls/initiate', { token: alice.accessToken, body: { calleeId: bob.user.id, media: 'audio' } })).body.call.id;
  await server.kill9();
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  const restarted = await spawnServer(storageDir, env);
  t.teardown(() => restarted.stop());
  const after = await request(restarted.url, 'GET', `/api/calls/${callId}`, { token: bob.accessToken });
  t.like(after.body.call, { state: 'ended', outcome: 'missed', reason: 'missed' });
});

test('a member removed from the group is no longer a party of its call: no joining, no signaling, no frames', async (t) => {
  const [owner, stays, removed] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const group = (await api(owner, 'POST', '/api/groups', { name: 'Leavers', memberIds: [stays.user.id, removed.user.id] })).body.group;
  const [staysSocket, removedSocket] = [await device(stays), await device(removed)];
  t.teardown(() => { staysSocket.close(); removedSocket.close(); });
  const callId = (await api(owner, 'POST', '/api/calls/initiate', { groupId: group.id, media: 'audio' })).body.call.id;
  await api(stays, 'POST', `/api/calls/${callId}/answer`, { connectionId: staysSocket.connectionId });
  await api(owner, 'DELETE', `/api/groups/${group.id}/members/${removed.user.id}`);
  t.is((await api(removed, 'POST', `/api/calls/${callId}/answer`, { connectionId: removedSocket.connectionId })).status, 404);
  t.is((await api(removed, 'GET', `/api/calls/${callId}`)).status, 404);
  removedSocket.send({ type: 'call.signal', id: 'sneak', callId, toConnectionId: staysSocket.connectionId, kind: 'offer', payload: { type: 'offer', sdp: 'x' } });
  t.like(await removedSocket.next((f) => f.id === 'sneak'), { type: 'error', error: { code: 'not_found' } });
  const ownerSocket = await device(owner);
  t.teardown(() => ownerSocket.close());
  ownerSocket.send({ type: 'call.signal', id: 'offer', callId, toConnectionId: staysSocket.connectionId, kind: 'offer', payload: { type: 'offer', sdp: 'v=0' } });
  t.like(await staysSocket.next((f) => f.type === 'call.signal'), { fromUserId: owner.user.id }, 'the caller signals from any device in a group call too');
  await api(owner, 'POST', `/api/calls/${callId}/end`, {});
  await staysSocket.next((f) => f.type === 'call.ended' && f.callId === callId);
  t.false(removedSocket.frames.some((f) => f.type === 'call.ended' || f.type === 'call.participant'), 'nothing of the call after the removal');
});

test('a device already ringing for one call is not rung for another; the second call is still in the history', async (t) => {
  const [alice, carol, bob] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const phone = await device(bob);
  t.teardown(() => phone.close());
  const first = (await api(alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).body.call.id;
  await phone.next((f) => f.type === 'call.incoming' && f.callId === first);
  const second = (await api(carol, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).body.call.id;
  await api(alice, 'POST', `/api/calls/${first}/end`, {});
  await phone.next((f) => f.type === 'call.ended' && f.callId === first);
  t.false(phone.frames.some((f) => f.type === 'call.incoming' && f.callId === second), 'not rung while ringing for the first');
  t.like((await api(bob, 'GET', `/api/calls/${second}`)).body.call, { state: 'ringing', direction: 'incoming' });
  await api(carol, 'POST', `/api/calls/${second}/end`, {});
});
