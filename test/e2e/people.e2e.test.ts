import test from 'ava';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

/** Profiles, contacts and blocks over REST and the socket: each rule and each denial, both directions. */
let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app.dispose();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const api = (who: User, method: string, path: string, body?: unknown) =>
  request(app.url, method, path, { token: who.accessToken, ...(body === undefined ? {} : { body }) });
const send = (from: User, to: User, text: string) => api(from, 'POST', '/api/messages', { recipientId: to.user.id, text });
/** Every MessageSent in the log with this text (other tests share the server, so the head moves). */
// Texts are sealed in the log (see src/privacy/), so a send is found by who sent it to whom.
const sentBetween = async (from: User, to: User) =>
  (await app.eventStore.readAll()).filter(
    (e) => e.type === 'MessageSent' && (e.data as any).senderId === from.user.id && (e.data as any).target.recipientId === to.user.id,
  );

async function syncedSocket(who: User): Promise<TestSocket> {
  const socket = await connect(app.wsUrl, who.accessToken);
  socket.send({ type: 'sync', id: 'sync' });
  await socket.next((f) => f.id === 'sync');
  return socket;
}

test("contacts: add by id or username (201, then 200), rename, list in order with cursors, remove (204 also when absent); the owner's devices hear of each", async (t) => {
  const [owner, a, b, c] = [
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
  ];
  const socket = await syncedSocket(owner);
  t.teardown(() => socket.close());
  const first = await api(owner, 'POST', '/api/contacts', { userId: a.user.id, nickname: '  Ａlice  ' });
  t.is(first.status, 201);
  t.like(first.body.contact, { userId: a.user.id, username: a.user.username, nickname: 'Ａlice' });
  t.is((await api(owner, 'POST', '/api/contacts', { userId: a.user.id })).status, 200, 'already a contact');
  t.is((await api(owner, 'POST', '/api/contacts', { username: b.user.username.toUpperCase() })).status, 201);
  t.is((await api(owner, 'POST', '/api/contacts', { userId: c.user.id })).status, 201);
  t.like(await socket.next((f) => f.type === 'contacts.updated' && f.userId === c.user.id), {
    change: 'added',
    contact: { userId: c.user.id },
  });

  const renamed = await api(owner, 'PATCH', `/api/contacts/${b.user.id}`, { nickname: 'Bee' });
  t.like(renamed.body.contact, { nickname: 'Bee' });
  const page1 = await api(owner, 'GET', '/api/contacts?limit=2');
  t.deepEqual(
    page1.body.contacts.map((x: any) => x.userId),
    [a.user.id, b.user.id],
  );
  const page2 = await api(owner, 'GET', `/api/contacts?limit=2&cursor=${page1.body.nextCursor}`);
  t.deepEqual(
    page2.body.contacts.map((x: any) => x.userId),
    [c.user.id],
  );
  t.is(page2.body.nextCursor, null);

  t.is((await api(owner, 'DELETE', `/api/contacts/${a.user.id}`)).status, 204);
  t.is((await api(owner, 'DELETE', `/api/contacts/${a.user.id}`)).status, 204, 'also when absent');
  t.like(await socket.next((f) => f.type === 'contacts.updated' && f.change === 'removed'), { userId: a.user.id, contact: null });
  t.is((await api(owner, 'PATCH', `/api/contacts/${a.user.id}`, { nickname: 'x' })).status, 404, 'no longer a contact');
  t.is((await api(owner, 'POST', '/api/contacts', { userId: owner.user.id })).status, 400, 'not yourself');
  t.is((await api(owner, 'POST', '/api/contacts', { userId: '00000000-0000-4000-8000-000000000000' })).status, 404);
  t.is((await api(owner, 'POST', '/api/contacts', { username: 'nobody_here_at_all' })).status, 404);
  t.deepEqual((await api(a, 'GET', '/api/contacts')).body.contacts, [], "contacts are the owner's own");
});

