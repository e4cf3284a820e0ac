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

async function syncedSocket(user: User): Promise<TestSocket> {
  const socket = await connect(app.wsUrl, user.accessToken);
  socket.send({ type: 'sync', id: 's' });
  await socket.next((f) => f.type === 'sync.snapshot' || f.type === 'sync.ok');
  return socket;
}

const send = async (from: User, body: Record<string, unknown>) => {
  const response = await request(app.url, 'POST', '/api/messages', { token: from.accessToken, body });
  if (response.status !== 201) throw new Error(`send failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.message as { id: string; conversationId: string };
};
const react = (user: User, messageId: string, emoji: string, method: 'PUT' | 'DELETE' = 'PUT') =>
  request(app.url, method, `/api/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`, { token: user.accessToken });
const reactionsIn = async (user: User, query: string, messageId: string) => {
  const page = await request(app.url, 'GET', `/api/messages?${query}`, { token: user.accessToken });
  return page.body.messages.find((m: any) => m.id === messageId)?.reactions;
};
const eventsOf = async (messageId: string) =>
  (await app.eventStore.readStream(`reactions-${messageId}`)).map((event) => ({ type: event.type, ...(event.data as object) }));
const createGroup = async (owner: User, members: User[]) =>
  (
    await request(app.url, 'POST', '/api/groups', {
      token: owner.accessToken,
      body: { name: 'Reacting', memberIds: members.map((m) => m.user.id) },
    })
  ).body.group.id as string;

test('a reaction with a skin tone is recorded once, read back with counts, pushed live, and taken back', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const message = await send(a, { recipientId: b.user.id, text: 'ship it?' });
  const aSocket = await syncedSocket(a);

  const added = await react(b, message.id, '👍🏽');
  t.is(added.status, 200);
  t.deepEqual(added.body, { messageId: message.id, reactions: [{ emoji: '👍🏽', count: 1, reacted: true }] });
  t.like(await eventsOf(message.id), [{ type: 'ReactionAdded', messageId: message.id, userId: b.user.id, emoji: '👍🏽' }]);

  const live = await aSocket.next((f) => f.type === 'reaction');
  t.like(live, {
    messageId: message.id,
    conversationId: message.conversationId,
    userId: b.user.id,
    emoji: '👍🏽',
    change: 'added',
    count: 1,
  });
  t.deepEqual(await reactionsIn(a, `with=${b.user.id}`, message.id), [{ emoji: '👍🏽', count: 1, reacted: false }]);

  // The same reaction again changes nothing; a ZWJ sequence is one more emoji.
  t.is((await react(b, message.id, '👍🏽')).status, 200);
  t.is((await eventsOf(message.id)).length, 1);
  t.deepEqual((await react(a, message.id, '👩‍💻')).body.reactions, [
    { emoji: '👍🏽', count: 1, reacted: false },
    { emoji: '👩‍💻', count: 1, reacted: true },
  ]);

  const removed = await react(b, message.id, '👍🏽', 'DELETE');
  t.is(removed.status, 200);
  t.deepEqual(removed.body.reactions, [{ emoji: '👩‍💻', count: 1, reacted: false }]);
  t.like((await eventsOf(message.id)).at(-1), { type: 'ReactionRemoved', userId: b.user.id, emoji: '👍🏽' });
  t.like(await aSocket.next((f) => f.type === 'reaction' && f.change === 'removed'), { emoji: '👍🏽', count: 0 });
  // Taking back what is not there changes nothing.
  t.is((await react(b, message.id, '👍🏽', 'DELETE')).status, 200);
  t.is((await eventsOf(message.id)).length, 3);
  aSocket.close();
});

test('in a group everyone who reads the message sees the counts and who reacted, page by page', async (t) => {
  const [owner, m1, m2] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const groupId = await createGroup(owner, [m1, m2]);
  const message = await send(owner, { groupId, text: 'lunch?' });
  const m2Socket = await syncedSocket(m2);
  for (const user of [owner, m1]) t.is((await react(user, message.id, '🍕')).status, 200);
  t.is((await react(m1, message.id, '🇮🇹')).status, 200);
  await m2Socket.next((f) => f.type === 'reaction' && f.emoji === '🇮🇹');

  t.deepEqual(await reactionsIn(m2, `groupId=${groupId}`, message.id), [
    { emoji: '🍕', count: 2, reacted: false },
    { emoji: '🇮🇹', count: 1, reacted: false },
  ]);
  const first = await request(app.url, 'GET', `/api/messages/${message.id}/reactions?emoji=${encodeURIComponent('🍕')}&limit=1`, {
    token: m2.accessToken,
  });
  t.is(first.status, 200);
  t.like(first.body, {
    messageId: message.id,
    hasMore: true,
    reactors: [{ userId: owner.user.id, username: owner.user.username, emoji: '🍕' }],
  });
  const second = await request(
    app.url,
    'GET',
    `/api/messages/${message.id}/reactions?emoji=${encodeURIComponent('🍕')}&limit=1&after=${first.body.cursor}`,
    { token: m2.accessToken },
  );
  t.like(second.body, { hasMore: false, reactors: [{ userId: m1.user.id }] });
  t.is(second.body.reactors.length, 1);
  const all = await request(app.url, 'GET', `/api/messages/${message.id}/reactions`, { token: m2.accessToken });
  t.is(all.body.reactors.length, 3);
  m2Socket.close();
});

test('refused with nothing appended: not a reader, not one emoji, a 21st distinct emoji, a deleted message', async (t) => {
  const [a, b, eve] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const message = await send(a, { recipientId: b.user.id, text: 'private' });

  const outsider = await react(eve, message.id, '👍');
  t.is(outsider.status, 404);
  t.is(outsider.body.error.code, 'not_found');
  t.is((await request(app.url, 'GET', `/api/messages/${message.id}/reactions`, { token: eve.accessToken })).status, 404);
  for (const notOne of ['ok', '👍👍', '❤', '%20']) {
    const response = await react(b, message.id, notOne);
    t.is(response.status, 400, notOne);
    t.is(response.body.error.code, 'validation_failed');
  }
  t.is((await request(app.url, 'GET', `/api/messages/${message.id}/reactions?emoji=x`, { token: b.accessToken })).status, 400);
  t.deepEqual(await eventsOf(message.id), []);

  const twenty = [...'😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙🥲😚🙂'];
  for (const emoji of twenty) t.is((await react(b, message.id, emoji)).status, 200);
  const full = await react(a, message.id, '🙃');
  t.is(full.status, 409);
  t.is(full.body.error.code, 'reactions_limit');
  // An emoji already there is still fine.
  t.is((await react(a, message.id, '😀')).status, 200);
  t.is((await eventsOf(message.id)).length, 21);

  const gone = await send(a, { recipientId: b.user.id, text: 'oops' });
  t.is((await request(app.url, 'DELETE', `/api/messages/${gone.id}?scope=everyone`, { token: a.accessToken })).status, 204);
  const deleted = await react(b, gone.id, '👍');
  t.is(deleted.status, 409);
  t.is(deleted.body.error.code, 'message_deleted');
  t.deepEqual(await eventsOf(gone.id), []);
});

test("blocks: nobody reacts across one, and the blocker sees nothing of the blocked user's reactions", async (t) => {
  const [a, b, owner, member] = [
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
  ];
  const direct = await send(a, { recipientId: b.user.id, text: 'hi' });
  t.is((await request(app.url, 'PUT', `/api/blocks/${b.user.id}`, { token: a.accessToken })).status, 204);
  for (const [user, label] of [
    [b, 'the blocked'],
    [a, 'the blocker'],
  ] as const) {
    const refused = await react(user, direct.id, '👍');
    t.is(refused.status, 403, label);
    t.is(refused.body.error.code, 'blocked');
  }
  t.deepEqual(await eventsOf(direct.id), []);

  // In a group: the blocked member's reaction counts for others, not for the blocker (no count, no name, no frame).
  const groupId = await createGroup(owner, [a, b, member]);
  const message = await send(owner, { groupId, text: 'vote' });
  const aSocket = await syncedSocket(a);
  const memberSocket = await syncedSocket(member);
  t.is((await react(b, message.id, '🎉')).status, 200);
  t.is((await react(member, message.id, '🎉')).status, 200);
  await memberSocket.next((f) => f.type === 'reaction' && f.userId === b.user.id);
  await aSocket.next((f) => f.type === 'reaction' && f.userId === member.user.id);
  t.false(aSocket.frames.some((f) => f.type === 'reaction' && f.userId === b.user.id));
  t.deepEqual(await reactionsIn(member, `groupId=${groupId}`, message.id), [{ emoji: '🎉', count: 2, reacted: true }]);
  t.deepEqual(await reactionsIn(a, `groupId=${groupId}`, message.id), [{ emoji: '🎉', count: 1, reacted: false }]);
  const who = await request(app.url, 'GET', `/api/messages/${message.id}/reactions`, { token: a.accessToken });
  t.deepEqual(
    who.body.reactors.map((r: any) => r.userId),
    [member.user.id],
  );
  // Nor can the blocked member react to the blocker's group message.
  const fromA = await send(a, { groupId, text: 'mine' });
  const refused = await react(b, fromA.id, '👍');
  t.is(refused.status, 403);
  t.is(refused.body.error.code, 'blocked');
  t.deepEqual(await eventsOf(fromA.id), []);
  aSocket.close();
  memberSocket.close();
});

test('over the socket: reaction.set adds and takes back, answered with the reactions; a bad emoji is an error frame', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const message = await send(a, { recipientId: b.user.id, text: 'socket' });
  const bSocket = await syncedSocket(b);
  bSocket.send({ type: 'reaction.set', id: 'r1', messageId: message.id, emoji: '🔥', on: true });
  t.like(await bSocket.next((f) => f.id === 'r1'), {
    type: 'reaction.set.ok',
    messageId: message.id,
    reactions: [{ emoji: '🔥', count: 1, reacted: true }],
  });
  bSocket.send({ type: 'reaction.set', id: 'r2', messageId: message.id, emoji: '🔥', on: false });
  t.like(await bSocket.next((f) => f.id === 'r2'), { type: 'reaction.set.ok', reactions: [] });
  bSocket.send({ type: 'reaction.set', id: 'r3', messageId: message.id, emoji: 'fire', on: true });
  t.like(await bSocket.next((f) => f.id === 'r3'), { type: 'error', error: { code: 'validation_failed' } });
  t.deepEqual(
    (await eventsOf(message.id)).map((event) => event.type),
    ['ReactionAdded', 'ReactionRemoved'],
  );
  bSocket.close();
});
