import { createServer } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import nock from 'nock';
import { aiStream } from '../../commands/ai.ts';
import { registerUser, request, startTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { spawnServer } from '../helpers/process.ts';
import { connect } from '../helpers/socket.ts';

/**
 * Leta over REST, SSE and the socket, against Gemini's wire format (nock, no network): context, streaming,
 * idempotent retries, each failure code, the key's handling, history and personalities.
 */
const GEMINI = 'https://generativelanguage.googleapis.com';
const STREAM = /\/v1beta\/models\/gemini-2\.5-flash:streamGenerateContent/;
const KEY = 'AIzaSyTEST-key-0123456789abcdefghijklmnopq';

const chunk = (text: string, finishReason?: string) => ({
  candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...(finishReason ? { finishReason } : {}) }],
  ...(finishReason ? { usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 5, totalTokenCount: 17 } } : {}),
});
const sse = (...chunks: unknown[]) => chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join('');

/** Replies to the next streamed call, recording the request it got. */
function replyWith(body: string | (() => [number, unknown]), seen: Array<{ key: string | undefined; body: any }> = []) {
  nock(GEMINI)
    .post(STREAM)
    .query({ alt: 'sse' })
    .reply(function (_uri, requestBody) {
      seen.push({ key: this.req.headers['x-goog-api-key'], body: requestBody });
      if (typeof body === 'function') return body() as [number, string];
      return [200, body, { 'Content-Type': 'text/event-stream' }];
    });
  return seen;
}