test("a block: the blocker's own sends are 403 blocked; the blocked user's are accepted and never delivered, so nobody is told", async (t) => {
  const [blocker, blocked] = [await registerUser(app.url), await registerUser(app.url)];
  t.is((await send(blocked, blocker, 'before')).status, 201);
  t.is((await api(blocker, 'PUT', `/api/blocks/${blocked.user.id}`)).status, 204);
  t.deepEqual(
    (await api(blocker, 'GET', '/api/blocks')).body.blocked.map((x: any) => x.userId),
    [blocked.user.id],
  );
  const blockerSocket = await syncedSocket(blocker);
  t.teardown(() => blockerSocket.close());

  // The blocked user's send looks like any other: accepted, stored, shown to its sender as sent.
  const sentBefore = (await sentBetween(blocked, blocker)).length;
  const accepted = await send(blocked, blocker, 'let me in');
  t.is(accepted.status, 201);
  t.like(accepted.body.message, { content: { text: 'let me in' } });
  t.is((await sentBetween(blocked, blocker)).length, sentBefore + 1, 'appended like any send');
  const socket = await connect(app.wsUrl, blocked.accessToken);
  t.teardown(() => socket.close());
  socket.send({ type: 'message.send', id: 's', recipientId: blocker.user.id, text: 'over the socket' });
  t.like(await socket.next((f) => f.id === 's'), { type: 'message.send.ok' });
  const own = await api(blocked, 'GET', `/api/messages?with=${blocker.user.id}`);
  t.deepEqual(
    own.body.messages.map((m: any) => m.content.text),
    ['over the socket', 'let me in', 'before'],
    'kept for its sender',
  );

  // The blocker may not write to the one they blocked: unblock first.
  const refused = await send(blocker, blocked, 'the blocker cannot');
  t.is(refused.status, 403);
  t.is(refused.body.error.code, 'blocked');
  t.deepEqual(await sentBetween(blocker, blocked), [], 'nothing appended');

  // The blocker never hears of what was sent during the block: no frame, no message, no unread, not after unblocking.
  const barrier = await send(blocker, await registerUser(app.url), 'barrier');
  await blockerSocket.next((f) => f.type === 'message.created' && f.message.id === barrier.body.message.id);
  t.false(blockerSocket.frames.some((f) => f.type === 'message.created' && f.message.senderId === blocked.user.id));
  t.is((await api(blocker, 'DELETE', `/api/blocks/${blocked.user.id}`)).status, 204);
  t.is((await api(blocker, 'DELETE', `/api/blocks/${blocked.user.id}`)).status, 204, 'also when not blocked');
  const page = await api(blocker, 'GET', `/api/messages?with=${blocked.user.id}`);
  t.deepEqual(
    page.body.messages.map((m: any) => m.content.text),
    ['before'],
    'nothing sent during the block ever arrives',
  );
  const conversation = (await api(blocker, 'GET', '/api/conversations')).body.conversations.find(
    (c: any) => c.peer?.id === blocked.user.id,
  );
  t.like(conversation, { unreadCount: 1, lastMessage: { preview: 'before' } });
  t.is((await send(blocked, blocker, 'after')).status, 201);
  t.is((await api(blocker, 'PUT', `/api/blocks/${blocker.user.id}`)).status, 400, 'not yourself');
});

test('changing only privacy settings pushes user.updated: peers stop showing what was just hidden', async (t) => {
  const [me, peer] = [await registerUser(app.url), await registerUser(app.url)];
  t.is((await send(peer, me, 'hi')).status, 201);
  t.is((await api(me, 'PUT', '/api/users/profile', { about: 'At the lake' })).status, 200);
  const peerSocket = await syncedSocket(peer);
  t.teardown(() => peerSocket.close());

  t.is((await api(me, 'PUT', '/api/users/profile', { privacy: { about: 'nobody' } })).status, 200);
  t.deepEqual(
    (await app.eventStore.readStream(`user-${me.user.id}`)).map((e) => e.type).slice(-1),
    ['PrivacySettingsChanged'],
    'only the privacy changed',
  );
  t.like(await peerSocket.next((f) => f.type === 'user.updated' && f.userId === me.user.id), { profile: { about: null } });
  t.is((await api(me, 'PUT', '/api/users/profile', { privacy: { about: 'everyone' } })).status, 200);
  t.like(await peerSocket.next((f) => f.type === 'user.updated' && f.userId === me.user.id && f.profile.about !== null), {
    profile: { about: 'At the lake' },
  });
});

