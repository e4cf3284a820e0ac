import test from 'ava';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app.dispose();
});

type User = Awaited<ReturnType<typeof registerUser>>;

async function syncedSocket(user: User, since?: number): Promise<TestSocket> {
  const socket = await connect(app.wsUrl, user.accessToken);
  socket.send(since === undefined ? { type: 'sync', id: 's' } : { type: 'sync', id: 's', since });
  await socket.next((f) => f.type === 'sync.snapshot' || f.type === 'sync.ok');
  return socket;
}

const send = (from: User, body: Record<string, unknown>) => request(app.url, 'POST', '/api/messages', { token: from.accessToken, body });

test('A sends to B over REST; B receives it live; the conversation lists it with an unread count', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const bSocket = await syncedSocket(b);
  const sent = await send(a, { recipientId: b.user.id, text: 'hello B', clientMessageId: 'c-1' });
  t.is(sent.status, 201);
  t.like(sent.body.message, { senderId: a.user.id, recipientId: b.user.id, content: { kind: 'text', text: 'hello B' } });
  const live = await bSocket.next((f) => f.type === 'message.created');
  t.is(live.message.id, sent.body.message.id);
  t.is(live.position, sent.body.message.position);

  const list = await request(app.url, 'GET', '/api/conversations', { token: b.accessToken });
  t.like(list.body.conversations[0], {
    kind: 'direct',
    unreadCount: 1,
    lastMessage: { id: sent.body.message.id, preview: 'hello B' },
    peer: { id: a.user.id },
  });
  bSocket.close();
});

test('a retried send with the same clientMessageId returns the original message and stores one', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const first = await send(a, { recipientId: b.user.id, text: 'once', clientMessageId: 'retry-me' });
  const again = await send(a, { recipientId: b.user.id, text: 'once', clientMessageId: 'retry-me' });
  t.is(first.status, 201);
  t.is(again.status, 200);
  t.deepEqual(again.body.message, first.body.message);
  const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
  t.is(page.body.messages.length, 1);
});

test('messages page newest first with before/after cursors; only participants may read', async (t) => {
  const [a, b, eve] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await send(a, { recipientId: b.user.id, text: `m${i}` })).body.message.id);
  const first = await request(app.url, 'GET', `/api/messages?with=${a.user.id}&limit=2`, { token: b.accessToken });
  t.deepEqual(
    first.body.messages.map((m: any) => m.content.text),
    ['m4', 'm3'],
  );
  t.true(first.body.hasMore);
  const second = await request(app.url, 'GET', `/api/messages?with=${a.user.id}&limit=2&before=${first.body.cursors.before}`, {
    token: b.accessToken,
  });
  t.deepEqual(
    second.body.messages.map((m: any) => m.content.text),
    ['m2', 'm1'],
  );
  const newer = await request(app.url, 'GET', `/api/messages?with=${a.user.id}&limit=2&after=${second.body.cursors.after}`, {
    token: b.accessToken,
  });
  t.deepEqual(
    newer.body.messages.map((m: any) => m.content.text),
    ['m4', 'm3'],
  );

  // Eve is in neither conversation: she reads nothing of it, edits nothing, deletes nothing.
  const evesView = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: eve.accessToken });
  t.deepEqual(evesView.body.messages, [], 'her own conversation with A is empty');
  t.is((await request(app.url, 'GET', `/api/messages/${ids[0]}/history`, { token: eve.accessToken })).status, 404);
  t.is((await request(app.url, 'PUT', `/api/messages/${ids[0]}`, { token: eve.accessToken, body: { text: 'hijack' } })).status, 404);
  t.is((await request(app.url, 'DELETE', `/api/messages/${ids[0]}?scope=everyone`, { token: eve.accessToken })).status, 404);
  t.is(
    (await request(app.url, 'POST', '/api/messages/read', { token: eve.accessToken, body: { with: a.user.id, messageId: ids[0] } })).status,
    404,
  );
});