let app: TestApp;
const logLines: string[] = [];
test.before(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
  const { pino } = await import('pino');
  app = await startTestApp({
    logger: pino(
      { level: 'debug' },
      {
        write: (line: string) => {
          logLines.push(line);
        },
      },
    ),
  });
});
test.after.always(async () => {
  nock.cleanAll();
  nock.enableNetConnect();
  await app.dispose();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const api = (who: User, method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  request(app.url, method, path, { token: who.accessToken, ...(body === undefined ? {} : { body }), ...(headers ? { headers } : {}) });
async function withKey(): Promise<User> {
  const user = await registerUser(app.url);
  nock(GEMINI).get('/v1beta/models/gemini-2.5-flash').reply(200, { name: 'models/gemini-2.5-flash' });
  const set = await api(user, 'PUT', `/api/users/${user.user.id}/api-key`, { apiKey: KEY, provider: 'gemini' });
  if (set.status !== 200) throw new Error(`key: ${set.status} ${JSON.stringify(set.body)}`);
  return user;
}

test.serial('a key is checked, sealed and never shown; Leta answers with it and the context of earlier turns', async (t) => {
  const user = await registerUser(app.url);
  t.is((await api(user, 'POST', '/api/chat/ai/send', { message: 'hello?' })).body.error.code, 'ai_key_missing');
  nock(GEMINI).get('/v1beta/models/gemini-2.5-flash').reply(200, { name: 'models/gemini-2.5-flash' });
  const set = await api(user, 'PUT', `/api/users/${user.user.id}/api-key`, { apiKey: KEY, provider: 'gemini' });
  t.like(set.body, { provider: 'gemini', last4: KEY.slice(-4), status: 'valid' });
  t.false(JSON.stringify(set.body).includes(KEY));
  const other = await registerUser(app.url);
  t.is((await api(other, 'GET', `/api/users/${user.user.id}/api-key`)).status, 404, "another user's key does not exist for them");

  const seen = replyWith(sse(chunk('Hi, '), chunk('I am Leta.', 'STOP')));
  const first = await api(user, 'POST', '/api/chat/ai/send', { message: 'Who are you?' });
  t.is(first.status, 201);
  t.like(first.body, {
    prompt: { role: 'user', text: 'Who are you?', status: 'completed' },
    reply: { role: 'model', text: 'Hi, I am Leta.', finishReason: 'STOP' },
  });
  t.is(seen[0]!.key, KEY, "the user's own key, decrypted for the call");
  replyWith(sse(chunk('Paris.', 'STOP')), seen);
  await api(user, 'POST', '/api/chat/ai/send', { message: 'Capital of France?' });
  t.deepEqual(
    seen[1]!.body.contents.map((c: any) => [c.role, c.parts[0].text]),
    [
      ['user', 'Who are you?'],
      ['model', 'Hi, I am Leta.'],
      ['user', 'Capital of France?'],
    ],
    'earlier turns as context, alternating, the new message last',
  );

  // The key is nowhere but sealed in the secrets file: not in the log, the read store, logs or responses.
  for (const file of readdirSync(app.storageDir).filter((name) => /^(events|read)\.sqlite(-wal)?$/.test(name))) {
    t.false(readFileSync(join(app.storageDir, file)).includes(KEY), file);
  }
  t.false(logLines.join('\n').includes(KEY), 'logs');
  t.false(readFileSync(join(app.storageDir, 'secrets.sqlite')).toString('latin1').includes(KEY), 'only ciphertext at rest');
});

test.serial(
  'GET api-key answers whether you have a key: {configured:false} before one is set and after it is removed, its metadata while set; reading appends nothing',
  async (t) => {
    const user = await registerUser(app.url);
    const keyPath = `/api/users/${user.user.id}/api-key`;
    const appended = async (after: number) =>
      (await app.eventStore.readStream(aiStream(user.user.id))).filter((event) => event.position > after).map((event) => event.type);

    const before = await app.eventStore.headPosition();
    const none = await api(user, 'GET', keyPath);
    t.is(none.status, 200, 'no key is an answer, not a 404 (the demo asks on every load)');
    t.deepEqual(none.body, { configured: false });
    t.deepEqual(await appended(before), [], 'a read appends nothing');

    nock(GEMINI).get('/v1beta/models/gemini-2.5-flash').reply(200, { name: 'models/gemini-2.5-flash' });
    const set = await api(user, 'PUT', keyPath, { apiKey: KEY, provider: 'gemini' });
    t.is(set.status, 200);
    t.deepEqual(await appended(before), ['AiApiKeySet']);
    const configured = await api(user, 'GET', keyPath);
    t.is(configured.status, 200);
    t.deepEqual(configured.body, { configured: true, ...set.body });
    t.like(configured.body, { provider: 'gemini', last4: KEY.slice(-4), status: 'valid' });

    const afterSet = await app.eventStore.headPosition();
    t.is((await api(user, 'DELETE', keyPath)).status, 204);
    t.deepEqual(await appended(afterSet), ['AiApiKeyRemoved']);
    t.deepEqual((await api(user, 'GET', keyPath)).body, { configured: false });
    const stranger = await registerUser(app.url);
    t.is((await api(stranger, 'GET', keyPath)).status, 404, "another user's key stays out of sight");
  },
);

test.serial('streamed over SSE: prompt, deltas, done; a retry with the same clientMessageId asks the model once', async (t) => {
  const user = await withKey();
  replyWith(sse(chunk('One, '), chunk('two, '), chunk('three.', 'STOP')));
  const response = await fetch(`${app.url}/api/chat/ai/send`, {
    method: 'POST',
    headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ message: 'Count', clientMessageId: 'count-1' }),
  });
  t.regex(response.headers.get('content-type') ?? '', /text\/event-stream/);
  const events = (await response.text())
    .trim()
    .split('\n\n')
    .map((block) => block.split('\n')[0]!.slice('event: '.length));
  t.deepEqual(events, ['prompt', 'delta', 'delta', 'delta', 'done']);
  const again = await api(user, 'POST', '/api/chat/ai/send', { message: 'Count', clientMessageId: 'count-1' });
  t.is(again.body.reply.text, 'One, two, three.');
  t.true(nock.isDone(), 'no second model call');
});

test.serial('over the socket: acked once stored, deltas to the asking socket, the reply to every device', async (t) => {
  const user = await withKey();
  const [asking, other] = [await connect(app.wsUrl, user.accessToken), await connect(app.wsUrl, user.accessToken)];
  t.teardown(() => {
    asking.close();
    other.close();
  });
  other.send({ type: 'sync', id: 's' });
  await other.next((f) => f.id === 's');
  replyWith(sse(chunk('Sure', 'STOP')));
  asking.send({ type: 'ai.send', id: 'a1', message: 'Can you hear me?' });
  const ack = await asking.next((f) => f.type === 'ai.send.ok');
  t.like(await asking.next((f) => f.type === 'ai.delta'), { promptId: ack.promptId, seq: 0, text: 'Sure' });
  t.like(await other.next((f) => f.type === 'ai.reply'), { promptId: ack.promptId, status: 'completed', reply: { text: 'Sure' } });
  t.false(
    other.frames.some((f) => f.type === 'ai.delta'),
    'deltas only to the asking socket',
  );
});

test.serial(
  'failures: rate limited with Retry-After, invalid key marked rejected, upstream errors, a blocked prompt; failed turns leave no gap in the context',
  async (t) => {
    const user = await withKey();
    const send = (message: string) => api(user, 'POST', '/api/chat/ai/send', { message });
    replyWith(() => [
      429,
      {
        error: {
          code: 429,
          status: 'RESOURCE_EXHAUSTED',
          message: 'quota',
          details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '30s' }],
        },
      },
    ]);
    const limited = await send('one');
    t.is(limited.status, 429);
    t.is(limited.body.error.code, 'ai_rate_limited');
    t.is(limited.headers.get('retry-after'), '30');
    replyWith(() => [500, { error: { code: 500, status: 'INTERNAL', message: 'boom' } }]);
    t.is((await send('two')).body.error.code, 'ai_upstream_error');
    replyWith(sse({ promptFeedback: { blockReason: 'SAFETY' } }));
    t.like((await send('three')).body, { error: { code: 'ai_blocked' } });
    replyWith(sse(chunk('partial', 'MAX_TOKENS')));
    t.like((await send('four')).body, { reply: { text: 'partial', finishReason: 'MAX_TOKENS' } });
    const seen = replyWith(sse(chunk('ok', 'STOP')));
    await send('five');
    t.deepEqual(
      seen[0]!.body.contents.map((c: any) => c.role),
      ['user', 'model', 'user'],
      'only the completed turn, roles alternating',
    );

    replyWith(() => [
      400,
      {
        error: {
          code: 400,
          status: 'INVALID_ARGUMENT',
          message: 'API key not valid. Please pass a valid API key.',
          details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }],
        },
      },
    ]);
    t.is((await send('six')).body.error.code, 'invalid_api_key');
    t.is((await api(user, 'GET', `/api/users/${user.user.id}/api-key`)).body.status, 'rejected');
    const history = await api(user, 'GET', `/api/chat/ai/history/${user.user.id}?limit=100`);
    t.deepEqual(
      history.body.messages
        .filter((m: any) => m.role === 'user')
        .map((m: any) => [m.text, m.status, m.code])
        .reverse(),
      [
        ['one', 'failed', 'ai_rate_limited'],
        ['two', 'failed', 'ai_upstream_error'],
        ['three', 'failed', 'ai_blocked'],
        ['four', 'completed', null],
        ['five', 'completed', null],
        ['six', 'failed', 'invalid_api_key'],
      ],
    );
  },
);

