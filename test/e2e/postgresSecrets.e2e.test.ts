import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import nock from 'nock';
import test from 'ava';
import { aiStream } from '../../commands/ai.ts';
import { registerUser, request, startTestApp, tempDir } from '../helpers/app.ts';
import { execScript } from '../helpers/scripts.ts';
import { postgresTest, rawClient } from '../helpers/postgres.ts';

const GEMINI = 'https://generativelanguage.googleapis.com';
const KEY = 'AIzaSyTEST-postgres-key-0123456789abcdefgh';

test.before(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
test.after.always(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

postgresTest(
  "with DATABASE_URL a user's Gemini key is sealed into PostgreSQL, rotate-secrets rotates it there, and nothing is written to STORAGE_DIR",
  async (t, settings) => {
    const storageDir = tempDir();
    const [k1, k2] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
    const database = { DATABASE_URL: settings.url, DATABASE_SCHEMA: settings.schema! };
    const first = await startTestApp({ storageDir, env: { ...database, ENCRYPTION_KEYS: `k1:${k1}`, ENCRYPTION_KEY_ID: 'k1' } });
    t.teardown(() => first.dispose());
    const user = await registerUser(first.url);
    nock(GEMINI).get('/v1beta/models/gemini-2.5-flash').reply(200, { name: 'models/gemini-2.5-flash' });
    const head = await first.eventStore.headPosition();
    const set = await request(first.url, 'PUT', `/api/users/${user.user.id}/api-key`, {
      token: user.accessToken,
      body: { apiKey: KEY, provider: 'gemini' },
    });
    t.is(set.status, 200, JSON.stringify(set.body));
    const appended = (await first.eventStore.readStream(aiStream(user.user.id))).filter((event) => event.position > head);
    t.deepEqual(
      appended.map((event) => event.type),
      ['AiApiKeySet'],
    );
    await first.stop();

    const client = await rawClient(t);
    const stored = async () =>
      (await client.query(`SELECT purpose, subject, envelope FROM "${settings.schema}".secrets WHERE purpose = 'ai-api-key'`)).rows;
    const [row] = await stored();
    t.like(row, { purpose: 'ai-api-key', subject: `user:${user.user.id}` });
    t.is(JSON.parse(row.envelope).kid, 'k1');
    t.false(row.envelope.includes(KEY), 'sealed, not the key itself');
    t.deepEqual(
      readdirSync(storageDir).filter((name) => /secrets|\.sqlite/.test(name)),
      [],
      'no secrets.sqlite, no secrets.json, no embedded store',
    );

    const { ENCRYPTION_KEYS: _keys, ENCRYPTION_KEY_ID: _id, ENCRYPTION_KEY: _key, JWT_SECRET_KEY: _jwt, ...inherited } = process.env;
    const rotation = await execScript('rotate-secrets.ts', [], {
      env: {
        ...inherited,
        NODE_ENV: 'test',
        STORAGE_DIR: storageDir,
        ...database,
        JWT_SECRET_KEY: 'test-secret-key-that-is-long-enough-0123456789',
        ENCRYPTION_KEY: k1,
        ENCRYPTION_KEYS: `k1:${k1},k2:${k2}`,
        ENCRYPTION_KEY_ID: 'k2',
      },
    }).catch((error: { code: number; stdout: string; stderr: string }) => error);
    // The Leta key and the keys beside it (the user's data key, the identity-claim key, …): every one rotated, none left.
    t.regex(rotation.stdout, /(\d+) secrets: \1 rotated to key "k2", 0 already current, 0 unreadable\./, rotation.stderr);
    t.is(JSON.parse((await stored())[0].envelope).kid, 'k2');
    t.false(existsSync(join(storageDir, 'secrets.sqlite')));

    // With k1 removed, Leta still answers with the user's own key.
    const second = await startTestApp({ storageDir, env: { ...database, ENCRYPTION_KEYS: `k2:${k2}`, ENCRYPTION_KEY_ID: 'k2' } });
    t.teardown(() => second.dispose());
    let sentKey: string | undefined;
    nock(GEMINI)
      .post(/streamGenerateContent/)
      .query({ alt: 'sse' })
      .reply(function () {
        sentKey = this.req.headers['x-goog-api-key'];
        return [
          200,
          `data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: 'From PostgreSQL.' }] }, index: 0, finishReason: 'STOP' }] })}\r\n\r\n`,
          { 'Content-Type': 'text/event-stream' },
        ];
      });
    const asked = await request(second.url, 'POST', '/api/chat/ai/send', { token: user.accessToken, body: { message: 'Still there?' } });
    t.is(asked.status, 201, JSON.stringify(asked.body));
    t.is(sentKey, KEY);
    t.deepEqual(
      readdirSync(storageDir).filter((name) => /secrets|\.sqlite/.test(name)),
      [],
    );
  },
);