test('a block hides typing, receipts and profile details both ways; the blocked user adding the blocker to a group is skipped silently; group messages still flow', async (t) => {
  const [blocker, blocked, third] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  await api(blocker, 'PUT', '/api/users/profile', { about: 'hello world' });
  t.is((await send(blocker, blocked, 'hi')).status, 201);
  t.is((await api(blocker, 'PUT', `/api/blocks/${blocked.user.id}`)).status, 204);

  for (const [viewer, target] of [
    [blocked, blocker],
    [blocker, blocked],
  ] as const) {
    const seen = await api(viewer, 'GET', `/api/users/${target.user.id}`);
    t.is(seen.status, 200);
    t.is(seen.body.user.about, null, 'about hidden across the block');
  }
  t.true((await api(blocker, 'GET', `/api/users/${blocked.user.id}`)).body.user.blocked);
  t.false((await api(blocked, 'GET', `/api/users/${blocker.user.id}`)).body.user.blocked, 'nobody is told they were blocked');
  t.deepEqual(
    (await api(blocked, 'GET', `/api/users/search?q=${blocker.user.username.slice(0, 6)}`)).body.users.filter(
      (u: any) => u.id === blocker.user.id,
    ),
    [],
    'search does not find across a block',
  );

  // The blocked user creates a group with the blocker and a third user: the blocker is left out, silently.
  const created = await api(blocked, 'POST', '/api/groups', { name: 'Trap', memberIds: [blocker.user.id, third.user.id] });
  t.is(created.status, 201);
  t.deepEqual(created.body.group.members.map((m: any) => m.userId).sort(), [blocked.user.id, third.user.id].sort());
  const addLater = await api(blocked, 'POST', `/api/groups/${created.body.group.id}/members`, { userId: blocker.user.id });
  t.is(addLater.status, 200);
  t.false(addLater.body.group.members.some((m: any) => m.userId === blocker.user.id));

  // In a group they both belong to (the blocker joined it), messages still flow; typing does not cross.
  const shared = await api(third, 'POST', '/api/groups', { name: 'Shared', memberIds: [blocker.user.id, blocked.user.id] });
  const groupId = shared.body.group.id;
  const [blockerSocket, thirdSocket] = [await syncedSocket(blocker), await syncedSocket(third)];
  t.teardown(() => {
    blockerSocket.close();
    thirdSocket.close();
  });
  const blockedSocket = await connect(app.wsUrl, blocked.accessToken);
  t.teardown(() => blockedSocket.close());
  blockedSocket.send({ type: 'typing', id: 'ty', groupId });
  await blockedSocket.next((f) => f.id === 'ty');
  await thirdSocket.next((f) => f.type === 'typing' && f.userId === blocked.user.id);
  const groupMessage = await api(blocked, 'POST', '/api/messages', { groupId, text: 'to the group' });
  t.is(groupMessage.status, 201);
  await blockerSocket.next((f) => f.type === 'message.created' && f.message.id === groupMessage.body.message.id);
  t.false(
    blockerSocket.frames.some((f) => f.type === 'typing'),
    'no typing across the block',
  );

  // Receipts of the direct conversation: the blocked reader's receipt stays on their own devices.
  const dm = await api(blocked, 'GET', `/api/messages?with=${blocker.user.id}`);
  const read = await api(blocked, 'POST', '/api/messages/read', { with: blocker.user.id, messageId: dm.body.messages[0].id });
  t.is(read.status, 200);
  const barrier = await api(third, 'POST', '/api/messages', { recipientId: blocker.user.id, text: 'barrier' });
  await blockerSocket.next((f) => f.type === 'message.created' && f.message.id === barrier.body.message.id);
  t.false(
    blockerSocket.frames.some((f) => f.type === 'receipt' && f.userId === blocked.user.id),
    'no receipt across the block',
  );
  const mine = await api(blocker, 'GET', `/api/messages?with=${blocked.user.id}`);
  t.is(mine.body.messages[0].status, 'sent', 'the blocker sees no receipt state either');
});