test('only the sender edits; the edit history comes from the log; delete for everyone leaves a tombstone', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const bSocket = await syncedSocket(b);
  const { id } = (await send(a, { recipientId: b.user.id, text: 'first draft' })).body.message;
  t.is((await request(app.url, 'PUT', `/api/messages/${id}`, { token: b.accessToken, body: { text: 'not yours' } })).status, 403);
  const edited = await request(app.url, 'PUT', `/api/messages/${id}`, { token: a.accessToken, body: { text: 'second draft' } });
  t.is(edited.status, 200);
  t.truthy(edited.body.message.editedAt);
  t.like(await bSocket.next((f) => f.type === 'message.edited'), { message: { id, content: { text: 'second draft' } } });
  const history = await request(app.url, 'GET', `/api/messages/${id}/history`, { token: b.accessToken });
  t.deepEqual(
    history.body.versions.map((v: any) => v.content.text),
    ['first draft', 'second draft'],
  );

  t.is((await request(app.url, 'DELETE', `/api/messages/${id}?scope=everyone`, { token: b.accessToken })).status, 403);
  t.is((await request(app.url, 'DELETE', `/api/messages/${id}?scope=everyone`, { token: a.accessToken })).status, 204);
  t.like(await bSocket.next((f) => f.type === 'message.deleted'), { scope: 'everyone', message: { id, content: null } });
  const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
  t.like(page.body.messages[0], { id, content: null });
  t.truthy(page.body.messages[0].deletedAt);
  t.deepEqual((await request(app.url, 'GET', `/api/messages/${id}/history`, { token: b.accessToken })).body.versions, []);
  bSocket.close();
});

test('delete for me hides a message from that participant only', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const { id } = (await send(a, { recipientId: b.user.id, text: 'hide me' })).body.message;
  t.is((await request(app.url, 'DELETE', `/api/messages/${id}?scope=me`, { token: b.accessToken })).status, 204);
  t.deepEqual((await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken })).body.messages, []);
  t.is((await request(app.url, 'GET', `/api/messages?with=${b.user.id}`, { token: a.accessToken })).body.messages.length, 1);
});

test.serial('fetching marks delivered, the read watermark marks read; the sender sees both live and unread counts follow', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const aSocket = await syncedSocket(a);
  const m1 = (await send(a, { recipientId: b.user.id, text: 'one' })).body.message;
  const m2 = (await send(a, { recipientId: b.user.id, text: 'two' })).body.message;
  await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
  t.like(await aSocket.next((f) => f.type === 'receipt' && f.receipt === 'delivered'), { userId: b.user.id, upTo: { messageId: m2.id } });
  const read = await request(app.url, 'POST', '/api/messages/read', { token: b.accessToken, body: { with: a.user.id, messageId: m1.id } });
  t.is(read.status, 200);
  t.like(await aSocket.next((f) => f.type === 'receipt' && f.receipt === 'read'), { userId: b.user.id, upTo: { messageId: m1.id } });
  const view = await request(app.url, 'GET', `/api/messages?with=${b.user.id}`, { token: a.accessToken });
  t.deepEqual(
    view.body.messages.map((m: any) => m.status),
    ['delivered', 'read'],
  );
  const conversations = await request(app.url, 'GET', '/api/conversations', { token: b.accessToken });
  t.is(conversations.body.conversations[0].unreadCount, 1);
  // Moving the watermark backwards appends nothing.
  const head = await app.eventStore.headPosition();
  await request(app.url, 'POST', '/api/messages/read', { token: b.accessToken, body: { with: a.user.id, messageId: m1.id } });
  t.is(await app.eventStore.headPosition(), head);
  aSocket.close();
});

