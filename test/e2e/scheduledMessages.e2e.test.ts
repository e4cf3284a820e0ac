import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { registerUser, request, startTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

/** Scheduled messages: the server's clock is injected (`offsetMs` moves it ahead), the dispatcher ticks on it. */
let offsetMs = 0;
const clock = () => new Date(Date.now() + offsetMs);
const ahead = (ms: number) => new Date(clock().getTime() + ms).toISOString();

let app: TestApp;
test.before(async () => {
  app = await startTestApp({ clock });
});
test.after.always(async () => {
  await app.dispose();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const api = (user: User, method: string, path: string, body?: unknown) =>
  request(app.url, method, path, { token: user.accessToken, ...(body === undefined ? {} : { body }) });

async function syncedSocket(user: User, url = app.wsUrl): Promise<TestSocket> {
  const socket = await connect(url, user.accessToken);
  socket.send({ type: 'sync', id: 's' });
  await socket.next((f) => f.type === 'sync.snapshot' || f.type === 'sync.ok');
  return socket;
}

async function eventsOf(target: TestApp, stream: string) {
  return (await target.eventStore.readStream(stream)).map((event) => event.type);
}

async function listed(user: User, id: string) {
  const list = await api(user, 'GET', '/api/scheduled-messages');
  return (list.body.scheduled as Array<{ id: string }>).find((item) => item.id === id) as any;
}

/** Moves the clock past `sendAt` and waits until the schedule is no longer pending. */
async function passTime(user: User, id: string, sendAt: string) {
  offsetMs += Date.parse(sendAt) - clock().getTime() + 1;
  const deadline = Date.now() + 5_000;
  for (;;) {
    const item = await listed(user, id);
    if (item.status !== 'pending' || Date.now() > deadline) return item;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test.serial(
  'a scheduled direct message is sealed in the log, listed, then sent at its time exactly once as a normal message',
  async (t) => {
    const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
    const bSocket = await syncedSocket(b);
    const text = `later-${randomUUID()}`;
    const sendAt = ahead(60_000);
    const scheduled = await api(a, 'POST', '/api/messages', { recipientId: b.user.id, text, sendAt });
    t.is(scheduled.status, 202);
    const item = scheduled.body.scheduled;
    t.like(item, { status: 'pending', text, sendAt, recipientId: b.user.id, groupId: null, reason: null });
    t.deepEqual(await eventsOf(app, `scheduled-${item.id}`), ['MessageScheduled']);
    t.deepEqual(await eventsOf(app, `message-${item.messageId}`), [], 'nothing sent yet');
    // Sealed: the text is nowhere in the event log in clear.
    for (const file of ['events.sqlite', 'events.sqlite-wal'].filter((name) => existsSync(join(app.storageDir, name))))
      t.false(readFileSync(join(app.storageDir, file)).includes(Buffer.from(text)), file);
    t.like(await listed(a, item.id), { status: 'pending', text });
    t.is((await api(b, 'GET', '/api/scheduled-messages')).body.scheduled.length, 0, 'only the sender lists it');

    const sentAt = Date.now();
    t.like(await passTime(a, item.id, sendAt), { status: 'delivered', text: null });
    const frame = await bSocket.next((f) => f.type === 'message.created' && f.message.id === item.messageId);
    t.true(Date.now() - sentAt < 1_000, 'sent within 1 s of its time');
    t.is(frame.message.content.text, text);
    t.deepEqual(await eventsOf(app, `message-${item.messageId}`), ['MessageSent']);
    t.deepEqual(await eventsOf(app, `scheduled-${item.id}`), ['MessageScheduled', 'ScheduledMessageDelivered']);
    const page = await api(b, 'GET', `/api/messages?with=${a.user.id}`);
    t.deepEqual(
      page.body.messages.map((m: any) => m.content.text),
      [text],
    );
    bSocket.close();
  },
);

test.serial('denials: too soon, too far, not a member, the blocker: 4xx and nothing appended', async (t) => {
  const [a, b, c] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const group = (await api(b, 'POST', '/api/groups', { name: 'Not a', memberIds: [c.user.id] })).body.group;
  const head = await app.eventStore.headPosition();
  t.is((await api(a, 'POST', '/api/messages', { recipientId: b.user.id, text: 'x', sendAt: ahead(5_000) })).status, 400);
  t.is((await api(a, 'POST', '/api/messages', { recipientId: b.user.id, text: 'x', sendAt: ahead(400 * 86_400_000) })).status, 400);
  t.is((await api(a, 'POST', '/api/messages', { recipientId: b.user.id, text: 'x', sendAt: 'soon' })).status, 400);
  t.is((await api(a, 'POST', '/api/messages', { groupId: group.id, text: 'x', sendAt: ahead(60_000) })).status, 403);
  t.is((await api(a, 'POST', '/api/messages', { recipientId: randomUUID(), text: 'x', sendAt: ahead(60_000) })).status, 404);
  t.is(await app.eventStore.headPosition(), head, 'nothing appended');
  t.is((await api(a, 'PUT', `/api/blocks/${b.user.id}`)).status, 204);
  const blockedHead = await app.eventStore.headPosition();
  const refused = await api(a, 'POST', '/api/messages', { recipientId: b.user.id, text: 'x', sendAt: ahead(60_000) });
  t.is(refused.status, 403);
  t.is(refused.body.error.code, 'blocked');
  t.is(await app.eventStore.headPosition(), blockedHead, 'nothing appended');
});

test.serial('the sender edits and cancels (others get 404); a cancel erases the text', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const item = (await api(a, 'POST', '/api/messages', { recipientId: b.user.id, text: 'first', sendAt: ahead(60_000) })).body.scheduled;
  const later = ahead(120_000);
  const edited = await api(a, 'PUT', `/api/scheduled-messages/${item.id}`, { text: 'second', sendAt: later });
  t.is(edited.status, 200);
  t.like(edited.body.scheduled, { text: 'second', sendAt: later, status: 'pending' });
  const moved = await api(a, 'PUT', `/api/scheduled-messages/${item.id}`, { sendAt: ahead(180_000) });
  t.like(moved.body.scheduled, { text: 'second' }, 'moving the time keeps the text');
  t.is((await api(a, 'PUT', `/api/scheduled-messages/${item.id}`, { sendAt: ahead(1_000) })).status, 400);
  t.is((await api(b, 'PUT', `/api/scheduled-messages/${item.id}`, { text: 'mine' })).status, 404);
  t.is((await api(b, 'DELETE', `/api/scheduled-messages/${item.id}`)).status, 404);
  t.deepEqual(await eventsOf(app, `scheduled-${item.id}`), ['MessageScheduled', 'ScheduledMessageEdited', 'ScheduledMessageEdited']);
  t.is((await api(a, 'DELETE', `/api/scheduled-messages/${item.id}`)).status, 204);
  t.like(await listed(a, item.id), { status: 'cancelled', text: null });
  t.is((await api(a, 'PUT', `/api/scheduled-messages/${item.id}`, { text: 'again' })).status, 409);
  // Erased: the log's sealed texts no longer open (an auditor sees the marker).
  const history = await app.eventStore.readStream(`scheduled-${item.id}`);
  t.is(history.at(-1)!.type, 'ScheduledMessageCancelled');
  offsetMs += 200_000;
  await new Promise((resolve) => setTimeout(resolve, 600));
  t.deepEqual(await eventsOf(app, `message-${item.messageId}`), [], 'a cancelled message is never sent');
});

test.serial('it fails, visibly to the sender, if the recipient blocked them or they left the group meanwhile', async (t) => {
  const [a, b, c] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const aSocket = await syncedSocket(a);
  const direct = (await api(a, 'POST', '/api/messages', { recipientId: b.user.id, text: 'hi b', sendAt: ahead(30_000) })).body.scheduled;
  const group = (await api(c, 'POST', '/api/groups', { name: 'G', memberIds: [a.user.id] })).body.group;
  const inGroup = (await api(a, 'POST', '/api/messages', { groupId: group.id, text: 'hi g', sendAt: ahead(30_000) })).body.scheduled;
  t.is((await api(b, 'PUT', `/api/blocks/${a.user.id}`)).status, 204);
  t.is((await api(a, 'DELETE', `/api/groups/${group.id}/members/${a.user.id}`)).status, 204);
  t.like(await passTime(a, direct.id, direct.sendAt), { status: 'failed', reason: 'blocked' });
  t.like(await passTime(a, inGroup.id, inGroup.sendAt), { status: 'failed', reason: 'not_a_member' });
  t.like(await aSocket.next((f) => f.type === 'scheduled.failed' && f.scheduleId === direct.id), { reason: 'blocked' });
  t.like(await aSocket.next((f) => f.type === 'scheduled.failed' && f.scheduleId === inGroup.id), { reason: 'not_a_member' });
  t.deepEqual(await eventsOf(app, `scheduled-${direct.id}`), ['MessageScheduled', 'ScheduledMessageFailed']);
  t.deepEqual(await eventsOf(app, `message-${direct.messageId}`), []);
  t.deepEqual(await eventsOf(app, `message-${inGroup.messageId}`), []);
  // Dismissing a failed one erases its text.
  t.is((await api(a, 'DELETE', `/api/scheduled-messages/${direct.id}`)).status, 204);
  t.like(await listed(a, direct.id), { status: 'cancelled', text: null });
  aSocket.close();
});

test.serial('two dispatchers at once (two instances) and a restart send it exactly once', async (t) => {
  const storageDir = tempDir();
  let own = 0;
  const ownClock = () => new Date(Date.now() + own);
  let server = await startTestApp({ storageDir, clock: ownClock });
  const [a, b] = [await registerUser(server.url), await registerUser(server.url)];
  const sendAt = new Date(ownClock().getTime() + 60_000).toISOString();
  const first = await request(server.url, 'POST', '/api/messages', {
    token: a.accessToken,
    body: { recipientId: b.user.id, text: 'across a restart', sendAt },
  });
  const item = first.body.scheduled;
  await server.stop();
  own += 61_000;
  server = await startTestApp({ storageDir, clock: ownClock });
  try {
    // Whatever ticks are running, two more passes at once change nothing.
    await Promise.all([server.scheduledMessages.tick(), server.scheduledMessages.tick()]);
    const deadline = Date.now() + 5_000;
    while ((await eventsOf(server, `scheduled-${item.id}`)).length < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    t.deepEqual(await eventsOf(server, `message-${item.messageId}`), ['MessageSent']);
    t.deepEqual(await eventsOf(server, `scheduled-${item.id}`), ['MessageScheduled', 'ScheduledMessageDelivered']);
    const page = await request(server.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
    t.deepEqual(
      page.body.messages.map((m: any) => m.content.text),
      ['across a restart'],
    );
  } finally {
    await server.dispose();
  }
});
