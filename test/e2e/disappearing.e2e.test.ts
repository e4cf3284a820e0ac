import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { messageDecider, messageStream } from '../../commands/messages.ts';
import { directConversationId } from '../../commands/conversations.ts';
import { CommandHandler } from '../../src/commandHandler.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

const HOUR = 3_600_000;
const FILES = ['events.sqlite', 'read.sqlite'].flatMap((file) => [file, `${file}-wal`]);

/** Which of the storage dir's event and read databases (and WALs) hold these bytes anywhere, as raw bytes. */
const filesHolding = (dir: string, needle: string) =>
  FILES.filter((file) => existsSync(join(dir, file)) && readFileSync(join(dir, file)).includes(Buffer.from(needle)));

async function eventually<T>(probe: () => T, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app.dispose();
});

const types = async (stream: string) => (await app.eventStore.readStream(stream)).map((event) => event.type);
const later = (ms: number) => new Date(Date.now() + ms);

async function send(token: string, body: Record<string, unknown>) {
  const sent = await request(app.url, 'POST', '/api/messages', { token, body });
  if (sent.status !== 201) throw new Error(`send failed: ${sent.status} ${JSON.stringify(sent.body)}`);
  return sent.body.message as { id: string; sentAt: string; expiresAt?: string };
}

async function synced(token: string): Promise<TestSocket> {
  const socket = await connect(app.wsUrl, token);
  socket.send({ type: 'sync', id: 's' });
  await socket.next((frame) => frame.type === 'sync.snapshot' || frame.type === 'sync.ok');
  return socket;
}

