import { randomBytes } from 'node:crypto';
import test from 'ava';
import sharp from 'sharp';
import { request, tempDir, testEnv } from '../helpers/app.ts';
import { fakeGemini } from '../helpers/fakeGemini.ts';
import { spawnServer } from '../helpers/process.ts';
import { connect } from '../helpers/socket.ts';

/**
 * The request log: one line per request and per refused socket frame (request id, route template, status, duration,
 * a hash of the user), and nothing secret in any line the server writes, at its most verbose level, over a full flow.
 */
const unique = (label: string) => `${label}-${randomBytes(9).toString('base64url')}`;

test('a full flow at LOG_LEVEL=trace logs each request and refused frame, and no token, password, key, message text or file name', async (t) => {
  const gemini = await fakeGemini(['Fine, ', 'thanks.'], 5);
  const storageDir = tempDir();
  const metricsToken = unique('metrics-token-0123456789abcdefghij');
  const env = testEnv(storageDir);
  const server = await spawnServer(storageDir, {
    LOG_LEVEL: 'trace',
    NODE_ENV: 'test',
    GEMINI_API_BASE_URL: gemini.url,
    METRICS_TOKEN: metricsToken,
  });
  const output: string[] = [];
  server.child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  server.child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  t.teardown(async () => {
    await server.stop();
    await gemini.close();
  });

  const password = unique('Password');
  const username = `logs_${randomBytes(4).toString('hex')}`;
  const email = `${username}@example.test`;
  const registered = await request(server.url, 'POST', '/auth/register', { body: { email, username, password } });
  t.is(registered.status, 201);
  const peer = await request(server.url, 'POST', '/auth/register', { body: { email: `p${email}`, username: `p${username}`, password } });
  const login = await request(server.url, 'POST', '/auth/login', { body: { email, password } });
  t.is(login.status, 200);
  const wrongPassword = unique('WrongPassword');
  t.is((await request(server.url, 'POST', '/auth/login', { body: { email, password: wrongPassword } })).status, 401);
  const token: string = login.body.accessToken;
  const userId: string = login.body.user.id;
  const api = (method: string, path: string, body?: unknown) =>
    request(server.url, method, path, { token, ...(body === undefined ? {} : { body }) });

  const messageText = unique('the message text');
  t.is((await api('POST', '/api/messages', { recipientId: peer.body.user.id, text: messageText })).status, 201);
  const geminiKey = `AIzaSy${randomBytes(18).toString('base64url')}`;
  t.is((await api('PUT', `/api/users/${userId}/api-key`, { apiKey: geminiKey, provider: 'gemini' })).status, 200);
  const prompt = unique('a question for Leta');
  t.is((await api('POST', '/api/chat/ai/send', { message: prompt })).status, 201);

  const fileName = `${unique('holiday')}.png`;
  const form = new FormData();
  form.append(
    'file',
    new Blob(
      [
        await sharp({ create: { width: 4, height: 4, channels: 3, background: '#abcdef' } })
          .png()
          .toBuffer(),
      ],
      { type: 'image/png' },
    ),
    fileName,
  );
  const uploaded = await fetch(`${server.url}/api/media/upload`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  t.is(uploaded.status, 201);
  const mediaId = ((await uploaded.json()) as { media: { id: string } }).media.id;
  const mediaToken: string = (await api('POST', `/api/media/${mediaId}/token`)).body.token;
  t.is((await fetch(`${server.url}/api/media/${mediaId}?token=${encodeURIComponent(mediaToken)}`)).status, 200);
  t.is((await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).status, 200);
  const forgedToken = `${token.slice(0, -6)}AAAAAA`;
  t.is((await request(server.url, 'GET', '/api/conversations', { token: forgedToken })).status, 401);

  // Socket frames: one handled, refused ones (an unknown type, a payload that fails validation, invalid JSON).
  const socket = await connect(server.wsUrl, token);
  await socket.next((frame) => frame.type === 'welcome');
  const socketText = unique('sent over the socket');
  socket.send({ type: 'message.send', id: 'ok', recipientId: peer.body.user.id, text: socketText });
  await socket.next((frame) => frame.type === 'message.send.ok');
  const refusedText = unique('refused text');
  socket.send({ type: 'message.send', id: 'bad', recipientId: 'not-a-user', text: refusedText });
  socket.send({ type: 'nosuchframe', id: 'unknown', text: refusedText });
  socket.send(`{"type":"message.send","text":"${refusedText}"`);
  await socket.next((frame) => frame.type === 'error' && frame.id === 'unknown');
  await socket.next((frame) => frame.type === 'error' && frame.id === undefined);
  socket.close();
  const refusedSocket = await connect(server.wsUrl, forgedToken);
  t.is((await refusedSocket.closed).code, 4401);
  t.is((await api('POST', '/auth/logout')).status, 204);
  await server.stop();

  const lines = output
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const text = output.join('');
  const secrets = {
    password,
    wrongPassword,
    token,
    forgedToken,
    mediaToken,
    metricsToken,
    geminiKey,
    messageText,
    prompt,
    socketText,
    refusedText,
    fileName,
    jwtSecret: env.JWT_SECRET_KEY!,
    encryptionKey: env.ENCRYPTION_KEY!,
    // A token's signature alone is as good as the token.
    tokenSignature: token.split('.')[2]!,
  };
  for (const [name, secret] of Object.entries(secrets)) t.false(text.includes(secret), `the ${name} is not in the log`);

  const requests = lines.filter((line) => line.msg === 'request');
  t.is(requests.length, 13, 'one line per request, 13 requests');
  for (const line of requests) {
    t.is(typeof line.requestId, 'string');
    t.is(typeof line.route, 'string');
    t.is(typeof line.status, 'number');
    t.is(typeof line.ms, 'number');
  }
  const sent = requests.find((line) => line.route === '/api/messages' && line.method === 'POST');
  t.like(sent, { status: 201 });
  t.regex(String(sent?.user), /^[0-9a-f]{16}$/, 'the user as a hash');
  t.false(
    requests.some((line) => JSON.stringify(line).includes(userId)),
    'never the user id itself',
  );
  t.like(
    requests.find((line) => line.route === '/api/media/:id' && line.status === 200),
    { method: 'GET' },
  );
  t.truthy(requests.find((line) => line.route === '/api/conversations' && line.status === 401));

  const refusedFrames = lines.filter((line) => line.msg === 'frame refused');
  t.deepEqual(refusedFrames.map((line) => line.code).sort(), ['validation_failed', 'validation_failed', 'validation_failed']);
  for (const line of refusedFrames) {
    t.is(line.user, sent?.user, 'the same hash for the same user');
    t.is(typeof line.connectionId, 'number');
    t.is(typeof line.ms, 'number');
    t.is(typeof line.status, 'number');
  }
});
