import test from 'ava';
import { aiStream } from '../../commands/ai.ts';
import { REPLY_CHARACTERS_PER_TOKEN } from '../../src/ai/aiService.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { fakeGemini, type FakeGemini } from '../helpers/fakeGemini.ts';

/**
 * What a Leta reply may cost: a reply whose asker went away stops being generated (and billed), and a model that
 * streams without end is cut off at a bound tied to AI_MAX_OUTPUT_TOKENS. Gemini is faked on loopback.
 */

async function setUp(t: { teardown(fn: () => unknown): void }, gemini: FakeGemini, env: Record<string, string> = {}) {
  const app = await startTestApp({ env: { GEMINI_API_BASE_URL: gemini.url, ...env } });
  t.teardown(async () => {
    await gemini.close();
    await app.dispose();
  });
  const user = await registerUser(app.url);
  const key = await request(app.url, 'PUT', `/api/users/${user.user.id}/api-key`, {
    token: user.accessToken,
    body: { apiKey: gemini.apiKey, provider: 'gemini' },
  });
  if (key.status !== 200) throw new Error(`key: ${key.status}`);
  return { app, user };
}

/** The events of the user's Leta stream, from `fromRevision` on. */
async function aiEvents(app: TestApp, userId: string, fromRevision = 0) {
  return app.eventStore.readStream(aiStream(userId), { fromRevision, maxCount: 100 });
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

test('an SSE client that disconnects mid-reply aborts the model request; the reply keeps what was written, marked CANCELLED', async (t) => {
  const gemini = await fakeGemini(['Once upon a time. '], 20, { endless: true });
  const { app, user } = await setUp(t, gemini);
  const before = (await aiEvents(app, user.user.id)).length;

  const asker = new AbortController();
  const response = await fetch(`${app.url}/api/chat/ai/send`, {
    method: 'POST',
    signal: asker.signal,
    headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ message: 'Tell me a story that never ends' }),
  });
  t.is(response.status, 200);
  const reader = response.body!.getReader();
  let received = '';
  while (!received.includes('event: delta')) received += new TextDecoder().decode((await reader.read()).value);
  asker.abort();

  await t.notThrowsAsync(gemini.untilAborted(5_000), 'the upstream request is aborted once the client is gone');
  const sentWhenAborted = gemini.charactersSent();
  const events = await until(
    () => aiEvents(app, user.user.id, before),
    (found) => found.length >= 2,
  );
  t.deepEqual(
    events.map((event) => event.type),
    ['AiPromptSubmitted', 'AiReplyCompleted'],
  );
  const completed = events[1]!.data as { finishReason: string };
  t.is(completed.finishReason, 'CANCELLED');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(gemini.charactersSent(), sentWhenAborted, 'nothing more is generated for nobody');
  // The text is sealed in the event (under the user's data key): the history shows it opened.
  const history = await request(app.url, 'GET', `/api/chat/ai/history/${user.user.id}`, { token: user.accessToken });
  t.like(history.body.messages, [
    { role: 'model', finishReason: 'CANCELLED' },
    { role: 'user', status: 'completed' },
  ]);
  t.true(history.body.messages[0].text.startsWith('Once upon a time. '));
});

test('a model that streams without end is cut off at the reply bound: the reply ends there as MAX_TOKENS, the upstream request is aborted', async (t) => {
  const gemini = await fakeGemini(['0123456789'], 2, { endless: true });
  const { app, user } = await setUp(t, gemini, { AI_MAX_OUTPUT_TOKENS: '16' });
  const bound = 16 * REPLY_CHARACTERS_PER_TOKEN;
  const before = (await aiEvents(app, user.user.id)).length;

  const answer = await fetch(`${app.url}/api/chat/ai/send`, {
    method: 'POST',
    signal: AbortSignal.timeout(20_000),
    headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'Count forever' }),
  });
  t.is(answer.status, 201);
  const { reply } = (await answer.json()) as { reply: { text: string; finishReason: string; status: string } };
  t.like(reply, { finishReason: 'MAX_TOKENS', status: 'completed' });
  t.is(reply.text.length, bound);
  t.is(reply.text, '0123456789'.repeat(Math.ceil(bound / 10)).slice(0, bound));
  await t.notThrowsAsync(gemini.untilAborted(5_000));
  const events = await aiEvents(app, user.user.id, before);
  t.deepEqual(
    events.map((event) => event.type),
    ['AiPromptSubmitted', 'AiReplyCompleted'],
  );
  t.like(events[1]!.data, { finishReason: 'MAX_TOKENS', text: { sealed: 'xchacha20poly1305-ietf' } }, 'the text is sealed in the log');

  // Streamed, the deltas add up to the same bound.
  const streamed = await fetch(`${app.url}/api/chat/ai/send`, {
    method: 'POST',
    signal: AbortSignal.timeout(20_000),
    headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ message: 'Count forever, again' }),
  });
  const body = await streamed.text();
  const deltas = [...body.matchAll(/^event: delta\ndata: (.*)$/gm)].map((match) => (JSON.parse(match[1]!) as { text: string }).text);
  t.is(deltas.join('').length, bound);
  t.regex(body, /event: done\ndata: .*"finishReason":"MAX_TOKENS"/);
});
