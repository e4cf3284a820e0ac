import test from 'ava';
import { registerUser, request, startTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { spawnServer } from '../helpers/process.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

/** Calls: ringing every device, the first answer winning, signaling only between the chosen devices, timers. */
let app: TestApp;
test.before(async () => {
  app = await startTestApp({
    env: {
      CALL_RING_TIMEOUT_MS: '1500',
      CALL_DISCONNECT_GRACE_MS: '300',
      CALL_MESH_MAX_PARTICIPANTS: '3',
      STUN_URIS: 'stun:stun.example.test:3478',
      TURN_URIS: 'turn:turn.example.test:3478',
      TURN_SHARED_SECRET: 'north',
    },
  });
});
test.after.always(async () => {
  await app.dispose();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const api = (who: User, method: string, path: string, body?: unknown) =>
  request(app.url, method, path, { token: who.accessToken, ...(body === undefined ? {} : { body }) });
const callEvents = async (callId: string) => (await app.eventStore.readStream(`call-${callId}`)).map((event) => event.type);
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
  t.true(
    initiated.body.iceServers.some((s: any) => s.username?.endsWith(`:${alice.user.id}`)),
    'TURN credentials come with it',
  );
  for (const socket of [phone, laptop])
    t.like(await socket.next((f) => f.type === 'call.incoming'), { callId, from: alice.user.id, media: 'video' });

  phone.send({ type: 'call.ack', id: 'ack', callId });
  t.like(await caller.next((f) => f.type === 'call.ringing'), { callId, userId: bob.user.id });
  const answered = await api(bob, 'POST', `/api/calls/${callId}/answer`, { connectionId: phone.connectionId });
  t.like(answered.body.call, { state: 'active' });
  for (const socket of [caller, laptop])
    t.like(await socket.next((f) => f.type === 'call.answered'), { callId, byUserId: bob.user.id, byConnectionId: phone.connectionId });
  const secondAnswer = await api(bob, 'POST', `/api/calls/${callId}/answer`, { connectionId: laptop.connectionId });
  t.is(secondAnswer.status, 409, 'a second answer, from the other device');
  t.is(secondAnswer.body.error.code, 'already_answered');
  t.is(
    (await api(bob, 'POST', `/api/calls/${callId}/answer`, { connectionId: phone.connectionId })).status,
    200,
    'the answering device again changes nothing',
  );
  t.deepEqual(await callEvents(callId), ['CallInitiated', 'CallAnswered'], 'one answer recorded');

  caller.send({
    type: 'call.signal',
    id: 'offer',
    callId,
    toConnectionId: phone.connectionId,
    kind: 'offer',
    payload: { type: 'offer', sdp: 'v=0 offer' },
  });
  t.like(await phone.next((f) => f.type === 'call.signal'), {
    callId,
    fromUserId: alice.user.id,
    fromConnectionId: caller.connectionId,
    kind: 'offer',
  });
  phone.send({
    type: 'call.signal',
    id: 'answer',
    callId,
    toConnectionId: caller.connectionId,
    kind: 'candidates',
    payload: { candidates: [{ candidate: 'candidate:1 1 udp 1 10.0.0.1 5000 typ host' }] },
  });
  t.like(await caller.next((f) => f.type === 'call.signal'), { kind: 'candidates' });
  caller.send({
    type: 'call.signal',
    id: 'stray',
    callId,
    toConnectionId: laptop.connectionId,
    kind: 'offer',
    payload: { type: 'offer', sdp: 'x' },
  });
  t.like(
    await caller.next((f) => f.id === 'stray'),
    { type: 'error', error: { code: 'not_found' } },
    'the device that did not answer is not a party',
  );
  caller.send({
    type: 'call.signal',
    id: 'big',
    callId,
    toConnectionId: phone.connectionId,
    kind: 'offer',
    payload: { type: 'offer', sdp: 'x'.repeat(17_000) },
  });
  t.like(await caller.next((f) => f.id === 'big'), { type: 'error', error: { code: 'validation_failed' } });

  const ended = await api(alice, 'POST', `/api/calls/${callId}/end`, {});
  t.like(ended.body.call, { state: 'ended', reason: 'hangup', outcome: 'answered' });
  for (const socket of [caller, phone, laptop]) t.like(await socket.next((f) => f.type === 'call.ended'), { callId, reason: 'hangup' });
  t.false(
    laptop.frames.some((f) => f.type === 'call.signal'),
    'no signaling ever reached the other device',
  );
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

test('hanging up takes no body, as rejecting does: none, or an empty one, ends the call as a hangup', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const [caller, callee] = [await device(alice), await device(bob)];
  t.teardown(() => [caller, callee].forEach((s) => s.close()));
  const withoutBody = { label: 'no body at all', headers: {}, raw: undefined };
  const emptyJson = { label: 'an empty JSON body', headers: { 'content-type': 'application/json' }, raw: '' };
  for (const { label, headers, raw } of [withoutBody, emptyJson]) {
    const call = (await api(alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).body.call;
    t.is((await api(bob, 'POST', `/api/calls/${call.id}/answer`, { connectionId: callee.connectionId })).status, 200);
    const ended = await request(app.url, 'POST', `/api/calls/${call.id}/end`, {
      token: alice.accessToken,
      headers,
      ...(raw === undefined ? {} : { raw }),
    });
    t.is(ended.status, 200, label);
    t.like(ended.body.call, { state: 'ended', reason: 'hangup', outcome: 'answered' }, label);
    const events = await app.eventStore.readStream(`call-${call.id}`);
    t.deepEqual(
      events.map((event) => event.type),
      ['CallInitiated', 'CallAnswered', 'CallEnded'],
      label,
    );
    t.like(events.at(-1)!.data, { callId: call.id, reason: 'hangup', endedBy: alice.user.id }, label);
  }
});

test('glare: calling someone who is calling you finds their call; a block refuses the call either way', async (t) => {
  const [alice, bob, carol] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const first = (await api(alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).body.call;
  const glare = await api(bob, 'POST', '/api/calls/initiate', { calleeId: alice.user.id, media: 'audio' });
  t.is(glare.status, 409);
  t.like(glare.body.error, { code: 'call_in_progress', details: { callId: first.id } });
  await api(alice, 'POST', `/api/calls/${first.id}/end`, {});
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
  const register = async (name: string) =>
    (
      await request(server.url, 'POST', '/auth/register', {
        body: { email: `${name}@example.test`, username: name, password: 'a long password' },
      })
    ).body;
  const [alice, bob] = [await register(`ring_a_${process.pid}`), await register(`ring_b_${process.pid}`)];
  const callId = (
    await request(server.url, 'POST', '/api/calls/initiate', { token: alice.accessToken, body: { calleeId: bob.user.id, media: 'audio' } })
  ).body.call.id;
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
  t.teardown(() => {
    staysSocket.close();
    removedSocket.close();
  });
  const callId = (await api(owner, 'POST', '/api/calls/initiate', { groupId: group.id, media: 'audio' })).body.call.id;
  await api(stays, 'POST', `/api/calls/${callId}/answer`, { connectionId: staysSocket.connectionId });
  await api(owner, 'DELETE', `/api/groups/${group.id}/members/${removed.user.id}`);
  t.is((await api(removed, 'POST', `/api/calls/${callId}/answer`, { connectionId: removedSocket.connectionId })).status, 404);
  t.is((await api(removed, 'GET', `/api/calls/${callId}`)).status, 404);
  removedSocket.send({
    type: 'call.signal',
    id: 'sneak',
    callId,
    toConnectionId: staysSocket.connectionId,
    kind: 'offer',
    payload: { type: 'offer', sdp: 'x' },
  });
  t.like(await removedSocket.next((f) => f.id === 'sneak'), { type: 'error', error: { code: 'not_found' } });
  const ownerSocket = await device(owner);
  t.teardown(() => ownerSocket.close());
  ownerSocket.send({
    type: 'call.signal',
    id: 'offer',
    callId,
    toConnectionId: staysSocket.connectionId,
    kind: 'offer',
    payload: { type: 'offer', sdp: 'v=0' },
  });
  t.like(
    await staysSocket.next((f) => f.type === 'call.signal'),
    { fromUserId: owner.user.id },
    'the caller signals from any device in a group call too',
  );
  await api(owner, 'POST', `/api/calls/${callId}/end`, {});
  await staysSocket.next((f) => f.type === 'call.ended' && f.callId === callId);
  const removal = removedSocket.frames.findIndex((f) => f.type === 'group.updated' && f.change === 'member_removed');
  t.true(removal >= 0);
  t.false(
    removedSocket.frames.slice(removal).some((f) => f.type === 'call.ended' || f.type === 'call.participant'),
    'nothing of the call after the removal',
  );
});

test('a device already ringing for a group call is not rung for a direct call; that call is still in the history', async (t) => {
  const [alice, carol, bob] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const group = (await api(alice, 'POST', '/api/groups', { name: 'Ring', memberIds: [bob.user.id] })).body.group;
  const phone = await device(bob);
  t.teardown(() => phone.close());
  const first = (await api(alice, 'POST', '/api/calls/initiate', { groupId: group.id, media: 'audio' })).body.call.id;
  await phone.next((f) => f.type === 'call.incoming' && f.callId === first);
  const second = (await api(carol, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).body.call.id;
  await api(alice, 'POST', `/api/calls/${first}/end`, {});
  await phone.next((f) => f.type === 'call.ended' && f.callId === first);
  t.false(
    phone.frames.some((f) => f.type === 'call.incoming' && f.callId === second),
    'not rung while ringing for the first',
  );
  t.like((await api(bob, 'GET', `/api/calls/${second}`)).body.call, { state: 'ringing', direction: 'incoming' });
  await api(carol, 'POST', `/api/calls/${second}/end`, {});
});

test('calls at once: of two calls involving one person, exactly one rings, the other is call_in_progress (30 trials each)', async (t) => {
  const initiate = (from: User, to: User) => api(from, 'POST', '/api/calls/initiate', { calleeId: to.user.id, media: 'audio' });
  const oneRings = async (trial: string, attempts: Array<Promise<Awaited<ReturnType<typeof api>>>>) => {
    const answers = await Promise.all(attempts);
    t.deepEqual(answers.map((answer) => answer.status).sort(), [201, 409], trial);
    const winner = answers.find((answer) => answer.status === 201)!;
    const loser = answers.find((answer) => answer.status === 409)!;
    t.is(loser.body.error.code, 'call_in_progress', trial);
    t.deepEqual(await callEvents(winner.body.call.id), ['CallInitiated'], trial);
    return { winner, loser };
  };
  for (let trial = 0; trial < 30; trial++) {
    const [alice, bob, carol] = await Promise.all([registerUser(app.url), registerUser(app.url), registerUser(app.url)]);
    // Glare: both call each other; the one who lost is told which call to answer.
    const glare = await oneRings(`glare ${trial}`, [initiate(alice, bob), initiate(bob, alice)]);
    t.like(glare.loser.body.error, { details: { callId: glare.winner.body.call.id } });
    const caller = glare.winner.body.call.callerId === alice.user.id ? alice : bob;
    await api(caller, 'POST', `/api/calls/${glare.winner.body.call.id}/end`, {});
    // Two callers for one callee, and one caller calling two people: someone not in the call learns no call id.
    const busy = await oneRings(`one callee ${trial}`, [initiate(alice, carol), initiate(bob, carol)]);
    t.is(busy.loser.body.error.details, undefined, 'the busy call is not named to a stranger');
    await api(busy.winner.body.call.callerId === alice.user.id ? alice : bob, 'POST', `/api/calls/${busy.winner.body.call.id}/end`, {});
    await oneRings(`one caller ${trial}`, [initiate(carol, alice), initiate(carol, bob)]);
  }
});

test('a call that ended frees everyone in it for the next call', async (t) => {
  const [alice, bob, carol] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const first = (await api(alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).body.call.id;
  t.is((await api(carol, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).status, 409, 'bob is being called');
  await api(bob, 'POST', `/api/calls/${first}/reject`);
  t.is((await api(carol, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).status, 201);
  t.is((await api(alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' })).status, 409);
  t.is((await api(alice, 'POST', '/api/calls/initiate', { calleeId: carol.user.id, media: 'audio' })).status, 409, 'carol is calling');
});

test('a group call: every join is call.participant and the others keep ringing; the caller hanging up ends it for everyone; whoever joined and left has it as answered', async (t) => {
  const [owner, first, second, third] = (await Promise.all([1, 2, 3, 4].map(() => registerUser(app.url)))) as [User, User, User, User];
  const group = (await api(owner, 'POST', '/api/groups', { name: 'Retro', memberIds: [first, second, third].map((m) => m.user.id) })).body
    .group;
  const [ownerSocket, firstSocket, secondSocket, thirdSocket] = await Promise.all([owner, first, second, third].map((who) => device(who)));
  t.teardown(() => [ownerSocket, firstSocket, secondSocket, thirdSocket].forEach((s) => s!.close()));
  const callId = (await api(owner, 'POST', '/api/calls/initiate', { groupId: group.id, media: 'video' })).body.call.id;
  for (const socket of [firstSocket, secondSocket, thirdSocket])
    await socket!.next((f) => f.type === 'call.incoming' && f.callId === callId);

  t.is((await api(first, 'POST', `/api/calls/${callId}/answer`, { connectionId: firstSocket!.connectionId })).status, 200);
  for (const socket of [ownerSocket, secondSocket]) {
    t.like(await socket!.next((f) => f.callId === callId && f.type !== 'call.incoming'), {
      type: 'call.participant',
      userId: first.user.id,
      change: 'joined',
    });
  }
  t.is(
    (await api(second, 'POST', `/api/calls/${callId}/answer`, { connectionId: secondSocket!.connectionId })).status,
    200,
    'still ringing for the others',
  );
  t.is((await api(first, 'POST', `/api/calls/${callId}/end`, {})).status, 200);
  t.like(await ownerSocket!.next((f) => f.type === 'call.participant' && f.change === 'left'), { userId: first.user.id });
  t.is((await api(third, 'POST', `/api/calls/${callId}/answer`, { connectionId: thirdSocket!.connectionId })).status, 200);

  const ended = await api(owner, 'POST', `/api/calls/${callId}/end`, {});
  t.like(ended.body.call, { state: 'ended', reason: 'hangup', outcome: 'answered' });
  for (const socket of [firstSocket, secondSocket, thirdSocket])
    t.like(await socket!.next((f) => f.type === 'call.ended' && f.callId === callId), { reason: 'hangup' });
  t.false(
    [ownerSocket, firstSocket, secondSocket, thirdSocket].some((s) =>
      s!.frames.some((f) => f.type === 'call.answered' && f.callId === callId),
    ),
  );
  t.deepEqual(await callEvents(callId), [
    'CallInitiated',
    'CallParticipantJoined',
    'CallParticipantJoined',
    'CallParticipantLeft',
    'CallParticipantJoined',
    'CallEnded',
  ]);
  t.like((await api(first, 'GET', `/api/calls/${callId}`)).body.call, { outcome: 'answered' }, 'joined, then left: answered, not missed');
  t.is(
    (await api(owner, 'POST', '/api/calls/initiate', { groupId: group.id, media: 'audio' })).status,
    201,
    'the group is free for a new call',
  );
});

test('in a group call only those in it signal: not a caller who dropped out, not a member removed from the group', async (t) => {
  const [owner, stays, removed] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const group = (await api(owner, 'POST', '/api/groups', { name: 'Mesh', memberIds: [stays.user.id, removed.user.id] })).body.group;
  const [ownerSocket, staysSocket, removedSocket] = [await device(owner), await device(stays), await device(removed)];
  t.teardown(() => {
    staysSocket.close();
    removedSocket.close();
  });
  const callId = (await api(owner, 'POST', '/api/calls/initiate', { groupId: group.id, media: 'audio' })).body.call.id;
  await api(stays, 'POST', `/api/calls/${callId}/answer`, { connectionId: staysSocket.connectionId });
  await api(removed, 'POST', `/api/calls/${callId}/answer`, { connectionId: removedSocket.connectionId });
  await api(owner, 'DELETE', `/api/groups/${group.id}/members/${removed.user.id}`);
  staysSocket.send({
    type: 'call.signal',
    id: 'to-removed',
    callId,
    toConnectionId: removedSocket.connectionId,
    kind: 'offer',
    payload: { type: 'offer', sdp: 'x' },
  });
  t.like(
    await staysSocket.next((f) => f.id === 'to-removed'),
    { type: 'error', error: { code: 'not_found' } },
    'no signaling reaches a member removed from the group',
  );

  ownerSocket.close();
  t.like(await staysSocket.next((f) => f.type === 'call.participant' && f.change === 'left' && f.userId === owner.user.id, 5_000), {
    callId,
  });
  const back = await device(owner);
  t.teardown(() => back.close());
  back.send({
    type: 'call.signal',
    id: 'after-leaving',
    callId,
    toConnectionId: staysSocket.connectionId,
    kind: 'offer',
    payload: { type: 'offer', sdp: 'x' },
  });
  t.like(
    await back.next((f) => f.id === 'after-leaving'),
    { type: 'error', error: { code: 'not_found' } },
    'a caller who left signals no more',
  );
  t.false(removedSocket.frames.some((f) => f.type === 'call.signal'));
  t.false(staysSocket.frames.some((f) => f.type === 'call.signal'));
});
