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
const sent = async (from: User, body: Record<string, unknown>) => {
  const response = await send(from, body);
  if (response.status !== 201) throw new Error(`send failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.message as { id: string; conversationId: string; position: number; threadRootId?: string };
};
const thread = (user: User, rootId: string, query = '') =>
  request(app.url, 'GET', `/api/threads/${rootId}${query}`, { token: user.accessToken });
const createGroup = async (owner: User, members: User[]) =>
  (
    await request(app.url, 'POST', '/api/groups', {
      token: owner.accessToken,
      body: { name: 'Threads', memberIds: members.map((m) => m.user.id) },
    })
  ).body.group.id as string;

test('a reply opens a thread: the root shows its count, last reply time and repliers; the thread pages its replies', async (t) => {
  const [owner, ann, bob, cy] = [
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
  ];
  const groupId = await createGroup(owner, [ann, bob, cy]);
  const root = await sent(owner, { groupId, text: 'Plan for Friday?' });
  const first = await sent(ann, { groupId, text: 'pizza', threadRootId: root.id });
  t.is(first.threadRootId, root.id);
  t.like((await app.eventStore.readStream(`message-${first.id}`))[0], { type: 'MessageSent', data: { threadRootId: root.id } });
  await sent(bob, { groupId, text: 'tacos', threadRootId: root.id });
  const last = await sent(ann, { groupId, text: 'fine, tacos', threadRootId: root.id });

  const page = await request(app.url, 'GET', `/api/messages?groupId=${groupId}`, { token: cy.accessToken });
  const listedRoot = page.body.messages.find((m: any) => m.id === root.id);
  t.deepEqual(listedRoot.thread.lastRepliers, [ann.user.id, bob.user.id]);
  t.like(listedRoot.thread, { replyCount: 3 });
  t.is(typeof listedRoot.thread.lastReplyAt, 'string');

  const newest = await thread(cy, root.id, '?limit=2');
  t.is(newest.status, 200);
  t.is(newest.body.root.id, root.id);
  t.like(newest.body.thread, { replyCount: 3, following: false, unreadCount: 3 });
  t.deepEqual(
    newest.body.replies.map((m: any) => m.content.text),
    ['fine, tacos', 'tacos'],
  );
  t.true(newest.body.hasMore);
  const older = await thread(cy, root.id, `?limit=2&before=${newest.body.cursors.before}`);
  t.deepEqual(
    older.body.replies.map((m: any) => m.content.text),
    ['pizza'],
  );
  t.false(older.body.hasMore);
  // Ann replied, so she follows it and has read up to her own last reply.
  t.like((await thread(ann, root.id)).body.thread, { following: true, unreadCount: 0 });
  t.is(last.threadRootId, root.id);
});

test('who replied, was mentioned or followed gets the replies live and an unread count; the others get thread.updated; unfollowing stops both', async (t) => {
  const [owner, ann, bob, cy] = [
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
  ];
  const groupId = await createGroup(owner, [ann, bob, cy]);
  const root = await sent(owner, { groupId, text: 'Release notes' });
  const sockets = await Promise.all([owner, ann, bob, cy].map((user) => syncedSocket(user)));
  const [ownerSocket, annSocket, bobSocket, cySocket] = sockets;

  // Ann replies mentioning Bob: the root's sender, Ann and Bob follow it and get the reply; Cy gets the summary only.
  const reply = await sent(ann, { groupId, text: `@${bob.user.username} can you check?`, threadRootId: root.id });
  for (const socket of [ownerSocket!, annSocket!, bobSocket!]) {
    t.like(await socket.next((f) => f.type === 'message.created' && f.message.id === reply.id), {
      message: { threadRootId: root.id, content: { text: `@${bob.user.username} can you check?` } },
    });
  }
  t.like(await cySocket!.next((f) => f.type === 'thread.updated' && f.replyId === reply.id), {
    rootId: root.id,
    conversationId: root.conversationId,
    senderId: ann.user.id,
    replyCount: 1,
    lastRepliers: [ann.user.id],
  });
  t.false(cySocket!.frames.some((f) => f.type === 'message.created' && f.message.id === reply.id));
  t.like((await thread(bob, root.id)).body.thread, { following: true, unreadCount: 1 });

  // Cy follows; the follow is an event; the next reply reaches Cy too and counts as unread in GET /api/threads.
  const follow = await request(app.url, 'PUT', `/api/threads/${root.id}/follow`, { token: cy.accessToken });
  t.is(follow.status, 200);
  t.like(follow.body, { rootId: root.id, thread: { following: true, unreadCount: 1 } });
  t.like((await app.eventStore.readStream(`thread-${root.id}-${cy.user.id}`))[0], { type: 'ThreadFollowed', data: { userId: cy.user.id } });
  const second = await sent(bob, { groupId, text: 'checked', threadRootId: root.id });
  await cySocket!.next((f) => f.type === 'message.created' && f.message.id === second.id);
  const cyThreads = await request(app.url, 'GET', '/api/threads', { token: cy.accessToken });
  t.like(cyThreads.body, { unreadCount: 2, threads: [{ rootId: root.id, replyCount: 2, unreadCount: 2 }] });

  // Reading it clears the count; unfollowing stops the frames.
  const read = await request(app.url, 'POST', `/api/threads/${root.id}/read`, { token: cy.accessToken });
  t.like(read.body.thread, { unreadCount: 0 });
  t.like((await app.eventStore.readStream(`thread-${root.id}-${cy.user.id}`)).at(-1), { type: 'ThreadRead' });
  const unfollow = await request(app.url, 'DELETE', `/api/threads/${root.id}/follow`, { token: cy.accessToken });
  t.like(unfollow.body.thread, { following: false });
  const third = await sent(ann, { groupId, text: 'thanks', threadRootId: root.id });
  await ownerSocket!.next((f) => f.type === 'message.created' && f.message.id === third.id);
  await cySocket!.next((f) => f.type === 'thread.updated' && f.replyId === third.id);
  t.false(cySocket!.frames.some((f) => f.type === 'message.created' && f.message.id === third.id));
  t.deepEqual((await request(app.url, 'GET', '/api/threads', { token: cy.accessToken })).body.threads, []);

  // A socket that resumes with sync gets the thread frames it missed.
  const since = bobSocket!.frames.filter((f) => f.position !== undefined).at(0).position;
  const resumed = await syncedSocket(bob, since - 1);
  await resumed.next((f) => f.type === 'message.created' && f.message.id === third.id);
  t.true(resumed.frames.some((f) => f.type === 'message.created' && f.message.id === reply.id));
  for (const socket of [...sockets, resumed]) socket.close();
});

test("access is the root message's: outsiders are denied, and a reply cannot name a root elsewhere or a reply", async (t) => {
  const [a, b, eve] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const root = await sent(a, { recipientId: b.user.id, text: 'between us' });
  const reply = await sent(b, { recipientId: a.user.id, text: 'yes', threadRootId: root.id });
  t.like((await thread(a, root.id)).body, { thread: { replyCount: 1 } });

  for (const [method, path] of [
    ['GET', `/api/threads/${root.id}`],
    ['PUT', `/api/threads/${root.id}/follow`],
    ['DELETE', `/api/threads/${root.id}/follow`],
    ['POST', `/api/threads/${root.id}/read`],
  ] as const) {
    const denied = await request(app.url, method, path, { token: eve.accessToken });
    t.is(denied.status, 404, `${method} ${path}`);
    t.is(denied.body.error.code, 'not_found');
  }
  t.deepEqual(await app.eventStore.readStream(`thread-${root.id}-${eve.user.id}`), []);

  // Eve cannot reply into their thread from her own conversation, nor can anyone open a thread on a reply.
  const elsewhere = await send(eve, { recipientId: a.user.id, text: 'sneaky', threadRootId: root.id, clientMessageId: 'sneak' });
  t.is(elsewhere.status, 400);
  t.is(elsewhere.body.error.code, 'validation_failed');
  const nested = await send(a, { recipientId: b.user.id, text: 'deeper', threadRootId: reply.id, clientMessageId: 'nested' });
  t.is(nested.status, 400);
  t.is((await thread(a, reply.id)).status, 404);
  t.is((await thread(a, root.id)).body.thread.replyCount, 1);
  const bad = await request(app.url, 'GET', `/api/threads/not-a-uuid`, { token: a.accessToken });
  t.is(bad.status, 400);
});
