import test from 'ava';
import Database from 'better-sqlite3';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { request, tempDir } from '../helpers/app.ts';
import { spawnServer } from '../helpers/process.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

interface Acked {
  messageId: string;
  at: number;
}

/** Socket sends one after another, each remembered when acked, until the socket closes. */
async function sendOnSocket(socket: TestSocket, recipientId: string, prefix: string, acked: Acked[]): Promise<void> {
  let alive = true;
  void socket.closed.then(() => {
    alive = false;
  });
  for (let i = 0; alive; i++) {
    socket.send({ type: 'message.send', id: `${prefix}-${i}`, recipientId, text: `${prefix} ${i}`, clientMessageId: `${prefix}-${i}` });
    try {
      const ack = await socket.next((f) => (f.type === 'message.send.ok' || f.type === 'error') && f.id === `${prefix}-${i}`, 3_000);
      if (ack.type === 'message.send.ok') acked.push({ messageId: ack.messageId, at: Date.now() });
    } catch {
      return;
    }
  }
}

/** REST sends one after another until the server stops answering; each 201 remembered. */
async function sendOverRest(url: string, token: string, recipientId: string, prefix: string, acked: Acked[]): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      const response = await request(url, 'POST', '/api/messages', {
        token,
        body: { recipientId, text: `${prefix} ${i}`, clientMessageId: `${prefix}-${i}` },
      });
      if (response.status === 201) acked.push({ messageId: response.body.message.id, at: Date.now() });
      else if (response.status >= 500) return;
    } catch {
      return; // refused: the server no longer accepts connections
    }
  }
}

test('SIGTERM while clients send over REST and sockets: sockets see 1001 and every acknowledged message is in the log after restart', async (t) => {
  const storageDir = tempDir();
  const server = await spawnServer(storageDir, { SHUTDOWN_GRACE_MS: '5000' });
  const register = async (name: string) =>
    (
      await request(server.url, 'POST', '/auth/register', {
        body: { email: `${name}@example.test`, username: name, password: 'a long password' },
      })
    ).body;
  const [a, b] = [await register('drain_a'), await register('drain_b')];
  const receiver = await connect(server.wsUrl, b.accessToken);
  await receiver.next((f) => f.type === 'welcome');

  const viaSocket: Acked[] = [];
  const viaRest: Acked[] = [];
  const sockets = await Promise.all([0, 1].map(() => connect(server.wsUrl, a.accessToken)));
  const senders = [
    ...sockets.map((socket, n) => sendOnSocket(socket, b.user.id, `ws${n}`, viaSocket)),
    ...[0, 1].map((n) => sendOverRest(server.url, a.accessToken, b.user.id, `rest${n}`, viaRest)),
  ];
  await new Promise((resolve) => setTimeout(resolve, 500));

  // Probes whose timing is certain: a REST request whose body is still arriving at SIGTERM, and a burst of socket
  // frames the server has received but not yet answered.
  const body = JSON.stringify({ recipientId: b.user.id, text: 'slow upload', clientMessageId: 'slow-1' });
  const slow = new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = httpRequest(
      `${server.url}/api/messages`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${a.accessToken}`,
        },
      },
      (response) => {
        let text = '';
        response
          .on('data', (chunk) => {
            text += chunk;
          })
          .on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, 10));
    setTimeout(() => req.end(body.slice(10)), 600);
  });
  const burst = await connect(server.wsUrl, a.accessToken);
  await burst.next((f) => f.type === 'welcome');
  for (let i = 0; i < 40; i++)
    burst.send({ type: 'message.send', id: `burst-${i}`, recipientId: b.user.id, text: `burst ${i}`, clientMessageId: `burst-${i}` });
  while (burst.socket.bufferedAmount > 0) await new Promise((resolve) => setTimeout(resolve, 1));
  await new Promise((resolve) => setTimeout(resolve, 100));

  const sigterm = Date.now();
  const stopped = server.stop();
  const slowAnswer = await slow;
  t.is(slowAnswer.status, 201, 'the request in flight at SIGTERM is answered');
  viaRest.push({ messageId: slowAnswer.body.message.id, at: Date.now() });
  t.deepEqual(await burst.closed, { code: 1001, reason: 'server_shutdown' });
  const burstAcks = burst.frames.filter((f) => f.type === 'message.send.ok');
  t.is(burstAcks.length, 40, 'every frame received before SIGTERM is acknowledged before the 1001');
  viaSocket.push(...burstAcks.map((ack) => ({ messageId: ack.messageId as string, at: Date.now() })));
  await Promise.all(senders);
  await stopped;
  t.is(server.child.exitCode, 0, 'a graceful exit');

  for (const socket of [receiver, ...sockets]) t.deepEqual(await socket.closed, { code: 1001, reason: 'server_shutdown' });
  const acked = [...viaSocket, ...viaRest];
  t.true(viaSocket.length > 0 && viaRest.length > 0, 'both transports acknowledged sends');
  t.true(
    acked.some((ack) => ack.at >= sigterm),
    'sends in flight at SIGTERM were answered',
  );
  t.true(acked.every((ack) => typeof ack.messageId === 'string'));

  const restarted = await spawnServer(storageDir);
  t.teardown(() => restarted.kill9());
  const events = new Database(join(storageDir, 'events.sqlite'), { readonly: true });
  const stored = new Set(
    (
      events.prepare(`SELECT json_extract(data, '$.messageId') AS id FROM events WHERE type = 'MessageSent'`).all() as Array<{ id: string }>
    ).map((row) => row.id),
  );
  events.close();
  const lost = acked.filter((ack) => !stored.has(ack.messageId));
  t.deepEqual(lost, [], 'no acknowledged message is missing from the log');
  t.is((await request(restarted.url, 'GET', '/health/ready')).status, 200);
});
