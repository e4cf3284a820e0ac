import test from 'ava';
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
