import test from 'ava';
import { CLOSE } from '../../src/contract/socketProtocol.ts';
import { registerUser, request, startTestApp } from '../helpers/app.ts';
import { connect, tcpOf } from '../helpers/socket.ts';

test('a socket that stops reading is closed with 4408 slow_consumer once its send buffer is full; others carry on', async (t) => {
  const app = await startTestApp({ maxBufferedBytes: 64 * 1024 });
  try {
    const [slow, sender] = [await registerUser(app.url), await registerUser(app.url)];
    const reader = await connect(app.wsUrl, slow.accessToken);
    reader.send({ type: 'sync' });
    await reader.next((f) => f.type === 'sync.snapshot');
    const healthy = await connect(app.wsUrl, sender.accessToken);
    healthy.send({ type: 'sync' });
    await healthy.next((f) => f.type === 'sync.snapshot');

    // Stop reading: the kernel buffers fill, then the server's own buffer for this socket.
    tcpOf(reader.socket).pause();
    const text = 'x'.repeat(3_900);
    for (let batch = 0; batch < 60; batch++) {
      await Promise.all(
        Array.from({ length: 25 }, () =>
          request(app.url, 'POST', '/api/messages', { token: sender.accessToken, body: { recipientId: slow.user.id, text } }),
        ),
      );
    }
    tcpOf(reader.socket).resume();
    t.deepEqual(await reader.closed, { code: CLOSE.SLOW_CONSUMER, reason: 'slow_consumer' });

    healthy.send({ type: 'ping', id: 'still' });
    t.like(await healthy.next((f) => f.type === 'ping.ok'), { id: 'still' });
    healthy.close();
  } finally {
    await app.dispose();
  }
});
