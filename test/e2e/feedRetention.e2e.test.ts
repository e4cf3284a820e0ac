import test from 'ava';
import { randomUUID } from 'node:crypto';
import { directConversationId } from '../../commands/conversations.ts';
import { messageStream } from '../../commands/messages.ts';
import { FEED } from '../../projections/feed.ts';
import { pruneFeed } from '../../src/projection/feedRetention.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { connect, tcpOf } from '../helpers/socket.ts';

test('after the feed is pruned, a sync from before the horizon gets sync.reset; one after it replays as usual', async (t) => {
  const app = await startTestApp();
  try {
    const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
    const send = (text: string) =>
      request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text } });
    const first = (await send('old one')).body.message;
    await send('old two');
    // A send answers once durable; its feed entry may still be on the way.
    await app.projections.waitFor(await app.eventStore.headPosition());
    const { horizon, removed } = await pruneFeed(app.readStore, new Date(Date.now() + 1_000));
    t.true(removed >= 2, 'the entries of both messages (one per message, whoever it reaches)');
    const fresh = (await send('after pruning')).body.message;

    const stale = await connect(app.wsUrl, b.accessToken);
    stale.send({ type: 'sync', id: 'old', since: first.position - 1 });
    const reset = await stale.next((f) => f.type === 'sync.reset');
    t.like(reset, { id: 'old' });
    t.true(reset.position >= fresh.position);
    t.is(reset.conversations[0].lastMessage.id, fresh.id);
    t.false(
      stale.frames.some((f) => f.type === 'message.created'),
      'nothing replayed across the gap',
    );
    stale.close();

    const current = await connect(app.wsUrl, b.accessToken);
    current.send({ type: 'sync', since: horizon });
    await current.next((f) => f.type === 'sync.ok');
    t.deepEqual(
      current.frames.filter((f) => f.type === 'message.created').map((f) => f.message.id),
      [fresh.id],
    );
    current.close();
  } finally {
    await app.dispose();
  }
});

/** Runs `before` ahead of the next read of the feed collection (a race, or a failure, at that exact point). */
function beforeNextFeedRead(app: TestApp, before: () => Promise<unknown>): void {
  const feed = app.readStore.collection(FEED);
  const find = feed.find.bind(feed);
  feed.find = async (...args) => {
    feed.find = find;
    await before();
    return find(...args);
  };
}

test('a sync that races prune-feed answers sync.reset, never sync.ok over a hole', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const send = (text: string) =>
    request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text } });
  const first = (await send('one')).body.message;
  await send('two');
  // prune-feed runs in another process between the sync's horizon check and its page read.
  beforeNextFeedRead(app, () => pruneFeed(app.readStore, new Date(Date.now() + 1_000)));
  const socket = await connect(app.wsUrl, b.accessToken);
  socket.send({ type: 'sync', id: 'racing', since: first.position - 1 });
  const answer = await socket.next((f) => f.id === 'racing' && f.type.startsWith('sync.'));
  t.is(answer.type, 'sync.reset');
  socket.close();
});

test('a sync whose replay fails sends an error and leaves the socket not live until it syncs again', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const send = (text: string) =>
    request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text } });
  const first = (await send('one')).body.message;
  beforeNextFeedRead(app, async () => {
    throw new Error('disk read failed');
  });
  const socket = await connect(app.wsUrl, b.accessToken);
  socket.send({ type: 'sync', id: 'fails', since: first.position - 1 });
  t.like(await socket.next((f) => f.id === 'fails'), { type: 'error', error: { code: 'internal_error' } });
  const missed = (await send('while not live')).body.message;
  socket.send({ type: 'ping', id: 'p' });
  await socket.next((f) => f.type === 'ping.ok');
  t.false(
    socket.frames.some((f) => f.type === 'message.created'),
    'nothing live, nothing skipped',
  );
  socket.send({ type: 'sync', id: 'again', since: first.position - 1 });
  await socket.next((f) => f.id === 'again' && f.type === 'sync.ok');
  t.deepEqual(
    socket.frames.filter((f) => f.type === 'message.created').map((f) => f.message.id),
    [first.id, missed.id],
  );
  socket.close();
});

test("a sync from beyond the log's head is answered with sync.reset, and the socket then receives live updates", async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const socket = await connect(app.wsUrl, b.accessToken);
  socket.send({ type: 'sync', id: 'future', since: (await app.eventStore.headPosition()) + 1_000 });
  const reset = await socket.next((f) => f.id === 'future');
  t.is(reset.type, 'sync.reset');
  const sent = (await request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text: 'live' } }))
    .body.message;
  t.is((await socket.next((f) => f.type === 'message.created')).message.id, sent.id);
  socket.close();
});

test('a long backlog is replayed a page at a time as the client reads: a client that reads slowly is not closed as a slow consumer', async (t) => {
  const app = await startTestApp({ maxBufferedBytes: 64 * 1024 });
  t.teardown(() => app.dispose());
  const [a, b, c] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const conversationId = directConversationId(a.user.id, b.user.id);
  const sentAt = new Date().toISOString();
  let head = 0;
  // 1,600 messages of 4 KB for B straight into the log (four sync pages, 6 MB), projected like any others.
  await Promise.all(
    Array.from({ length: 1_600 }, async (_, i) => {
      const messageId = randomUUID();
      const { position } = await app.eventStore.append(
        messageStream(messageId),
        [
          {
            type: 'MessageSent',
            data: {
              messageId,
              conversationId,
              senderId: a.user.id,
              target: { kind: 'direct', recipientId: b.user.id },
              content: { kind: 'text', text: `${i} ${'x'.repeat(3_900)}` },
              replyTo: null,
              attachments: [],
              clientMessageId: messageId,
              sentAt,
            },
            metadata: { eventId: randomUUID(), correlationId: 'c', causationId: 'c', userId: a.user.id, timestamp: sentAt },
          },
        ],
        'no-stream',
      );
      head = Math.max(head, position);
    }),
  );
  await app.projections.waitFor(head, 30_000);
  const [syncing, other] = [await connect(app.wsUrl, b.accessToken), await connect(app.wsUrl, c.accessToken)];
  await other.next((f) => f.type === 'welcome');
  // The client stops reading as its sync starts: the kernel buffers fill, then the server's own.
  const tcp = tcpOf(syncing.socket);
  tcp.pause();
  syncing.send({ type: 'sync', id: 'long', since: 0 });
  other.send({ type: 'ping', id: 'meanwhile' });
  await other.next((f) => f.type === 'ping.ok');
  await new Promise((resolve) => setTimeout(resolve, 300)); // a slow reader, then it catches up
  tcp.resume();
  const outcome = await Promise.race([
    syncing.next((f) => f.type === 'sync.ok', 30_000).then(() => 'synced'),
    syncing.closed.then(({ code, reason }) => `closed ${code} ${reason}`),
  ]);
  t.is(outcome, 'synced');
  t.is(syncing.frames.filter((f) => f.type === 'message.created').length, 1_600, 'the whole backlog, once');
  syncing.close();
  other.close();
});
