import test from 'ava';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { request, tempDir } from '../helpers/app.ts';
import { spawnServer } from '../helpers/process.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

interface Acked {
  messageId: string;
  position: number;
}

/** Sends messages one after another on one socket, remembering each ack, until the socket dies. */
async function sendUntilClosed(socket: TestSocket, recipientId: string, prefix: string, acked: Acked[]): Promise<void> {
  let alive = true;
  void socket.closed.then(() => {
    alive = false;
  });
  for (let i = 0; alive; i++) {
    socket.send({ type: 'message.send', id: `${prefix}-${i}`, recipientId, text: `${prefix} ${i}`, clientMessageId: `${prefix}-${i}` });
    try {
      const ack = await socket.next((f) => f.type === 'message.send.ok' && f.id === `${prefix}-${i}`, 3_000);
      acked.push({ messageId: ack.messageId, position: ack.position });
    } catch {
      return;
    }
  }
}

test('kill -9 while clients send: every acked message is stored, projected and synced exactly once after restart', async (t) => {
  const storageDir = tempDir();
  const server = await spawnServer(storageDir);
  const register = async (name: string) =>
    (
      await request(server.url, 'POST', '/auth/register', {
        body: { email: `${name}@example.test`, username: name, password: 'a long password' },
      })
    ).body;
  const [a, b] = [await register('crash_a'), await register('crash_b')];

  const acked: Acked[] = [];
  // Wrapped: returning the promise from the async callback would make the first await wait for the sending to end.
  const senders = await Promise.all(
    [0, 1, 2, 3].map(async (n) => {
      const socket = await connect(server.wsUrl, a.accessToken);
      return { done: sendUntilClosed(socket, b.user.id, `s${n}`, acked) };
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 700));
  await server.kill9();
  await Promise.all(senders.map((sender) => sender.done));
  t.true(acked.length > 0, 'some messages were acked before the crash');

  const restarted = await spawnServer(storageDir);
  try {
    const events = new Database(join(storageDir, 'events.sqlite'), { readonly: true });
    const stored = events
      .prepare(`SELECT json_extract(data, '$.messageId') AS id, count(*) AS n FROM events WHERE type = 'MessageSent' GROUP BY id`)
      .all() as Array<{ id: string; n: number }>;
    events.close();
    const storedCount = new Map(stored.map((row) => [row.id, row.n]));
    t.true(
      acked.every((ack) => storedCount.get(ack.messageId) === 1),
      'each acked message is in the event store exactly once',
    );
    t.true(
      stored.every((row) => row.n === 1),
      'no message is stored twice',
    );

    const projected: string[] = [];
    for (let before: number | null = null; ;) {
      const page: { body: any } = await request(
        restarted.url,
        'GET',
        `/api/messages?with=${a.user.id}&limit=100${before ? `&before=${before}` : ''}`,
        { token: b.accessToken },
      );
      projected.push(...page.body.messages.map((m: { id: string }) => m.id));
      if (!page.body.hasMore) break;
      before = page.body.cursors.before;
    }
    t.is(new Set(projected).size, projected.length, 'the read model holds no duplicate');
    t.true(
      acked.every((ack) => projected.includes(ack.messageId)),
      'every acked message is in the read model',
    );

    const socket = await connect(restarted.wsUrl, b.accessToken);
    socket.send({ type: 'sync', since: 0 });
    await socket.next((f) => f.type === 'sync.ok', 10_000);
    const synced = socket.frames.filter((f) => f.type === 'message.created').map((f) => f.message.id);
    t.is(new Set(synced).size, synced.length, 'sync delivers no duplicate');
    t.true(
      acked.every((ack) => synced.includes(ack.messageId)),
      'sync delivers every acked message',
    );
    socket.close();

    const ping = await request(restarted.url, 'GET', '/ping');
    t.is(ping.body.projections.lag, 0, 'projectors resumed from their checkpoints and caught up');
  } finally {
    await restarted.kill9();
  }
});