test('profiles: own profile in full, others by privacy (everyone, contacts, nobody), strict input, a user.updated per change to the people who may see it', async (t) => {
  const [me, contactOfMine, stranger, peer] = [
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
  ];
  t.is((await api(me, 'POST', '/api/contacts', { userId: contactOfMine.user.id })).status, 201);
  t.is((await send(peer, me, 'we talked')).status, 201);
  const [peerSocket, strangerSocket, contactSocket] = [
    await syncedSocket(peer),
    await syncedSocket(stranger),
    await syncedSocket(contactOfMine),
  ];
  t.teardown(() => {
    peerSocket.close();
    strangerSocket.close();
    contactSocket.close();
  });

  const updated = await api(me, 'PUT', '/api/users/profile', {
    displayName: ' Méli\u0301 ',
    about: 'Busy',
    privacy: { about: 'contacts' },
  });
  t.is(updated.status, 200);
  t.like(updated.body.profile, {
    displayName: 'Mélí',
    about: 'Busy',
    privacy: { about: 'contacts', lastSeen: 'everyone', readReceipts: true },
    email: me.email,
  });
  t.like((await api(me, 'GET', '/api/users/profile')).body.profile, { displayName: 'Mélí' });

  const view = async (viewer: User) => (await api(viewer, 'GET', `/api/users/${me.user.id}`)).body.user;
  t.like(await view(contactOfMine), { displayName: 'Mélí', about: 'Busy' });
  t.like(await view(stranger), { displayName: 'Mélí', about: null });
  t.false('email' in (await view(stranger)), 'never the email');
  await api(me, 'PUT', '/api/users/profile', { privacy: { about: 'nobody' } });
  t.is((await view(contactOfMine)).about, null);
  t.is((await api(stranger, 'GET', '/api/users/00000000-0000-4000-8000-000000000000')).status, 404);

  // The profile change went once to the direct peer (and would to people who added me); not to a stranger.
  t.like(await peerSocket.next((f) => f.type === 'user.updated' && f.userId === me.user.id && f.profile.displayName === 'Mélí'), {
    profile: { about: null },
  });
  const barrier = await send(me, stranger, 'barrier');
  await strangerSocket.next((f) => f.type === 'message.created' && f.message.id === barrier.body.message.id);
  t.false(
    strangerSocket.frames.some((f) => f.type === 'user.updated' && f.userId === me.user.id && f.position < barrier.body.message.position),
  );
  t.false(
    contactSocket.frames.some((f) => f.type === 'user.updated'),
    'I added them; they did not add me',
  );

  for (const body of [
    { displayName: '' },
    { displayName: 'x'.repeat(65) },
    { displayName: 'bell\u0007' },
    { about: 'x'.repeat(141) },
    { privacy: { about: 'friends' } },
    { email: 'new@example.test' },
    {},
    { ai: { language: 'not a tag!' } },
  ]) {
    const refused = await api(me, 'PUT', '/api/users/profile', body);
    t.is(refused.status, 400, JSON.stringify(body));
  }
  t.is((await api(me, 'GET', '/api/users/search?q=ab')).status, 400, 'at least 3 characters');
  t.is((await api(me, 'GET', `/api/users/search?q=${encodeURIComponent(me.email)}`)).status, 400, 'never by email');
  const found = await api(stranger, 'GET', `/api/users/search?q=${me.user.username}`);
  t.deepEqual(
    found.body.users.map((u: any) => u.id),
    [me.user.id],
  );
});

