/**
 * README behaviours that had no test (issue 7, item 24): each test names the documented behaviour it proves
 * and fails when the server stops behaving that way. Real servers on ephemeral ports, real sockets.
 */
import { randomBytes, randomUUID } from 'node:crypto';
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

async function syncedSocket(user: User, on: TestApp = app): Promise<TestSocket> {
  const socket = await connect(on.wsUrl, user.accessToken);
  socket.send({ type: 'sync', id: 's' });
  await socket.next((f) => f.type === 'sync.snapshot');
  return socket;
}

const send = (from: User, body: Record<string, unknown>) => request(app.url, 'POST', '/api/messages', { token: from.accessToken, body });
const createGroup = (owner: User, body: Record<string, unknown>) =>
  request(app.url, 'POST', '/api/groups', { token: owner.accessToken, body });

/** Base64 of random bytes, starting with bytes whose base64 is `++//` so the alphabet's awkward characters are in it. */
const base64Bytes = (size: number) => Buffer.concat([Buffer.from([0xfb, 0xef, 0xff]), randomBytes(size)]).toString('base64');

// 1. Close codes: `1001 server_shutdown`.
test('closing the app closes a connected, synced socket with 1001 server_shutdown', async (t) => {
  const own = await startTestApp();
  try {
    const user = await registerUser(own.url);
    const socket = await syncedSocket(user, own);
    t.like(socket.frames[0], { type: 'welcome', userId: user.user.id });
    await own.stop();
    t.deepEqual(await socket.closed, { code: 1001, reason: 'server_shutdown' });
  } finally {
    await own.dispose();
  }
});

// 2. "Connect to ws://HOST:WS_PORT/ws?token=<accessToken> (or send Authorization: Bearer <token> on the upgrade)".
test('a socket upgrade with Authorization: Bearer and no ?token= is welcomed and goes live; a wrong bearer is closed with 4401', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  t.false(app.wsUrl.includes('?'), 'the URL carries no token');

  const good = await connect(app.wsUrl, undefined, { Authorization: `Bearer ${b.accessToken}` });
  t.like(await good.next((f) => f.type === 'welcome'), { userId: b.user.id });
  good.send({ type: 'sync', id: 's' });
  await good.next((f) => f.type === 'sync.snapshot');
  const sent = (await send(a, { recipientId: b.user.id, text: 'to a bearer socket' })).body.message;
  t.is((await good.next((f) => f.type === 'message.created')).message.id, sent.id);
  good.socket.close();

  const bad = await connect(app.wsUrl, undefined, { Authorization: 'Bearer not.a.valid-token' });
  const { code, reason } = await bad.closed;
  t.is(code, 4401);
  t.is(reason, 'invalid_token');
  t.false(bad.frames.some((f) => f.type === 'welcome'));
  t.like(
    bad.frames.find((f) => f.type === 'error'),
    { error: { code: 'invalid_token' } },
  );
});

// 3. "Encrypted payloads are stored and relayed as they are: the server never reads them."
test('an encrypted payload is stored and relayed unchanged (201, live frame, GET) and an edit keeps the encrypted kind', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const bSocket = await syncedSocket(b);
  const encrypted = {
    ciphertext: base64Bytes(300),
    nonce: base64Bytes(21),
    algorithm: 'x25519-xsalsa20-poly1305',
    recipientKeyId: `key:${b.user.id}.1`,
  };
  const expected = { kind: 'encrypted', ...encrypted };

  const sent = await send(a, { recipientId: b.user.id, encrypted });
  t.is(sent.status, 201);
  t.deepEqual(sent.body.message.content, expected, "the sender's 201");
  const id = sent.body.message.id;
  const live = await bSocket.next((f) => f.type === 'message.created' && f.message.id === id);
  t.deepEqual(live.message.content, expected, "the recipient's live frame");
  const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
  t.deepEqual(page.body.messages.find((m: any) => m.id === id).content, expected, 'GET /api/messages');

  // An edit keeps the kind: text over an encrypted message is refused and changes nothing.
  const asText = await request(app.url, 'PUT', `/api/messages/${id}`, { token: a.accessToken, body: { text: 'now readable' } });
  t.is(asText.status, 400);
  t.is(asText.body.error.code, 'validation_failed');
  const unchanged = await request(app.url, 'GET', `/api/messages?with=${b.user.id}`, { token: a.accessToken });
  t.like(unchanged.body.messages[0], { id, content: expected, editedAt: null });

  // An encrypted edit is stored and relayed unchanged too.
  const reEncrypted = { ...encrypted, ciphertext: base64Bytes(120), nonce: base64Bytes(21) };
  const edited = await request(app.url, 'PUT', `/api/messages/${id}`, { token: a.accessToken, body: { encrypted: reEncrypted } });
  t.is(edited.status, 200);
  t.deepEqual(edited.body.message.content, { kind: 'encrypted', ...reEncrypted });
  const liveEdit = await bSocket.next((f) => f.type === 'message.edited' && f.message.id === id);
  t.deepEqual(liveEdit.message.content, { kind: 'encrypted', ...reEncrypted });
  bSocket.close();
});