test.serial('history is yours only, paged and cleared; personalities shape the system instruction', async (t) => {
  const user = await withKey();
  const stranger = await registerUser(app.url);
  const created = await api(user, 'POST', '/api/chat/ai/personalities', {
    name: 'Pirate',
    instructions: 'Talk like a pirate.',
    temperature: 1.2,
  });
  t.is(created.status, 201);
  const personalityId = created.body.personality.id;
  const seen = replyWith(sse(chunk('Arr!', 'STOP')));
  await api(user, 'POST', '/api/chat/ai/send', { message: 'Greet me', personalityId });
  t.regex(JSON.stringify(seen[0]!.body.systemInstruction), /Talk like a pirate/);
  t.is(seen[0]!.body.generationConfig.temperature, 1.2);
  t.deepEqual(
    (await api(user, 'GET', '/api/chat/ai/personalities')).body.personalities.map((p: any) => p.name),
    ['Leta', 'Pirate'],
  );
  t.is((await api(user, 'PUT', '/api/chat/ai/personalities/leta', { name: 'x' })).status, 400, 'the built-in one does not change');
  t.is((await api(stranger, 'GET', `/api/chat/ai/history/${user.user.id}`)).status, 404);
  t.is((await api(stranger, 'DELETE', `/api/chat/ai/history/${user.user.id}`)).status, 404);
  t.is((await api(user, 'GET', `/api/chat/ai/history/${user.user.id}?limit=1`)).body.hasMore, true);
  t.is((await api(user, 'DELETE', `/api/chat/ai/history/${user.user.id}`)).status, 204);
  t.deepEqual((await api(user, 'GET', `/api/chat/ai/history/${user.user.id}`)).body.messages, []);
  t.is((await api(user, 'DELETE', `/api/users/${user.user.id}/api-key`)).status, 204);
  t.is((await api(user, 'POST', '/api/chat/ai/send', { message: 'still there?' })).body.error.code, 'ai_key_missing');
});

test('kill -9 mid-stream: after the restart the prompt is interrupted, and the next one is answered with a clean context', async (t) => {
  // A fake Gemini on loopback (the server runs in a child process): it writes one chunk, then never finishes.
  let calls = 0;
  const fake = createServer((req, res) => {
    calls++;
    if (req.method === 'GET') return res.end(JSON.stringify({ name: 'models/gemini-2.5-flash' }));
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    if (calls <= 2) res.write(sse(chunk('half an ans')));
    else res.end(sse(chunk('fresh', 'STOP')));
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    fake.closeAllConnections();
    fake.close();
  });
  const env = { GEMINI_API_BASE_URL: `http://127.0.0.1:${(fake.address() as { port: number }).port}` };
  const storageDir = tempDir();
  const server = await spawnServer(storageDir, env);
  const user = (
    await request(server.url, 'POST', '/auth/register', {
      body: { email: `leta_${process.pid}@example.test`, username: `leta_${process.pid}`, password: 'a long password' },
    })
  ).body;
  await request(server.url, 'PUT', `/api/users/${user.user.id}/api-key`, {
    token: user.accessToken,
    body: { apiKey: KEY, provider: 'gemini' },
  });
  const socket = await connect(server.wsUrl, user.accessToken);
  socket.send({ type: 'ai.send', id: 'x', message: 'tell me a long story' });
  await socket.next((f) => f.type === 'ai.delta');
  await server.kill9();

  const restarted = await spawnServer(storageDir, env);
  t.teardown(() => restarted.stop());
  const history = await request(restarted.url, 'GET', `/api/chat/ai/history/${user.user.id}`, { token: user.accessToken });
  t.like(history.body.messages[0], { role: 'user', status: 'failed', code: 'interrupted' });
  const next = await request(restarted.url, 'POST', '/api/chat/ai/send', { token: user.accessToken, body: { message: 'again' } });
  t.is(next.status, 201);
  t.is(next.body.reply.text, 'fresh');
});

