import { randomBytes } from 'node:crypto';
import test from 'ava';
import nock from 'nock';
import { aiStream } from '../../commands/ai.ts';
import { registerUser, request, startTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { execScript } from '../helpers/scripts.ts';

/**
 * What an operator and a user set around Leta, end to end against Gemini's wire format (nock): rotating the keys
 * users' Gemini keys are sealed with, a default personality that is deleted, and the context budget.
 */
const GEMINI = 'https://generativelanguage.googleapis.com';
const STREAM = /\/v1beta\/models\/gemini-2\.5-flash:streamGenerateContent/;
const KEY = 'AIzaSyTEST-key-0123456789abcdefghijklmnopq';

const chunk = (text: string, finishReason?: string) => ({
  candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...(finishReason ? { finishReason } : {}) }],
});
const sse = (...chunks: unknown[]) => chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join('');

/** Replies to the next streamed call with `text`, recording the request (its key header and body). */
function replyWith(text: string, seen: Array<{ key: string | undefined; body: any }> = []) {
  nock(GEMINI)
    .post(STREAM)
    .query({ alt: 'sse' })
    .reply(function (_uri, requestBody) {
      seen.push({ key: this.req.headers['x-goog-api-key'], body: requestBody });
      return [200, sse(chunk(text, 'STOP')), { 'Content-Type': 'text/event-stream' }];
    });
  return seen;
}

test.before(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
test.after.always(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const api = (app: TestApp, who: User, method: string, path: string, body?: unknown) =>
  request(app.url, method, path, { token: who.accessToken, ...(body === undefined ? {} : { body }) });

async function setKey(app: TestApp, user: User): Promise<void> {
  nock(GEMINI).get('/v1beta/models/gemini-2.5-flash').reply(200, { name: 'models/gemini-2.5-flash' });
  const set = await api(app, user, 'PUT', `/api/users/${user.user.id}/api-key`, { apiKey: KEY, provider: 'gemini' });
  if (set.status !== 200) throw new Error(`key: ${set.status} ${JSON.stringify(set.body)}`);
}

const appendedTo = async (app: TestApp, user: User, after: number) =>
  (await app.eventStore.readStream(aiStream(user.user.id))).filter((event) => event.position > after);

test.serial(
  'a key the server sealed is rotated by npm run rotate-secrets: with the old key id removed, Leta still answers with it',
  async (t) => {
    const storageDir = tempDir();
    const [k1, k2] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
    const first = await startTestApp({ storageDir, env: { ENCRYPTION_KEYS: `k1:${k1}`, ENCRYPTION_KEY_ID: 'k1' } });
    const user = await registerUser(first.url);
    await setKey(first, user);
    await first.stop();

    // The operator adds k2, makes it current and rotates, with the server's exact key set plus the new key.
    const { ENCRYPTION_KEYS: _keys, ENCRYPTION_KEY_ID: _id, ENCRYPTION_KEY: _key, JWT_SECRET_KEY: _jwt, ...inherited } = process.env;
    const rotation = await execScript('rotate-secrets.ts', [], {
      env: { ...inherited, NODE_ENV: 'test', STORAGE_DIR: storageDir, ENCRYPTION_KEYS: `k1:${k1},k2:${k2}`, ENCRYPTION_KEY_ID: 'k2' },
    }).catch((error: { code: number; stdout: string; stderr: string }) => error);
    // The Leta key and the keys beside it (the user's data key, the identity-claim key, …): every one rotated, none left.
    t.regex(rotation.stdout, /(\d+) secrets: \1 rotated to key "k2", 0 already current, 0 unreadable\./, rotation.stderr);

    // Then removes k1: the key sealed under it is now under k2 and still opens.
    const second = await startTestApp({ storageDir, env: { ENCRYPTION_KEYS: `k2:${k2}`, ENCRYPTION_KEY_ID: 'k2' } });
    t.teardown(() => second.dispose());
    const head = await second.eventStore.headPosition();
    const seen = replyWith('Still me.');
    const asked = await api(second, user, 'POST', '/api/chat/ai/send', { message: 'Can you still read my key?' });
    t.is(asked.status, 201, JSON.stringify(asked.body));
    t.like(asked.body, { reply: { text: 'Still me.' } });
    t.is(seen[0]?.key, KEY, "the user's own key, opened with k2");
    t.deepEqual(
      (await appendedTo(second, user, head)).map((event) => event.type),
      ['AiPromptSubmitted', 'AiReplyCompleted'],
    );
  },
);

test.serial('with its default personality deleted, an ask without personalityId is answered by Leta herself', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const user = await registerUser(app.url);
  await setKey(app, user);
  const created = await api(app, user, 'POST', '/api/chat/ai/personalities', { name: 'Pirate', instructions: 'Talk like a pirate.' });
  const pirate = created.body.personality.id as string;
  t.is((await api(app, user, 'PUT', '/api/users/profile', { ai: { defaultPersonalityId: pirate } })).status, 200);
  t.is((await api(app, user, 'DELETE', `/api/chat/ai/personalities/${pirate}`)).status, 204);

  const head = await app.eventStore.headPosition();
  const seen = replyWith('Hello.');
  const asked = await api(app, user, 'POST', '/api/chat/ai/send', { message: 'Hi' });
  t.is(asked.status, 201, JSON.stringify(asked.body));
  t.like(asked.body, { prompt: { personalityId: 'leta' }, reply: { text: 'Hello.' } });
  t.notRegex(JSON.stringify(seen[0]!.body.systemInstruction), /pirate/i);
  const appended = await appendedTo(app, user, head);
  t.deepEqual(
    appended.map((event) => event.type),
    ['AiPromptSubmitted', 'AiReplyCompleted'],
  );
  t.like(appended[0]!.data, { personalityId: 'leta' });
  // One named explicitly that does not exist is still the caller's mistake.
  t.is((await api(app, user, 'POST', '/api/chat/ai/send', { message: 'Hi', personalityId: pirate })).status, 404);
});

test.serial(
  'AI_CONTEXT_TOKEN_BUDGET counts the earlier turns sent: at 500, two exchanges estimated at 400 tokens are both sent',
  async (t) => {
    const app = await startTestApp({ env: { AI_CONTEXT_TOKEN_BUDGET: '500' } });
    t.teardown(() => app.dispose());
    const user = await registerUser(app.url);
    await setKey(app, user);
    // 400 characters each way: 100 + 100 estimated tokens per exchange (4 characters a token), 400 for both.
    const [prompt1, reply1, prompt2, reply2] = ['a', 'b', 'c', 'd'].map((letter) => letter.repeat(400));
    replyWith(reply1!);
    await api(app, user, 'POST', '/api/chat/ai/send', { message: prompt1 });
    replyWith(reply2!);
    await api(app, user, 'POST', '/api/chat/ai/send', { message: prompt2 });

    const seen = replyWith('Both seen.');
    t.is((await api(app, user, 'POST', '/api/chat/ai/send', { message: 'What did I send?' })).status, 201);
    t.deepEqual(
      seen[0]!.body.contents.map((c: any) => [c.role, c.parts[0].text]),
      [
        ['user', prompt1],
        ['model', reply1],
        ['user', prompt2],
        ['model', reply2],
        ['user', 'What did I send?'],
      ],
    );
  },
);