test('B offline, then syncing from its last position, gets exactly what it missed, in order, then live', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const online = await syncedSocket(b);
  await send(a, { recipientId: b.user.id, text: 'seen live' });
  const lastSeen = (await online.next((f) => f.type === 'message.created')).position;
  online.close();
  await online.closed;
  const missed: string[] = [];
  for (let i = 0; i < 4; i++) missed.push((await send(a, { recipientId: b.user.id, text: `missed ${i}` })).body.message.id);

  const back = await connect(app.wsUrl, b.accessToken);
  back.send({ type: 'sync', id: 'resume', since: lastSeen });
  const done = await back.next((f) => f.type === 'sync.ok');
  const replayed = back.frames.filter((f) => f.type === 'message.created');
  t.deepEqual(
    replayed.map((f) => f.message.id),
    missed,
  );
  t.is(done.position, replayed.at(-1).position);
  const after = (await send(a, { recipientId: b.user.id, text: 'live again' })).body.message;
  t.is((await back.next((f) => f.type === 'message.created' && f.message.id === after.id)).position, after.position);
  t.is(back.frames.filter((f) => f.type === 'message.created').length, 5, 'no duplicate');
  back.close();
});

test('a group of three: everyone receives; a removed member stops receiving at once and can no longer read', async (t) => {
  const [owner, b, c] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const created = await request(app.url, 'POST', '/api/groups', {
    token: owner.accessToken,
    body: { name: 'Trio', memberIds: [b.user.id, c.user.id] },
  });
  t.is(created.status, 201);
  const groupId = created.body.group.id;
  const [bSocket, cSocket] = [await syncedSocket(b), await syncedSocket(c)];
  const hello = (await send(owner, { groupId, text: 'hello all' })).body.message;
  await bSocket.next((f) => f.type === 'message.created' && f.message.id === hello.id);
  await cSocket.next((f) => f.type === 'message.created' && f.message.id === hello.id);

  t.is((await request(app.url, 'PUT', `/api/groups/${groupId}`, { token: b.accessToken, body: { name: 'Mine' } })).status, 403);
  t.is((await request(app.url, 'DELETE', `/api/groups/${groupId}/members/${c.user.id}`, { token: b.accessToken })).status, 403);
  t.is((await request(app.url, 'DELETE', `/api/groups/${groupId}/members/${c.user.id}`, { token: owner.accessToken })).status, 204);
  t.like(await cSocket.next((f) => f.type === 'group.updated' && f.change === 'member_removed'), { userId: c.user.id });

  const secret = (await send(owner, { groupId, text: 'after c left' })).body.message;
  await bSocket.next((f) => f.type === 'message.created' && f.message.id === secret.id);
  t.false(cSocket.frames.some((f) => f.type === 'message.created' && f.message.id === secret.id));
  t.is((await request(app.url, 'GET', `/api/messages?groupId=${groupId}`, { token: c.accessToken })).status, 404);
  t.is((await send(c, { groupId, text: 'let me in' })).status, 403);
  t.is((await request(app.url, 'GET', `/api/groups/${groupId}`, { token: c.accessToken })).status, 404);
  const resumed = await connect(app.wsUrl, c.accessToken);
  resumed.send({ type: 'sync', since: 0 });
  await resumed.next((f) => f.type === 'sync.ok');
  t.false(
    resumed.frames.some((f) => f.type === 'message.created' && f.message.id === secret.id),
    'not in their sync either',
  );
  const page = await request(app.url, 'GET', `/api/messages?groupId=${groupId}`, { token: b.accessToken });
  t.deepEqual(
    page.body.messages.map((m: any) => m.content.text),
    ['after c left', 'hello all'],
  );
  for (const socket of [bSocket, cSocket, resumed]) socket.close();
});

