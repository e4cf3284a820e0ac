import test from 'ava';
import type { Worker } from 'node:worker_threads';
import { WorkerProjections } from '../../src/projection/workerProjections.ts';
import { CLOSE } from '../../src/contract/socketProtocol.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { connect } from '../helpers/socket.ts';

async function liveRoundTrip(t: import('ava').ExecutionContext, app: TestApp, text: string) {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const socket = await connect(app.wsUrl, b.accessToken);
  socket.send({ type: 'sync', id: 's' });
  await socket.next((f) => f.type === 'sync.snapshot');
  const sent = await request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text } });
  t.is(sent.status, 201);
  t.is((await socket.next((f) => f.type === 'message.created')).message.id, sent.body.message.id);
  t.is(
    (await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken })).body.messages[0].id,
    sent.body.message.id,
  );
  return { a, b, socket };
}

test('on the embedded stores the projections run in a worker thread: writes are readable, pushed, and logouts close sockets', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  t.true(app.projections instanceof WorkerProjections);
  const { b, socket } = await liveRoundTrip(t, app, 'through the worker');
  await request(app.url, 'POST', '/auth/logout', { token: b.accessToken });
  t.deepEqual(await socket.closed, { code: CLOSE.UNAUTHORIZED, reason: 'token_revoked' });
});

test('a projection worker that dies is restarted and resumes from its checkpoints', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  await liveRoundTrip(t, app, 'before');
  // The runner's private worker thread: the test kills it as a crash would.
  const workerOf = () => Reflect.get(app.projections, 'worker') as Worker | null;
  const first = workerOf()!;
  await first.terminate();
  // A write made while it is down waits for it (read-your-writes), then everything is there.
  const after = await liveRoundTrip(t, app, 'after the restart');
  t.not(workerOf(), first, 'a new worker');
  after.socket.close();
});

test('the projections can run in the serving thread too (as with EventStoreDB or MongoDB)', async (t) => {
  const app = await startTestApp({ projectionInWorker: false });
  t.teardown(() => app.dispose());
  t.false(app.projections instanceof WorkerProjections);
  const { socket } = await liveRoundTrip(t, app, 'in the serving thread');
  socket.close();
});
