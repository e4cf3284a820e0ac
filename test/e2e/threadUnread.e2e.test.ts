import test from 'ava';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { projectors } from '../../projections/index.ts';
import { threadsProjector } from '../../projections/threads.ts';
import { openKeysForTools } from '../../src/privacy/auditorKeys.ts';
import { revealingProjectors } from '../../src/privacy/revealingProjectors.ts';
import { rebuildProjections } from '../../src/projection/rebuild.ts';
import { registerUser, request, startTestApp, testConfig, type TestApp } from '../helpers/app.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app.dispose();
});

type User = Awaited<ReturnType<typeof registerUser>>;

const sent = async (from: User, body: Record<string, unknown>) => {
  const response = await request(app.url, 'POST', '/api/messages', { token: from.accessToken, body });
  if (response.status !== 201) throw new Error(`send failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.message as { id: string; conversationId: string; position: number; sentAt: string };
};
const createGroup = async (owner: User, members: User[]) =>
  (
    await request(app.url, 'POST', '/api/groups', {
      token: owner.accessToken,
      body: { name: 'Threads', memberIds: members.map((m) => m.user.id) },
    })
  ).body.group.id as string;
const listed = async (user: User, conversationId: string) =>
  ((await request(app.url, 'GET', '/api/conversations', { token: user.accessToken })).body.conversations as any[]).find(
    (item) => item.conversationId === conversationId,
  );
async function snapshotOf(user: User): Promise<{ socket: TestSocket; conversations: any[] }> {
  const socket = await connect(app.wsUrl, user.accessToken);
  socket.send({ type: 'sync', id: 's' });
  const snapshot = await socket.next((f) => f.type === 'sync.snapshot');
  return { socket, conversations: snapshot.conversations };
}

test('each conversation in the list and in sync carries the unread replies of the threads you follow; reading the thread clears them; a rebuild keeps them', async (t) => {
  const [owner, ann, cy] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const groupId = await createGroup(owner, [ann, cy]);
  const root = await sent(owner, { groupId, text: 'Who brings what?' });
  const other = await sent(owner, { groupId, text: 'and a second thread' });
  await sent(ann, { groupId, text: 'salad', threadRootId: root.id });
  await sent(ann, { groupId, text: 'and bread', threadRootId: root.id });
  // Cy follows the second thread only: its reply counts for Cy, the first thread's do not.
  t.is((await request(app.url, 'PUT', `/api/threads/${other.id}/follow`, { token: cy.accessToken })).status, 200);
  await sent(ann, { groupId, text: 'me too', threadRootId: other.id });

  // The owner follows both (the root's sender): 3 unread replies; Ann wrote them all: none; Cy: the one he follows.
  t.like(await listed(owner, root.conversationId), { threadUnreadCount: 3 });
  t.like(await listed(ann, root.conversationId), { threadUnreadCount: 0 });
  t.like(await listed(cy, root.conversationId), { threadUnreadCount: 1 });
  const { socket, conversations } = await snapshotOf(owner);
  socket.close();
  t.like(
    conversations.find((item) => item.conversationId === root.conversationId),
    { threadUnreadCount: 3 },
  );

  // Reading one thread takes its replies off the count (the event is the thread's read mark).
  t.is((await request(app.url, 'POST', `/api/threads/${root.id}/read`, { token: owner.accessToken })).status, 200);
  t.like((await app.eventStore.readStream(`thread-${root.id}-${owner.user.id}`)).at(-1), { type: 'ThreadRead' });
  t.like(await listed(owner, root.conversationId), { threadUnreadCount: 1 });
  await sent(cy, { groupId, text: 'cake', threadRootId: root.id });
  t.like(await listed(owner, root.conversationId), { threadUnreadCount: 2 });
  // Replying reads the thread up to one's own reply; unfollowing drops the thread from the count.
  t.like(await listed(cy, root.conversationId), { threadUnreadCount: 1 });
  await request(app.url, 'DELETE', `/api/threads/${other.id}/follow`, { token: cy.accessToken });
  t.like(await listed(cy, root.conversationId), { threadUnreadCount: 0 });

  const before = await Promise.all([owner, ann, cy].map((user) => listed(user, root.conversationId)));
  const keys = await openKeysForTools(testConfig(app.storageDir));
  t.teardown(() => keys.close());
  await rebuildProjections({
    eventStore: app.eventStore,
    readStore: app.readStore,
    projectors: revealingProjectors([threadsProjector], keys.keys),
    all: revealingProjectors(projectors, keys.keys),
    upcaster: eventUpcaster,
  });
  t.deepEqual(await Promise.all([owner, ann, cy].map((user) => listed(user, root.conversationId))), before);
  // Cy's reply is unread for the owner and Ann (both follow that thread), not for Cy.
  t.deepEqual(
    before.map((item) => item.threadUnreadCount),
    [2, 1, 0],
  );
});

test("a reply's edit and delete reach the thread's followers only; the others get the root's new summary on a delete", async (t) => {
  const [owner, ann, bob, cy] = [
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
    await registerUser(app.url),
  ];
  const groupId = await createGroup(owner, [ann, bob, cy]);
  const root = await sent(owner, { groupId, text: 'Venue?' });
  const first = await sent(ann, { groupId, text: 'the park', threadRootId: root.id });
  const second = await sent(bob, { groupId, text: 'the beach', threadRootId: root.id });
  const sockets = await Promise.all([owner, ann, bob, cy].map(async (user) => (await snapshotOf(user)).socket));
  const [ownerSocket, annSocket, bobSocket, cySocket] = sockets as [TestSocket, TestSocket, TestSocket, TestSocket];

  const edited = await request(app.url, 'PUT', `/api/messages/${second.id}`, { token: bob.accessToken, body: { text: 'the lake' } });
  t.is(edited.status, 200);
  t.like((await app.eventStore.readStream(`message-${second.id}`)).at(-1), { type: 'MessageEdited' });
  for (const socket of [ownerSocket, annSocket, bobSocket])
    t.like(await socket.next((f) => f.type === 'message.edited' && f.message.id === second.id), {
      message: { content: { text: 'the lake' } },
    });

  const deleted = await request(app.url, 'DELETE', `/api/messages/${second.id}?scope=everyone`, { token: bob.accessToken });
  t.is(deleted.status, 204);
  t.like((await app.eventStore.readStream(`message-${second.id}`)).at(-1), { type: 'MessageDeleted' });
  for (const socket of [ownerSocket, annSocket, bobSocket])
    t.like(await socket.next((f) => f.type === 'message.deleted' && f.message?.id === second.id), { scope: 'everyone' });
  t.like(await cySocket.next((f) => f.type === 'thread.updated' && f.replyId === second.id), {
    change: 'reply_deleted',
    rootId: root.id,
    replyCount: 1,
    lastReplyAt: first.sentAt,
    lastRepliers: [ann.user.id],
  });
  // Cy does not follow: neither the edit nor the tombstone reached him.
  t.false(cySocket.frames.some((f) => (f.type === 'message.edited' || f.type === 'message.deleted') && f.message?.id === second.id));

  // Everyone's view of the root: one reply left, by Ann, at her time.
  const page = await request(app.url, 'GET', `/api/messages?groupId=${groupId}`, { token: cy.accessToken });
  t.deepEqual(page.body.messages.find((m: any) => m.id === root.id).thread, {
    replyCount: 1,
    lastReplyAt: first.sentAt,
    lastRepliers: [ann.user.id],
  });
  t.like((await request(app.url, 'GET', `/api/threads/${root.id}`, { token: cy.accessToken })).body.thread, { replyCount: 1 });

  // The last reply gone, the root shows no thread.
  t.is((await request(app.url, 'DELETE', `/api/messages/${first.id}?scope=everyone`, { token: ann.accessToken })).status, 204);
  t.like(await cySocket.next((f) => f.type === 'thread.updated' && f.replyId === first.id), {
    change: 'reply_deleted',
    replyCount: 0,
    lastReplyAt: null,
    lastRepliers: [],
  });
  const after = await request(app.url, 'GET', `/api/messages?groupId=${groupId}`, { token: cy.accessToken });
  t.is(after.body.messages.find((m: any) => m.id === root.id).thread, undefined);
  for (const socket of sockets) socket.close();
});