test('group roles: admins manage, members leave, the owner hands over ownership', async (t) => {
  const [owner, admin, member] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const groupId = (await request(app.url, 'POST', '/api/groups', { token: owner.accessToken, body: { name: 'Club' } })).body.group.id;
  t.is(
    (
      await request(app.url, 'POST', `/api/groups/${groupId}/members`, {
        token: owner.accessToken,
        body: { userId: admin.user.id, role: 'admin' },
      })
    ).status,
    200,
  );
  const added = await request(app.url, 'POST', `/api/groups/${groupId}/members`, {
    token: admin.accessToken,
    body: { userId: member.user.id },
  });
  t.is(added.body.group.members.length, 3);
  const renamed = await request(app.url, 'PUT', `/api/groups/${groupId}`, {
    token: admin.accessToken,
    body: { name: 'Club 2', description: 'new' },
  });
  t.like(renamed.body.group, { name: 'Club 2', description: 'new' });
  t.is(
    (await request(app.url, 'POST', `/api/groups/${groupId}/owner`, { token: admin.accessToken, body: { userId: admin.user.id } })).status,
    403,
  );
  const handed = await request(app.url, 'POST', `/api/groups/${groupId}/owner`, {
    token: owner.accessToken,
    body: { userId: admin.user.id },
  });
  t.is(handed.body.group.ownerId, admin.user.id);
  t.is((await request(app.url, 'DELETE', `/api/groups/${groupId}/members/${member.user.id}`, { token: member.accessToken })).status, 204);
  const mine = await request(app.url, 'GET', '/api/groups', { token: member.accessToken });
  t.deepEqual(mine.body.groups, []);
  const theirs = await request(app.url, 'GET', '/api/groups', { token: owner.accessToken });
  t.deepEqual(
    theirs.body.groups.map((g: any) => g.id),
    [groupId],
  );
});

test.serial('socket commands: send and read are acked with id and position; typing is relayed, never stored', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const [aSocket, bSocket] = [await syncedSocket(a), await syncedSocket(b)];
  aSocket.send({ type: 'message.send', id: 'f1', recipientId: b.user.id, text: 'over the socket', clientMessageId: 'ws-1' });
  const ack = await aSocket.next((f) => f.type === 'message.send.ok');
  t.like(ack, { id: 'f1', created: true });
  t.true(ack.position > 0);
  await bSocket.next((f) => f.type === 'message.created' && f.message.id === ack.messageId);
  aSocket.send({ type: 'message.send', id: 'f2', recipientId: b.user.id, text: 'over the socket', clientMessageId: 'ws-1' });
  t.like(await aSocket.next((f) => f.type === 'message.send.ok' && f.id === 'f2'), { messageId: ack.messageId, created: false });

  bSocket.send({ type: 'message.read', id: 'r1', with: a.user.id, messageId: ack.messageId });
  t.like(await bSocket.next((f) => f.type === 'message.read.ok'), { id: 'r1', messageId: ack.messageId });
  await aSocket.next((f) => f.type === 'receipt' && f.receipt === 'read');

  const head = await app.eventStore.headPosition();
  bSocket.send({ type: 'typing', id: 't1', with: a.user.id });
  t.like(await aSocket.next((f) => f.type === 'typing'), { userId: b.user.id, expiresInMs: 5000 });
  t.is(await app.eventStore.headPosition(), head);
  aSocket.close();
  bSocket.close();
});

test.serial('socket denials and bad frames: error frames, nothing appended, the socket keeps serving', async (t) => {
  const [a, b, eve] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const groupId = (
    await request(app.url, 'POST', '/api/groups', { token: a.accessToken, body: { name: 'Private', memberIds: [b.user.id] } })
  ).body.group.id;
  const { id } = (await send(a, { groupId, text: 'members only' })).body.message;
  const eveSocket = await syncedSocket(eve);
  const head = await app.eventStore.headPosition();
  const attempts = [
    { type: 'message.send', id: 'x1', groupId, text: 'intrude' },
    { type: 'message.read', id: 'x2', groupId, messageId: id },
    { type: 'typing', id: 'x3', groupId },
    { type: 'message.send', id: 'x4', recipientId: b.user.id, text: '' },
    { type: 'message.send', id: 'x5', recipientId: { $gt: '' }, text: 'hi' },
    { type: 'message.send', id: 'x6', recipientId: b.user.id, text: 'hi', admin: true },
    { type: 'message.send', id: 'x7', recipientId: '00000000-0000-4000-8000-000000000000', text: 'nobody' },
    { type: 'sync', id: 'x8', since: -1 },
  ];
  for (const frame of attempts) eveSocket.send(frame);
  const errors = await Promise.all(attempts.map((frame) => eveSocket.next((f) => f.type === 'error' && f.id === frame.id)));
  t.deepEqual(
    errors.map((e) => e.error.code),
    [
      'forbidden',
      'not_found',
      'not_found',
      'validation_failed',
      'validation_failed',
      'validation_failed',
      'not_found',
      'validation_failed',
    ],
  );
  t.is(await app.eventStore.headPosition(), head, 'nothing appended');
  t.false(eveSocket.frames.some((f) => f.type === 'message.created'));
  eveSocket.send({ type: 'ping', id: 'ok' });
  await eveSocket.next((f) => f.type === 'ping.ok');
  eveSocket.close();
});