test("read receipts off: my reads are not shown to others, and I see no one else's", async (t) => {
  const [quiet, chatty] = [await registerUser(app.url), await registerUser(app.url)];
  t.is((await api(quiet, 'PUT', '/api/users/profile', { privacy: { readReceipts: false } })).status, 200);
  const toQuiet = (await send(chatty, quiet, 'did you read this?')).body.message;
  const toChatty = (await send(quiet, chatty, 'and this?')).body.message;
  const chattySocket = await syncedSocket(chatty);
  t.teardown(() => chattySocket.close());
  await api(quiet, 'POST', '/api/messages/read', { with: chatty.user.id, messageId: toQuiet.id });
  await api(chatty, 'POST', '/api/messages/read', { with: quiet.user.id, messageId: toChatty.id });
  const chattyView = await api(chatty, 'GET', `/api/messages?with=${quiet.user.id}`);
  t.is(chattyView.body.messages.find((m: any) => m.id === toQuiet.id).status, 'delivered', 'read by quiet, shown as delivered');
  const quietView = await api(quiet, 'GET', `/api/messages?with=${chatty.user.id}`);
  t.is(quietView.body.messages.find((m: any) => m.id === toChatty.id).status, 'delivered', "and quiet sees no one's reads");
  const barrier = (await send(quiet, chatty, 'barrier')).body.message;
  await chattySocket.next((f) => f.type === 'message.created' && f.message.id === barrier.id);
  t.false(chattySocket.frames.some((f) => f.type === 'receipt' && f.receipt === 'read' && f.userId === quiet.user.id));
});

test('a group member reads only what was said while they were a member; group receipts do not cross a block; no typing into a chat that does not exist', async (t) => {
  const [owner, member, blocker, stranger] = [
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
  ];
  const groupId = (await api(owner, 'POST', '/api/groups', { name: 'Windows', memberIds: [member.user.id, blocker.user.id] })).body.group
    .id;
  const post = (text: string) => api(owner, 'POST', '/api/messages', { groupId, text });
  await post('before removal');
  await api(owner, 'DELETE', `/api/groups/${groupId}/members/${member.user.id}`);
  const whileOut = (await post('while out')).body.message;
  await api(owner, 'POST', `/api/groups/${groupId}/members`, { userId: member.user.id });
  await post('after return');
  const seen = (await api(member, 'GET', `/api/messages?groupId=${groupId}`)).body.messages.map((m: any) => m.content?.text);
  t.deepEqual(seen, ['after return', 'before removal']);
  t.is((await api(member, 'GET', `/api/messages/${whileOut.id}/history`)).status, 404);

  await api(blocker, 'PUT', `/api/blocks/${member.user.id}`);
  const [memberSocket] = [await syncedSocket(member)];
  t.teardown(() => memberSocket.close());
  const mine = (await api(member, 'POST', '/api/messages', { groupId, text: 'read me' })).body.message;
  await api(blocker, 'POST', '/api/messages/read', { groupId, messageId: mine.id });
  await api(owner, 'POST', '/api/messages/read', { groupId, messageId: mine.id });
  await memberSocket.next((f) => f.type === 'receipt' && f.userId === owner.user.id);
  t.false(
    memberSocket.frames.some((f) => f.type === 'receipt' && f.userId === blocker.user.id),
    "the blocker's receipt does not reach the blocked",
  );
  const page = await api(member, 'GET', `/api/messages?groupId=${groupId}`);
  t.is(page.status, 200, JSON.stringify(page.body));
  t.is(page.body.messages.find((m: any) => m.id === mine.id).readCount, 1);

  const strangerSocket = await connect(app.wsUrl, stranger.accessToken);
  t.teardown(() => strangerSocket.close());
  strangerSocket.send({ type: 'typing', id: 'ty', with: owner.user.id });
  t.like(await strangerSocket.next((f) => f.id === 'ty'), { type: 'error', error: { code: 'not_found' } });
});
