import test from 'ava';
import { CHECKPOINTS } from '../../src/projection/runner.ts';
import { registerUser, request, startTestApp, tempDir } from '../helpers/app.ts';
import { spawnServer } from '../helpers/process.ts';
import { connect } from '../helpers/socket.ts';

test('after a restart on the same storage the user logs in, a revoked token stays revoked, projectors resume', async (t) => {
  const storageDir = tempDir();
  const first = await startTestApp({ storageDir });
  const user = await registerUser(first.url);
  const revoked = await request(first.url, 'POST', '/auth/login', { body: { email: user.email, password: user.password } });
  await request(first.url, 'POST', '/auth/logout', { token: revoked.body.accessToken });
  const checkpointsBefore = await first.readStore.collection(CHECKPOINTS).find({}, { sort: { _id: 1 } });
  const headBefore = await first.eventStore.headPosition();
  await first.stop();

  const second = await startTestApp({ storageDir });
  try {
    t.deepEqual(await second.readStore.collection(CHECKPOINTS).find({}, { sort: { _id: 1 } }), checkpointsBefore);
    t.like(await second.projections.status(), { head: headBefore, lag: 0 });
    const login = await request(second.url, 'POST', '/auth/login', { body: { email: user.email, password: user.password } });
    t.is(login.status, 200);
    t.is((await request(second.url, 'GET', '/auth/verify', { token: user.accessToken })).status, 200);
    const stillRevoked = await request(second.url, 'GET', '/auth/verify', { token: revoked.body.accessToken });
    t.is(stillRevoked.body.error.code, 'token_revoked');
    t.is(await second.readStore.collection('users').countDocuments({ email: user.email }), 1, 'nothing was applied twice');
  } finally {
    await second.dispose();
  }
});

test('a kill -9 right after a 201 from register loses nothing', async (t) => {
  const storageDir = tempDir();
  const server = await spawnServer(storageDir);
  const response = await request(server.url, 'POST', '/auth/register', {
    body: { email: 'durable@example.test', username: 'durable', password: 'a long password' },
  });
  t.is(response.status, 201);
  await server.kill9();

  const restarted = await spawnServer(storageDir);
  try {
    const login = await request(restarted.url, 'POST', '/auth/login', { body: { email: 'durable@example.test', password: 'a long password' } });
    t.is(login.status, 200);
    t.is(login.body.user.id, response.body.user.id);
    t.is((await request(restarted.url, 'GET', '/auth/verify', { token: response.body.accessToken })).status, 200);
  } finally {
    await restarted.kill9();
  }
});

test('a client resumes its sync across a server restart with no gap and no duplicate', async (t) => {
  const storageDir = tempDir();
  const first = await startTestApp({ storageDir });
  const [a, b] = [await registerUser(first.url), await registerUser(first.url)];
  const before = await request(first.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text: 'before restart' } });
  const lastSeen = before.body.message.position;
  const missed = await request(first.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text: 'while away' } });
  await first.stop();

  const second = await startTestApp({ storageDir });
  try {
    const socket = await connect(second.wsUrl, b.accessToken);
    socket.send({ type: 'sync', since: lastSeen });
    await socket.next((f) => f.type === 'sync.ok');
    const after = await request(second.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text: 'after restart' } });
    await socket.next((f) => f.type === 'message.created' && f.message.id === after.body.message.id);
    t.deepEqual(socket.frames.filter((f) => f.type === 'message.created').map((f) => f.message.content.text), ['while away', 'after restart']);
    t.is(missed.status, 201);
    socket.close();
  } finally {
    await second.dispose();
  }
});