test.serial(
  'direct: either participant sets the timer (a notice to both); a message expires that long after it was sent, for everyone, its text gone from every file',
  async (t) => {
    const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
    const conversationId = directConversationId(a.user.id, b.user.id);
    const bSocket = await synced(b.accessToken);
    const kept = await send(a.accessToken, { recipientId: b.user.id, text: `kept-${randomUUID()}` });
    t.is(kept.expiresAt, undefined, 'sent before any timer: kept for good');

    const set = await request(app.url, 'PUT', '/api/conversations/timer', {
      token: a.accessToken,
      body: { with: b.user.id, timer: '24h' },
    });
    t.is(set.status, 200);
    t.like(set.body.timer, { conversationId, timer: '24h', seconds: 86_400, changedBy: a.user.id });
    t.deepEqual(await types(`disappearing-${conversationId}`), ['DisappearingTimerChanged']);
    t.like(await bSocket.next((frame) => frame.type === 'conversation.timer'), {
      conversationId,
      timer: '24h',
      seconds: 86_400,
      byUserId: a.user.id,
    });
    const got = await request(app.url, 'GET', `/api/conversations/timer?with=${a.user.id}`, { token: b.accessToken });
    t.like(got.body.timer, { timer: '24h', changedBy: a.user.id });

    const secret = `disappearing-${randomUUID()}`;
    const doomed = await send(a.accessToken, { recipientId: b.user.id, text: secret });
    t.is(Date.parse(doomed.expiresAt!) - Date.parse(doomed.sentAt), 24 * HOUR);
    await bSocket.next((frame) => frame.type === 'message.created' && frame.message.id === doomed.id);
    t.true(filesHolding(app.storageDir, secret).length > 0, "the scan sees the read store's copy while it lives");

    // A later change applies to later messages only: the doomed one keeps its 24 hours.
    const byB = await request(app.url, 'PUT', '/api/conversations/timer', { token: b.accessToken, body: { with: a.user.id, timer: '7d' } });
    t.like(byB.body.timer, { timer: '7d', changedBy: b.user.id });
    const weekly = await send(b.accessToken, { recipientId: a.user.id, text: `weekly-${randomUUID()}` });
    t.is(Date.parse(weekly.expiresAt!) - Date.parse(weekly.sentAt), 7 * 24 * HOUR);

    t.deepEqual(await app.messageExpiry.sweep(later(23 * HOUR)), { expired: 0, shredded: 0 }, 'not due yet');
    t.deepEqual(await app.messageExpiry.sweep(later(25 * HOUR)), { expired: 1, shredded: 1 });
    t.deepEqual(await types(messageStream(doomed.id)), ['MessageSent', 'MessageExpired', 'MessageContentShredded']);
    t.deepEqual(await types(messageStream(weekly.id)), ['MessageSent']);
    t.deepEqual(await types(messageStream(kept.id)), ['MessageSent']);
    t.like(await bSocket.next((frame) => frame.type === 'message.expired'), { conversationId, messageId: doomed.id });

    const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
    t.deepEqual(
      page.body.messages.map((message: { id: string }) => message.id),
      [weekly.id, kept.id],
    );
    t.is((await request(app.url, 'GET', `/api/messages/${doomed.id}/history`, { token: a.accessToken })).status, 404);
    const edit = await request(app.url, 'PUT', `/api/messages/${doomed.id}`, { token: a.accessToken, body: { text: 'again' } });
    t.is(edit.status, 404);
    t.deepEqual(await types(messageStream(doomed.id)), ['MessageSent', 'MessageExpired', 'MessageContentShredded'], 'nothing appended');

    // A resync replays the send without its content.
    const replay = await connect(app.wsUrl, b.accessToken);
    replay.send({ type: 'sync', id: 'r', since: 0 });
    t.like(await replay.next((frame) => frame.type === 'message.created' && frame.message.id === doomed.id), {
      message: { id: doomed.id, content: null },
    });
    await replay.next((frame) => frame.type === 'message.expired' && frame.messageId === doomed.id);
    replay.close();

    const traces = await eventually(
      () => filesHolding(app.storageDir, secret),
      (found) => found.length === 0,
    );
    t.deepEqual(traces, [], 'no event or read database, nor their WALs, holds the text');

    // The newest message expiring: the list's preview falls back to the one before it.
    t.deepEqual(await app.messageExpiry.sweep(later(8 * 24 * HOUR)), { expired: 1, shredded: 1 });
    const list = await request(app.url, 'GET', '/api/conversations', { token: a.accessToken });
    const item = list.body.conversations.find((conversation: { conversationId: string }) => conversation.conversationId === conversationId);
    t.is(item.lastMessage.id, kept.id);
    // Numbering goes on above the expired ones: a new message is unread for its recipient.
    await send(a.accessToken, { recipientId: b.user.id, text: 'after the expiries' });
    const bList = await request(app.url, 'GET', '/api/conversations', { token: b.accessToken });
    t.true(
      bList.body.conversations.find((conversation: { conversationId: string }) => conversation.conversationId === conversationId)
        .unreadCount >= 1,
    );
    bSocket.close();
  },
);

