import test from 'ava';
import { FEED } from '../../projections/feed.ts';
import { pruneFeed } from '../../src/projection/feedRetention.ts';
import { registerUser, request, startTestApp } from '../helpers/app.ts';
import { connect } from '../helpers/socket.ts';

test('after the feed is pruned, a sync from before the horizon gets sync.reset; one after it replays as usual', async (t) => {
  const app = await startTestApp();
  try {
    const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
    const send = (text: string) => request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text } });
    const first = (await send('old one')).body.message;
    await send('old two');
    const { horizon, removed } = await pruneFeed(app.readStore, new Date(Date.now() + 1_000));
    t.true(removed >= 4, 'both users\' entries for both messages');
    const fresh = (await send('after pruning')).body.message;

    const stale = await connect(app.wsUrl, b.accessToken);
    stale.send({ type: 'sync', id: 'old', since: first.position - 1 });
    const reset = await stale.next((f) => f.type === 'sync.reset');
    t.like(reset, { id: 'old' });
    t.true(reset.position >= fresh.position);
    t.is(reset.conversations[0].lastMessage.id, fresh.id);
    t.false(stale.frames.some((f) => f.type === 'message.created'), 'nothing replayed across the gap');
    stale.close();

    const current = await connect(app.wsUrl, b.accessToken);
    current.send({ type: 'sync', since: horizon });
    await current.next((f) => f.type === 'sync.ok');
    t.deepEqual(current.frames.filter((f) => f.type === 'message.created').map((f) => f.message.id), [fresh.id]);
    current.close();
  } finally {
    await app.dispose();
  }
});

test('a sync that races prune-feed answers sync.reset, never sync.ok over a hole', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const send = (text: string) => request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text } });
  const first = (await send('one')).body.message;
  await send('two');
  // prune-feed runs in another process between the sync's horizon check and its page read.
  const feed = app.readStore.collection(FEED);
  const find = feed.find.bind(feed);
  feed.find = async (...args) => {
    feed.find = find;
    await pruneFeed(app.readStore, new Date(Date.now() + 1_000));
    return find(...args);
  };
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
  const send = (text: string) => request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text } });
  const first = (await send('one')).body.message;
  const feed = app.readStore.collection(FEED);
  const find = feed.find.bind(feed);
  feed.find = async () => {
    feed.find = find;
    throw new Error('disk read failed');
  };
  const socket = await connect(app.wsUrl, b.accessToken);
  socket.send({ type: 'sync', id: 'fails', since: first.position - 1 });
  t.like(await socket.next((f) => f.id === 'fails'), { type: 'error', error: { code: 'internal_error' } });
  const missed = (await send('while not live')).body.message;
  socket.send({ type: 'ping', id: 'p' });
  await socket.next((f) => f.type === 'ping.ok');
  t.false(socket.frames.some((f) => f.type === 'message.created'), 'nothing live, nothing skipped');
  socket.send({ type: 'sync', id: 'again', since: first.position - 1 });
  await socket.next((f) => f.id === 'again' && f.type === 'sync.ok');
  t.deepEqual(socket.frames.filter((f) => f.type === 'message.created').map((f) => f.message.id), [first.id, missed.id]);
  socket.close();
});

test('a sync from beyond the log\'s head is answered with sync.reset, and the socket then receives live updates', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const socket = await connect(app.wsUrl, b.accessToken);
  socket.send({ type: 'sync', id: 'future', since: (await app.eventStore.headPosition()) + 1_000 });
  const reset = await socket.next((f) => f.id === 'future');
  t.is(reset.type, 'sync.reset');
  const sent = (await request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text: 'live' } })).body.message;
  t.is((await socket.next((f) => f.type === 'message.created')).message.id, sent.id);
  socket.close();
});