// 4. POST /api/messages: "replyTo"?, "attachments"?: [mediaId] of the sender's files; "at most 10 attachments".
test('replyTo is stored for a message of the same conversation and refused (400) for one of another conversation', async (t) => {
  const [a, b, c] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const original = (await send(a, { recipientId: b.user.id, text: 'question?' })).body.message;
  const reply = await send(b, { recipientId: a.user.id, text: 'answer', replyTo: original.id });
  t.is(reply.status, 201);
  t.is(reply.body.message.replyTo, original.id);
  const page = await request(app.url, 'GET', `/api/messages?with=${b.user.id}`, { token: a.accessToken });
  t.is(page.body.messages.find((m: any) => m.id === reply.body.message.id).replyTo, original.id);
  t.is(page.body.messages.find((m: any) => m.id === original.id).replyTo, null);

  // A message A exchanged with C is not in A's conversation with B.
  const elsewhere = (await send(a, { recipientId: c.user.id, text: 'to C' })).body.message;
  const crossed = await send(a, { recipientId: b.user.id, text: 'reply across conversations', replyTo: elsewhere.id });
  t.is(crossed.status, 400);
  t.is(crossed.body.error.code, 'validation_failed');
  const after = await request(app.url, 'GET', `/api/messages?with=${b.user.id}`, { token: a.accessToken });
  t.false(
    after.body.messages.some((m: any) => m.content?.text === 'reply across conversations'),
    'nothing stored',
  );
});

