import test from 'ava';
import { CLOSE } from '../../src/realtime/protocol.ts';
import jwt from 'jsonwebtoken';
import { registerUser, request, startTestApp, testEnv, type TestApp } from '../helpers/app.ts';
import { connect } from '../helpers/socket.ts';

let app: TestApp;
test.before(async () => { app = await startTestApp(); });
test.after.always(async () => { await app.dispose(); });

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
