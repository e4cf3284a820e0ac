import { existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import test from 'ava';
import { aiStream } from '../../commands/ai.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { fakeGemini, type FakeGemini } from '../helpers/fakeGemini.ts';

/** Leta's conversation is personal: sealed under the user's data key, so deleting the account erases it from the log. */
const FILES = ['events.sqlite', 'read.sqlite'].flatMap((file) => [file, `${file}-wal`]);
const filesHolding = (dir: string, needle: string) =>
  FILES.filter((file) => existsSync(join(dir, file)) && readFileSync(join(dir, file)).includes(Buffer.from(needle)));

const REPLY = `Leta answers ${randomUUID()}`;
let app: TestApp;
let gemini: FakeGemini;
test.before(async () => {
  gemini = await fakeGemini([REPLY], 1);
  app = await startTestApp({ env: { GEMINI_API_BASE_URL: gemini.url } });
});
test.after.always(async () => {
  await app?.dispose();
  await gemini?.close();
});

test('a prompt to Leta and her reply are sealed in the log, readable in the history, and gone from every file once the account is deleted', async (t) => {
  const password = 'correct horse battery';
  const user = await registerUser(app.url);
  const key = await request(app.url, 'PUT', `/api/users/${user.user.id}/api-key`, {
    token: user.accessToken,
    body: { apiKey: gemini.apiKey, provider: 'gemini' },
  });
  t.is(key.status, 200);
  const prompt = `my secret question ${randomUUID()}`;
  const sent = await request(app.url, 'POST', '/api/chat/ai/send', { token: user.accessToken, body: { message: prompt } });
  t.true(sent.status < 300, JSON.stringify(sent.body));

  const events = await app.eventStore.readStream(aiStream(user.user.id));
  const submitted = events.find((event) => event.type === 'AiPromptSubmitted')!;
  const completed = events.find((event) => event.type === 'AiReplyCompleted')!;
  t.like(submitted, { data: { text: { sealed: 'xchacha20poly1305-ietf', kid: `user:${user.user.id}` } } });
  t.like(completed, { data: { text: { sealed: 'xchacha20poly1305-ietf', kid: `user:${user.user.id}` } } });
  const history = await request(app.url, 'GET', `/api/chat/ai/history/${user.user.id}`, { token: user.accessToken });
  t.like(history.body.messages, [
    { role: 'model', text: REPLY },
    { role: 'user', text: prompt },
  ]);

  const deleted = await request(app.url, 'DELETE', '/api/users/me', { token: user.accessToken, body: { password } });
  t.is(deleted.status, 204);
  const tracesOf = () => [prompt, REPLY].flatMap((needle) => filesHolding(app.storageDir, needle).map((file) => `${needle} in ${file}`));
  const deadline = Date.now() + 10_000;
  let traces = tracesOf();
  while (traces.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    traces = tracesOf();
  }
  t.deepEqual(traces, []);
});