test("attachments (up to 10 of the sender's files) are stored and returned with their metadata, 11 are a 400, and delete for everyone empties them", async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const bSocket = await syncedSocket(b);
  const upload = async (n: number) =>
    (
      await fetch(`${app.url}/api/media/upload?filename=note${n}.txt`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.accessToken}`, 'content-type': 'text/plain' },
        body: `note ${n}`,
      })
    ).json() as Promise<{ media: { id: string } }>;
  const attachments = await Promise.all(Array.from({ length: 10 }, async (_, n) => (await upload(n)).media.id));
  const sent = await send(a, { recipientId: b.user.id, text: 'ten files', attachments });
  t.is(sent.status, 201);
  t.deepEqual(sent.body.message.attachments, attachments);
  t.like(sent.body.message.files[0], { id: attachments[0], kind: 'text', filename: 'note0.txt', size: 6, deleted: false });
  const { id } = sent.body.message;
  const live = await bSocket.next((f) => f.type === 'message.created' && f.message.id === id);
  t.deepEqual(live.message.attachments, attachments);
  t.deepEqual(
    live.message.files.map((f: any) => f.id),
    attachments,
  );
  const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
  t.deepEqual(page.body.messages.find((m: any) => m.id === id).attachments, attachments);
  t.is(page.body.messages.find((m: any) => m.id === id).files[9].filename, 'note9.txt');
  const someoneElses = await send(b, { recipientId: a.user.id, text: 'not mine', attachments: [attachments[0]] });
  t.is(someoneElses.status, 422);
  t.is(someoneElses.body.error.code, 'invalid_attachment');
  t.is(
    (await send(a, { recipientId: b.user.id, text: 'unknown file', attachments: [randomUUID()] })).body.error.code,
    'invalid_attachment',
  );

  const eleven = await send(a, { recipientId: b.user.id, text: 'eleven files', attachments: [...attachments, randomUUID()] });
  t.is(eleven.status, 400);
  t.is(eleven.body.error.code, 'validation_failed');
  const notIds = await send(a, { recipientId: b.user.id, text: 'not ids', attachments: ['photo.jpg'] });
  t.is(notIds.status, 400);

  t.is((await request(app.url, 'DELETE', `/api/messages/${id}?scope=everyone`, { token: a.accessToken })).status, 204);
  t.like(await bSocket.next((f) => f.type === 'message.deleted' && f.message.id === id), {
    scope: 'everyone',
    message: { content: null, attachments: [] },
  });
  const tombstone = (await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken })).body.messages;
  t.deepEqual(
    tombstone.map((m: any) => ({ id: m.id, attachments: m.attachments })),
    [{ id, attachments: [] }],
    'only the tombstone, without attachments',
  );
  bSocket.close();
});

// 5. "Your own messages carry ... deliveredCount/readCount (group). Fetching marks what others sent as delivered to you."
test("a group message's deliveredCount/readCount go 0/0, 1/0 on a member's fetch, 1/1 on their read, 2/2 on a second member's read", async (t) => {
  const [sender, m1, m2] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const groupId = (await createGroup(sender, { name: 'Counts', memberIds: [m1.user.id, m2.user.id] })).body.group.id;
  const senderSocket = await syncedSocket(sender);
  const message = (await send(sender, { groupId, text: 'count me' })).body.message;
  const countsOf = async () => {
    const page = await request(app.url, 'GET', `/api/messages?groupId=${groupId}`, { token: sender.accessToken });
    const own = page.body.messages.find((m: any) => m.id === message.id);
    t.false('status' in own, 'group messages carry counts, not a direct status');
    return { deliveredCount: own.deliveredCount, readCount: own.readCount };
  };
  t.deepEqual(await countsOf(), { deliveredCount: 0, readCount: 0 });

  // The fetch marks it delivered without waiting for the projection: wait for the receipt it produces.
  const m1View = await request(app.url, 'GET', `/api/messages?groupId=${groupId}`, { token: m1.accessToken });
  const seenByM1 = m1View.body.messages.find((m: any) => m.id === message.id);
  t.false('deliveredCount' in seenByM1, 'counts are for the sender only');
  await senderSocket.next(
    (f) => f.type === 'receipt' && f.receipt === 'delivered' && f.userId === m1.user.id && f.upTo.messageId === message.id,
  );
  t.deepEqual(await countsOf(), { deliveredCount: 1, readCount: 0 });

  t.is(
    (await request(app.url, 'POST', '/api/messages/read', { token: m1.accessToken, body: { groupId, messageId: message.id } })).status,
    200,
  );
  t.deepEqual(await countsOf(), { deliveredCount: 1, readCount: 1 });

  // m2 never fetched: reading implies delivery.
  t.is(
    (await request(app.url, 'POST', '/api/messages/read', { token: m2.accessToken, body: { groupId, messageId: message.id } })).status,
    200,
  );
  t.deepEqual(await countsOf(), { deliveredCount: 2, readCount: 2 });
  senderSocket.close();
});

// 6. GET /api/conversations: before=<lastPosition>, limit.
test('GET /api/conversations pages with limit and before=<lastPosition>, newest activity first, with no duplicate and no gap', async (t) => {
  const user = await registerUser(app.url);
  const peers = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const dm = async (peer: User, text: string) =>
    (await send(peer, { recipientId: user.user.id, text })).body.message.conversationId as string;
  const dm0 = await dm(peers[0]!, 'first');
  const dm1 = await dm(peers[1]!, 'second');
  const groupId = (await createGroup(peers[1]!, { name: 'Paged', memberIds: [user.user.id] })).body.group.id;
  const dm2 = await dm(peers[2]!, 'third');
  const dm3 = await dm(peers[3]!, 'fourth');
  await dm(peers[0]!, 'first again'); // moves the oldest conversation to the top
  const expected = [dm0, dm3, dm2, `group:${groupId}`, dm1];

  const seen: any[] = [];
  const pages: number[] = [];
  let before: number | undefined;
  for (let guard = 0; guard < 10; guard++) {
    const query = before === undefined ? '?limit=2' : `?before=${before}&limit=2`;
    const page = await request(app.url, 'GET', `/api/conversations${query}`, { token: user.accessToken });
    t.is(page.status, 200);
    const items = page.body.conversations;
    t.true(items.length <= 2, 'the limit holds');
    if (items.length === 0) break;
    pages.push(items.length);
    seen.push(...items);
    before = items.at(-1).lastPosition;
  }
  t.deepEqual(pages, [2, 2, 1]);
  t.deepEqual(
    seen.map((c) => c.conversationId),
    expected,
  );
  const positions = seen.map((c) => c.lastPosition);
  t.deepEqual(
    positions,
    [...positions].sort((x, y) => y - x),
    'newest first',
  );
  t.is(new Set(positions).size, positions.length, 'no duplicate');
  t.like(seen[0], { kind: 'direct', peer: { id: peers[0]!.user.id }, lastMessage: { preview: 'first again' } });
  t.like(seen[3], { kind: 'group', group: { id: groupId } });
});

// 7. `group.updated`: every change kind, and what a removed member gets.
test('a synced member receives group.updated for every change kind; a removed member gets its own member_removed without group, then nothing of the group', async (t) => {
  const [owner, watcher, removed, leaver] = [
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
  ];
  const [watcherSocket, removedSocket] = [await syncedSocket(watcher), await syncedSocket(removed)];
  const groupId = (await createGroup(owner, { name: 'Changes', memberIds: [watcher.user.id, leaver.user.id] })).body.group.id;
  const api = (who: User, method: string, path: string, body?: unknown) =>
    request(app.url, method, `/api/groups/${groupId}${path}`, { token: who.accessToken, ...(body === undefined ? {} : { body }) });
  const groupFrame = (socket: TestSocket, change: string) =>
    socket.next((f) => f.type === 'group.updated' && f.groupId === groupId && f.change === change);

  t.like(await groupFrame(watcherSocket, 'created'), {
    conversationId: `group:${groupId}`,
    byUserId: owner.user.id,
    group: { id: groupId },
  });
  t.is((await api(owner, 'PUT', '', { name: 'Changes 2' })).status, 200);
  t.like(await groupFrame(watcherSocket, 'updated'), {
    changes: { name: 'Changes 2' },
    byUserId: owner.user.id,
    group: { name: 'Changes 2' },
  });
  t.is((await api(owner, 'POST', '/members', { userId: removed.user.id })).status, 200);
  t.like(await groupFrame(watcherSocket, 'member_added'), { userId: removed.user.id, role: 'member', byUserId: owner.user.id });
  t.like(await groupFrame(removedSocket, 'member_added'), { userId: removed.user.id });
  t.is((await api(owner, 'POST', '/members', { userId: watcher.user.id, role: 'admin' })).status, 200);
  t.like(await groupFrame(watcherSocket, 'member_role_changed'), { userId: watcher.user.id, role: 'admin' });

  t.is((await api(owner, 'DELETE', `/members/${removed.user.id}`)).status, 204);
  const removedSeenByWatcher = await groupFrame(watcherSocket, 'member_removed');
  t.like(removedSeenByWatcher, { userId: removed.user.id, byUserId: owner.user.id });
  t.false(removedSeenByWatcher.group.members.some((m: any) => m.userId === removed.user.id));
  const ownRemoval = await groupFrame(removedSocket, 'member_removed');
  t.like(ownRemoval, { conversationId: `group:${groupId}`, position: removedSeenByWatcher.position, userId: removed.user.id });
  t.false('group' in ownRemoval, "the removed member does not get the group's new state");

  t.is((await api(leaver, 'DELETE', `/members/${leaver.user.id}`)).status, 204);
  t.like(await groupFrame(watcherSocket, 'member_left'), { userId: leaver.user.id });
  t.is((await api(owner, 'POST', '/owner', { userId: watcher.user.id })).status, 200);
  t.like(await groupFrame(watcherSocket, 'ownership_transferred'), {
    fromUserId: owner.user.id,
    toUserId: watcher.user.id,
    group: { ownerId: watcher.user.id },
  });
  t.is((await api(watcher, 'PUT', '', { description: 'after the removal' })).status, 200);
  const groupMessage = (await send(watcher, { groupId, text: 'members only' })).body.message;
  await watcherSocket.next((f) => f.type === 'message.created' && f.message.id === groupMessage.id);

  const changes = watcherSocket.frames.filter((f) => f.type === 'group.updated' && f.groupId === groupId);
  t.deepEqual(
    changes.map((f) => f.change),
    ['created', 'updated', 'member_added', 'member_role_changed', 'member_removed', 'member_left', 'ownership_transferred', 'updated'],
  );
  t.true(
    changes.every((f) => f.group?.id === groupId && f.conversationId === `group:${groupId}`),
    'members get the group with every change',
  );

  // A later direct message is a barrier: once the removed member has it, every earlier update has been delivered.
  const barrier = (await send(owner, { recipientId: removed.user.id, text: 'barrier' })).body.message;
  await removedSocket.next((f) => f.type === 'message.created' && f.message.id === barrier.id);
  const ofGroupAfterRemoval = removedSocket.frames.filter(
    (f) => (f.groupId === groupId || f.conversationId === `group:${groupId}`) && f.position > ownRemoval.position,
  );
  t.deepEqual(ofGroupAfterRemoval, [], 'nothing of the group after the removal');
  t.is(removedSocket.frames.filter((f) => f.type === 'group.updated' && f.change === 'member_removed').length, 1);
  watcherSocket.close();
  removedSocket.close();
});