test.serial(
  'group: the admins set the timer; a member who is not one is refused (403), an outsider finds nothing (404), bad values 400: nothing appended',
  async (t) => {
    const [owner, member, outsider] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
    const created = await request(app.url, 'POST', '/api/groups', {
      token: owner.accessToken,
      body: { name: 'Fleeting', memberIds: [member.user.id] },
    });
    t.is(created.status, 201);
    const groupId = created.body.group.id as string;
    const stream = `disappearing-group:${groupId}`;
    const memberSocket = await synced(member.accessToken);

    const refused = await request(app.url, 'PUT', '/api/conversations/timer', {
      token: member.accessToken,
      body: { groupId, timer: '24h' },
    });
    t.is(refused.status, 403);
    t.is(refused.body.error.code, 'forbidden');
    const hidden = await request(app.url, 'PUT', '/api/conversations/timer', {
      token: outsider.accessToken,
      body: { groupId, timer: '24h' },
    });
    t.is(hidden.status, 404);
    t.is(hidden.body.error.code, 'not_found');
    t.is((await request(app.url, 'GET', `/api/conversations/timer?groupId=${groupId}`, { token: outsider.accessToken })).status, 404);
    for (const body of [
      { groupId, timer: '1h' },
      { groupId, timer: 86_400 },
      { groupId, with: member.user.id, timer: '7d' },
      { timer: '7d' },
    ]) {
      const bad = await request(app.url, 'PUT', '/api/conversations/timer', { token: owner.accessToken, body });
      t.is(bad.status, 400, JSON.stringify(body));
      t.is(bad.body.error.code, 'validation_failed');
    }
    const stranger = await request(app.url, 'PUT', '/api/conversations/timer', {
      token: owner.accessToken,
      body: { with: randomUUID(), timer: '24h' },
    });
    t.is(stranger.status, 404, 'no direct conversation with an unknown user');
    t.deepEqual(await types(stream), [], 'nothing appended');

    const set = await request(app.url, 'PUT', '/api/conversations/timer', { token: owner.accessToken, body: { groupId, timer: '24h' } });
    t.is(set.status, 200);
    t.deepEqual(await types(stream), ['DisappearingTimerChanged']);
    t.like(await memberSocket.next((frame) => frame.type === 'conversation.timer'), { conversationId: `group:${groupId}`, timer: '24h' });

    const secret = `group-secret-${randomUUID()}`;
    const sent = await send(member.accessToken, { groupId, text: secret });
    t.truthy(sent.expiresAt);
    t.deepEqual(await app.messageExpiry.sweep(later(25 * HOUR)), { expired: 1, shredded: 1 });
    t.like(await memberSocket.next((frame) => frame.type === 'message.expired'), {
      conversationId: `group:${groupId}`,
      messageId: sent.id,
    });
    const page = await request(app.url, 'GET', `/api/messages?groupId=${groupId}`, { token: owner.accessToken });
    t.deepEqual(page.body.messages, []);
    const traces = await eventually(
      () => filesHolding(app.storageDir, secret),
      (found) => found.length === 0,
    );
    t.deepEqual(traces, []);
    memberSocket.close();
  },
);

test.serial('a crash between the expiry and the key is finished by the next pass: the key destroyed, then recorded', async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  await request(app.url, 'PUT', '/api/conversations/timer', { token: a.accessToken, body: { with: b.user.id, timer: '24h' } });
  const sent = await send(a.accessToken, { recipientId: b.user.id, text: `interrupted-${randomUUID()}` });
  // What a pass that stopped after its append leaves: MessageExpired in the log, the key still there.
  const commands = new CommandHandler(app.eventStore, eventUpcaster, 1_000_000);
  const now = later(25 * HOUR).toISOString();
  const expired = await commands.handle(messageDecider, messageStream(sent.id), {
    type: 'ExpireMessage',
    data: { messageId: sent.id, reason: 'timer' },
    metadata: { commandId: randomUUID(), correlationId: 'c', causationId: 'c', userId: null, now },
  });
  await app.projections.waitFor(expired.position!);
  t.deepEqual(await types(messageStream(sent.id)), ['MessageSent', 'MessageExpired']);
  const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
  t.false(
    page.body.messages.some((message: { id: string }) => message.id === sent.id),
    'nothing half-erased is served',
  );

  t.deepEqual(await app.messageExpiry.sweep(later(25 * HOUR)), { expired: 0, shredded: 1 });
  t.deepEqual(await types(messageStream(sent.id)), ['MessageSent', 'MessageExpired', 'MessageContentShredded']);
  t.deepEqual(await app.messageExpiry.sweep(later(25 * HOUR)), { expired: 0, shredded: 0 }, 'done once');
});

test.serial('the expiry survives a restart: a message due while the server was down expires at the next start', async (t) => {
  const dir = app.storageDir;
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  await request(app.url, 'PUT', '/api/conversations/timer', { token: a.accessToken, body: { with: b.user.id, timer: '24h' } });
  const sent = await send(a.accessToken, { recipientId: b.user.id, text: `across-restart-${randomUUID()}` });
  await app.stop();
  // The new server's clock is a day on: the pass it runs at start finds the message due.
  const clock = () => later(25 * HOUR);
  app = await startTestApp({ storageDir: dir, clock });
  // Waited for as events, not a fixed sleep: the start's pass runs in the background.
  for (let tries = 0; tries < 200 && (await types(messageStream(sent.id))).length < 3; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  t.deepEqual(await types(messageStream(sent.id)), ['MessageSent', 'MessageExpired', 'MessageContentShredded']);
});