test.serial('REST bad input: 4xx with a clear code and nothing appended', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const head = await app.eventStore.headPosition();
  const cases: Array<[unknown, number, string]> = [
    [{ recipientId: b.user.id }, 400, 'validation_failed'],
    [{ recipientId: b.user.id, text: '   ' }, 400, 'validation_failed'],
    [{ recipientId: b.user.id, text: 'x'.repeat(5000) }, 400, 'validation_failed'],
    [{ recipientId: { $gt: '' }, text: 'hi' }, 400, 'validation_failed'],
    [{ recipientId: b.user.id, groupId: b.user.id, text: 'hi' }, 400, 'validation_failed'],
    [{ recipientId: b.user.id, text: 'hi', __proto__: { admin: true }, constructor: 'x' }, 400, 'validation_failed'],
    [{ recipientId: '00000000-0000-4000-8000-000000000000', text: 'hi' }, 404, 'not_found'],
    [{ recipientId: a.user.id, text: 'me myself' }, 400, 'validation_failed'],
  ];
  for (const [body, status, code] of cases) {
    const response = await request(app.url, 'POST', '/api/messages', { token: a.accessToken, raw: JSON.stringify(body) });
    t.is(response.status, status, JSON.stringify(body));
    t.is(response.body.error.code, code);
  }
  t.is((await request(app.url, 'GET', '/api/messages?with[$gt]=', { token: a.accessToken })).status, 400);
  t.is((await request(app.url, 'GET', `/api/messages?with=${b.user.id}&limit=5000`, { token: a.accessToken })).status, 400);
  t.is((await request(app.url, 'GET', '/api/messages', { token: a.accessToken })).status, 400);
  t.is((await request(app.url, 'PUT', '/api/messages/not-a-uuid', { token: a.accessToken, body: { text: 'x' } })).status, 400);
  t.is((await request(app.url, 'GET', `/api/messages?with=${b.user.id}`)).status, 401);
  t.is(await app.eventStore.headPosition(), head);
});

test.serial(
  'a request body where the operation takes none is refused (DELETE /api/messages/{id} reads its scope from the query only)',
  async (t) => {
    const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
    const { id } = (await send(a, { recipientId: b.user.id, text: 'still here' })).body.message;
    const head = await app.eventStore.headPosition();
    const refused = await request(app.url, 'DELETE', `/api/messages/${id}`, {
      token: a.accessToken,
      body: { scope: 'everyone', bogus: 1 },
    });
    t.is(refused.status, 400);
    t.is(refused.body.error.code, 'validation_failed');
    t.regex(refused.body.error.message, /takes no request body/);
    const withQuery = await request(app.url, 'DELETE', `/api/messages/${id}?scope=everyone`, { token: a.accessToken, raw: '{}' });
    t.is(withQuery.status, 400, 'even an empty JSON object beside the right query');
    t.is(await app.eventStore.headPosition(), head, 'nothing appended: not hidden for the sender, not deleted for everyone');
    const seen = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
    t.like(seen.body.messages[0], { id, content: { kind: 'text', text: 'still here' } });

    const beforeDelete = await app.eventStore.headPosition();
    t.is((await request(app.url, 'DELETE', `/api/messages/${id}?scope=everyone`, { token: a.accessToken })).status, 204);
    const appended = await app.eventStore.readAll({ after: beforeDelete });
    t.deepEqual(
      appended.map((event) => [event.type, (event.data as { messageId: string }).messageId]),
      [['MessageDeleted', id]],
    );
  },
);