test.serial(
  'the legacy SDK adapter (AI_SDK=legacy) behaves alike under the same fixtures: streaming, context, failure codes',
  async (t) => {
    const legacy = await startTestApp({ env: { AI_SDK: 'legacy' } });
    t.teardown(() => legacy.dispose());
    const user = await registerUser(legacy.url);
    const call = (method: string, path: string, body?: unknown) =>
      request(legacy.url, method, path, { token: user.accessToken, ...(body === undefined ? {} : { body }) });
    nock(GEMINI).get('/v1beta/models/gemini-2.5-flash').reply(200, { name: 'models/gemini-2.5-flash' });
    t.is((await call('PUT', `/api/users/${user.user.id}/api-key`, { apiKey: KEY, provider: 'gemini' })).status, 200);
    const seen = replyWith(sse(chunk('Hello '), chunk('from legacy.', 'STOP')));
    t.like((await call('POST', '/api/chat/ai/send', { message: 'Hi' })).body, {
      reply: { text: 'Hello from legacy.', finishReason: 'STOP' },
    });
    t.is(seen[0]!.key, KEY);
    replyWith(() => [
      429,
      {
        error: {
          code: 429,
          status: 'RESOURCE_EXHAUSTED',
          message: 'quota',
          details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '30s' }],
        },
      },
    ]);
    const limited = await call('POST', '/api/chat/ai/send', { message: 'again' });
    t.is(limited.body.error.code, 'ai_rate_limited');
    t.is(limited.headers.get('retry-after'), '30');
    replyWith(sse({ promptFeedback: { blockReason: 'SAFETY' } }));
    t.is((await call('POST', '/api/chat/ai/send', { message: 'blocked?' })).body.error.code, 'ai_blocked');
    const context = replyWith(sse(chunk('ok', 'STOP')));
    await call('POST', '/api/chat/ai/send', { message: 'last' });
    t.deepEqual(
      context[0]!.body.contents.map((c: any) => [c.role, c.parts[0].text]),
      [
        ['user', 'Hi'],
        ['model', 'Hello from legacy.'],
        ['user', 'last'],
      ],
    );
  },
);

test('closing the asking socket mid-stream cancels the reply: what was written is kept, no prompt is left dangling', async (t) => {
  // A fake Gemini that writes one chunk and then waits (nock cannot hold a stream open).
  const fake = createServer((req, res) => {
    if (req.method === 'GET') return res.end(JSON.stringify({ name: 'models/gemini-2.5-flash' }));
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(sse(chunk('Once upon a time')));
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    fake.closeAllConnections();
    fake.close();
  });
  const slow = await startTestApp({ env: { GEMINI_API_BASE_URL: `http://127.0.0.1:${(fake.address() as { port: number }).port}` } });
  t.teardown(() => slow.dispose());
  const user = await registerUser(slow.url);
  await request(slow.url, 'PUT', `/api/users/${user.user.id}/api-key`, {
    token: user.accessToken,
    body: { apiKey: KEY, provider: 'gemini' },
  });
  const socket = await connect(slow.wsUrl, user.accessToken);
  socket.send({ type: 'ai.send', id: 'story', message: 'Tell me a story' });
  await socket.next((f) => f.type === 'ai.delta');
  socket.close();
  let prompt: any;
  for (let i = 0; i < 50; i++) {
    const history = await request(slow.url, 'GET', `/api/chat/ai/history/${user.user.id}`, { token: user.accessToken });
    prompt = history.body.messages;
    if (prompt.some((m: any) => m.role === 'model')) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.like(
    prompt.find((m: any) => m.role === 'model'),
    { text: 'Once upon a time', finishReason: 'CANCELLED' },
  );
  t.like(
    prompt.find((m: any) => m.role === 'user'),
    { status: 'completed' },
  );
});
