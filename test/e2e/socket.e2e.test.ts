import test from 'ava';
import { CLOSE, LIMITS } from '../../src/contract/socketProtocol.ts';
import jwt from 'jsonwebtoken';
import { registerUser, request, startTestApp, testEnv, type TestApp } from '../helpers/app.ts';
import { connect } from '../helpers/socket.ts';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app.dispose();
});

test('a socket with a valid token is welcomed and answers ping', async (t) => {
  const user = await registerUser(app.url);
  const socket = await connect(app.wsUrl, user.accessToken);
  t.like(await socket.next((f) => f.type === 'welcome'), { userId: user.user.id });
  socket.send({ type: 'ping', id: 'p1' });
  t.like(await socket.next((f) => f.type === 'ping.ok'), { id: 'p1' });
  socket.close();
});

test('a socket without a token is closed with 4401 missing_token', async (t) => {
  const socket = await connect(app.wsUrl);
  t.deepEqual(await socket.closed, { code: CLOSE.UNAUTHORIZED, reason: 'missing_token' });
});

test('a socket with a forged token is closed with 4401 invalid_token', async (t) => {
  const user = await registerUser(app.url);
  const socket = await connect(app.wsUrl, `${user.accessToken.slice(0, -4)}AAAA`);
  t.deepEqual(await socket.closed, { code: CLOSE.UNAUTHORIZED, reason: 'invalid_token' });
});

test('logout closes the open sockets of that token with 4401 token_revoked and refuses it afterwards', async (t) => {
  const user = await registerUser(app.url);
  const other = await request(app.url, 'POST', '/auth/login', { body: { email: user.email, password: user.password } });
  const revoked = await connect(app.wsUrl, user.accessToken);
  const kept = await connect(app.wsUrl, other.body.accessToken);
  await revoked.next((f) => f.type === 'welcome');
  await kept.next((f) => f.type === 'welcome');
  t.is((await request(app.url, 'POST', '/auth/logout', { token: user.accessToken })).status, 204);
  t.deepEqual(await revoked.closed, { code: CLOSE.UNAUTHORIZED, reason: 'token_revoked' });
  const again = await connect(app.wsUrl, user.accessToken);
  t.deepEqual(await again.closed, { code: CLOSE.UNAUTHORIZED, reason: 'token_revoked' });
  kept.send({ type: 'ping', id: 'still-here' });
  t.like(await kept.next((f) => f.type === 'ping.ok'), { id: 'still-here' });
  kept.close();
});

test('malformed and unknown frames get error frames and the socket keeps working', async (t) => {
  const user = await registerUser(app.url);
  const socket = await connect(app.wsUrl, user.accessToken);
  socket.send('not json');
  t.like(await socket.next((f) => f.type === 'error'), { error: { code: 'validation_failed' } });
  socket.send({ type: 'launch.missiles', id: 'x1' });
  t.like(await socket.next((f) => f.type === 'error' && f.id === 'x1'), { error: { code: 'validation_failed' } });
  socket.send({ type: 'ping', id: { $gt: '' } });
  await socket.next((f) => f.type === 'error' && f.error.message.startsWith('id:'));
  socket.send({ type: 'ping', id: 'p2' });
  t.like(await socket.next((f) => f.type === 'ping.ok'), { id: 'p2' });
  socket.close();
});

test('an oversized frame closes only that socket; others keep being served', async (t) => {
  const user = await registerUser(app.url);
  const big = await connect(app.wsUrl, user.accessToken);
  const bystander = await connect(app.wsUrl, user.accessToken);
  await bystander.next((f) => f.type === 'welcome');
  big.send('x'.repeat(200 * 1024));
  t.deepEqual(await big.closed, { code: CLOSE.FRAME_TOO_LARGE, reason: 'frame_too_large' });
  bystander.send({ type: 'ping', id: 'p3' });
  t.like(await bystander.next((f) => f.type === 'ping.ok'), { id: 'p3' });
  bystander.close();
});

test('a socket sending frames faster than the limit is closed with 4429 rate_limited', async (t) => {
  const user = await registerUser(app.url);
  const flooder = await connect(app.wsUrl, user.accessToken);
  const calm = await connect(app.wsUrl, user.accessToken);
  for (let i = 0; i < 400; i++) flooder.send({ type: 'ping', id: `f${i}` });
  t.deepEqual(await flooder.closed, { code: CLOSE.RATE_LIMITED, reason: 'rate_limited' });
  calm.send({ type: 'ping', id: 'calm' });
  t.like(await calm.next((f) => f.type === 'ping.ok'), { id: 'calm' }, 'the limit is per socket');
  calm.close();
});

test('a socket is closed with 4401 token_expired when its token expires', async (t) => {
  const user = await registerUser(app.url);
  const claims = JSON.parse(Buffer.from(user.accessToken.split('.')[1]!, 'base64url').toString());
  const shortLived = jwt.sign({ sub: claims.sub, jti: 'short-lived' }, testEnv('').JWT_SECRET_KEY!, { algorithm: 'HS256', expiresIn: 2 });
  const socket = await connect(app.wsUrl, shortLived);
  await socket.next((f) => f.type === 'welcome');
  t.deepEqual(await socket.closed, { code: CLOSE.UNAUTHORIZED, reason: 'token_expired' });
});