test('an admin cannot demote another admin (the step before removing them); the owner can', async (t) => {
  const [owner, admin1, admin2] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const groupId = (await request(app.url, 'POST', '/api/groups', { token: owner.accessToken, body: { name: 'Staff' } })).body.group.id;
  for (const admin of [admin1, admin2]) {
    await request(app.url, 'POST', `/api/groups/${groupId}/members`, {
      token: owner.accessToken,
      body: { userId: admin.user.id, role: 'admin' },
    });
  }
  const demote = await request(app.url, 'POST', `/api/groups/${groupId}/members`, {
    token: admin1.accessToken,
    body: { userId: admin2.user.id, role: 'member' },
  });
  t.is(demote.status, 403);
  t.is(demote.body.error.code, 'forbidden');
  t.is((await request(app.url, 'DELETE', `/api/groups/${groupId}/members/${admin2.user.id}`, { token: admin1.accessToken })).status, 403);
  const group = (await request(app.url, 'GET', `/api/groups/${groupId}`, { token: owner.accessToken })).body.group;
  t.is(group.members.find((m: any) => m.userId === admin2.user.id).role, 'admin');
  t.is(
    (
      await request(app.url, 'POST', `/api/groups/${groupId}/members`, {
        token: owner.accessToken,
        body: { userId: admin2.user.id, role: 'member' },
      })
    ).status,
    200,
  );
});

test('a message B deleted for itself is hidden everywhere for B: preview, live edits and deletes, sync', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const earlier = (await send(a, { recipientId: b.user.id, text: 'still visible' })).body.message;
  const hidden = (await send(a, { recipientId: b.user.id, text: 'hide me' })).body.message;
  const bSocket = await syncedSocket(b);
  t.is((await request(app.url, 'DELETE', `/api/messages/${hidden.id}?scope=me`, { token: b.accessToken })).status, 204);
  await bSocket.next((f) => f.type === 'message.deleted' && f.scope === 'me');

  const preview = (await request(app.url, 'GET', '/api/conversations', { token: b.accessToken })).body.conversations.find(
    (c: any) => c.peer?.id === a.user.id,
  );
  t.like(preview.lastMessage, { id: earlier.id, preview: 'still visible' });
  t.is(preview.unreadCount, 1, 'the hidden message is not unread either');
  t.like((await request(app.url, 'GET', '/api/conversations', { token: a.accessToken })).body.conversations[0].lastMessage, {
    id: hidden.id,
  });

  const edited = await request(app.url, 'PUT', `/api/messages/${hidden.id}`, { token: a.accessToken, body: { text: 'edited secret' } });
  t.is(edited.status, 200);
  t.is((await request(app.url, 'DELETE', `/api/messages/${hidden.id}?scope=everyone`, { token: a.accessToken })).status, 204);
  // A later message proves the live stream went on past the edit and the delete.
  const later = (await send(a, { recipientId: b.user.id, text: 'after' })).body.message;
  await bSocket.next((f) => f.type === 'message.created' && f.message.id === later.id);
  t.false(
    bSocket.frames.some((f) => f.type === 'message.edited' || (f.type === 'message.deleted' && f.scope === 'everyone')),
    JSON.stringify(bSocket.frames.map((f) => f.type)),
  );
  t.false(JSON.stringify(bSocket.frames).includes('edited secret'));
  const replay = await syncedSocket(b, earlier.position);
  t.false(replay.frames.some((f) => f.type === 'message.edited'));
  bSocket.close();
  replay.close();
});