test('the frame budget is per user as well: many sockets of one user together are closed with 4429', async (t) => {
  const user = await registerUser(app.url);
  const sockets = await Promise.all([1, 2, 3].map(() => connect(app.wsUrl, user.accessToken)));
  await Promise.all(sockets.map((socket) => socket.next((f) => f.type === 'welcome')));
  // 3 × 150 frames: within each socket's burst (200), over the user's (300).
  for (let i = 0; i < 150; i++) for (const socket of sockets) socket.send({ type: 'ping', id: `u${i}` });
  const closes = await Promise.race(sockets.map((socket) => socket.closed));
  t.deepEqual(closes, { code: CLOSE.RATE_LIMITED, reason: 'rate_limited' });
  for (const socket of sockets) socket.close();
});

test('a user may hold 10 sockets; the 11th is closed with 4409 too_many_connections', async (t) => {
  const user = await registerUser(app.url);
  const sockets = await Promise.all(Array.from({ length: 10 }, () => connect(app.wsUrl, user.accessToken)));
  await Promise.all(sockets.map((socket) => socket.next((f) => f.type === 'welcome')));
  const extra = await connect(app.wsUrl, user.accessToken);
  t.like(await extra.next((f) => f.type === 'error'), { error: { code: 'too_many_connections' } });
  t.deepEqual(await extra.closed, { code: CLOSE.TOO_MANY_CONNECTIONS, reason: 'too_many_connections' });
  sockets[0]!.close();
  await sockets[0]!.closed;
  const replacement = await connect(app.wsUrl, user.accessToken);
  await replacement.next((f) => f.type === 'welcome');
  for (const socket of [...sockets, replacement]) socket.close();
});

test('a token valid for 30 days keeps its socket open (the expiry timer is re-armed, not clamped to 1 ms)', async (t) => {
  const longLived = await startTestApp({ env: { JWT_ACCESS_TOKEN_EXPIRES: String(30 * 24 * 3600) } });
  t.teardown(() => longLived.dispose());
  const user = await registerUser(longLived.url);
  const socket = await connect(longLived.wsUrl, user.accessToken);
  await socket.next((f) => f.type === 'welcome');
  for (let i = 0; i < 5; i++) {
    socket.send({ type: 'ping', id: `l${i}` });
    await socket.next((f) => f.type === 'ping.ok' && f.id === `l${i}`);
  }
  t.false(socket.frames.some((f) => f.type === 'error'));
  t.is(socket.socket.readyState, socket.socket.OPEN);
  socket.close();
});

test('expiry follows the server clock: a socket whose token ends in 400 ms by that clock is closed then', async (t) => {
  let offsetMs = 0;
  const clocked = await startTestApp({ clock: () => new Date(Date.now() + offsetMs) });
  t.teardown(() => clocked.dispose());
  const user = await registerUser(clocked.url);
  // The token lasts 7200 s; move the server's clock to 400 ms before its end.
  const { expiresAt } = (await request(clocked.url, 'GET', '/auth/verify', { token: user.accessToken })).body;
  offsetMs = Date.parse(expiresAt) - Date.now() - 400;
  const socket = await connect(clocked.wsUrl, user.accessToken);
  await socket.next((f) => f.type === 'welcome');
  t.deepEqual(await socket.closed, { code: CLOSE.UNAUTHORIZED, reason: 'token_expired' });
});

test('frames waiting their turn are bounded, and those still queued when a socket closes are dropped, not run', async (t) => {
  const small = await startTestApp({ maxPendingFrames: 8 });
  t.teardown(() => small.dispose());
  const [a, b] = [await registerUser(small.url), await registerUser(small.url)];
  const socket = await connect(small.wsUrl, a.accessToken);
  await socket.next((f) => f.type === 'welcome');
  const head = await small.eventStore.headPosition();
  for (let i = 0; i < 100; i++)
    socket.send({ type: 'message.send', id: `q${i}`, recipientId: b.user.id, text: `m${i}`, clientMessageId: `q${i}` });
  t.deepEqual(await socket.closed, { code: CLOSE.RATE_LIMITED, reason: 'too_many_pending_frames' });
  // Let anything still in flight settle, then count what was stored: at most the frames that had started.
  await small.projections.waitFor(await small.eventStore.headPosition());
  const stored = (await small.eventStore.headPosition()) - head;
  t.true(stored <= 8, `stored ${stored} of 100`);
});

test("a frame over the transport's 1 MiB limit drops only that connection (no close frame: 1006); others are served", async (t) => {
  const user = await registerUser(app.url);
  const huge = await connect(app.wsUrl, user.accessToken);
  const bystander = await connect(app.wsUrl, user.accessToken);
  await bystander.next((f) => f.type === 'welcome');
  huge.send('x'.repeat(LIMITS.hardFrameBytes + 1));
  t.is((await huge.closed).code, 1006);
  bystander.send({ type: 'ping', id: 'after-huge' });
  t.like(await bystander.next((f) => f.type === 'ping.ok'), { id: 'after-huge' });
  bystander.close();
});
