import test from 'ava';
import nock from 'nock';
import { aiStream } from '../../commands/ai.ts';
import { PostgresEventStore } from '../../src/eventstore/postgres.ts';
import { registerUser, request, startTestApp, tempDir } from '../helpers/app.ts';
import { execScript } from '../helpers/scripts.ts';
import { postgresTest, rawClient } from '../helpers/postgres.ts';

const GEMINI = 'https://generativelanguage.googleapis.com';
const KEY = 'AIzaSyTEST-migrated-key-0123456789abcdefg';

test.before(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
test.after.always(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

const { DATABASE_URL: _url, DATABASE_SCHEMA: _schema, STORAGE_DIR: _dir, ...inherited } = process.env;
const migrate = (args: string[], env: Record<string, string> = {}) =>
  execScript('migrate.ts', args, { env: { ...inherited, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );

postgresTest(
  "a deployment on the embedded stores, migrated with npm run migrate, serves the same history from PostgreSQL: messages, logins, Leta with the user's key, a hash chain that verifies",
  async (t, settings) => {
    const embedded = await startTestApp();
    t.teardown(() => embedded.dispose());
    const [alice, bob] = [await registerUser(embedded.url), await registerUser(embedded.url)];
    const sent: string[] = [];
    for (const text of ['first', 'second', 'third']) {
      const response = await request(embedded.url, 'POST', '/api/messages', {
        token: alice.accessToken,
        body: { recipientId: bob.user.id, text, clientMessageId: `m-${text}` },
      });
      t.is(response.status, 201);
      sent.push(response.body.message.id);
    }
    nock(GEMINI).get('/v1beta/models/gemini-2.5-flash').reply(200, { name: 'models/gemini-2.5-flash' });
    t.is(
      (
        await request(embedded.url, 'PUT', `/api/users/${alice.user.id}/api-key`, {
          token: alice.accessToken,
          body: { apiKey: KEY, provider: 'gemini' },
        })
      ).status,
      200,
    );
    const history = (await request(embedded.url, 'GET', `/api/messages?with=${alice.user.id}`, { token: bob.accessToken })).body.messages;
    const head = await embedded.eventStore.headPosition();
    await embedded.stop();

    const run = await migrate(['--to', settings.url, '--from', embedded.storageDir, '--schema', settings.schema!]);
    t.is(run.code, 0, run.stderr);
    t.regex(run.stdout, new RegExp(`${head} events copied`));
    t.regex(run.stdout, new RegExp(`Verified: ${head} events on both sides, the hash chain holds`));
    // The user's Gemini key and one content key per message sent (texts are sealed, see src/privacy/).
    t.regex(run.stdout, /Sealed secrets: ([2-9]|\d{2,}) copied/);
    t.notRegex(run.stdout, /letsapp:letsapp@/, 'the password in the URL is not printed');

    // A new instance with nothing in its storage dir: everything comes from PostgreSQL, the projections build at start.
    const migrated = await startTestApp({ storageDir: tempDir(), env: { DATABASE_URL: settings.url, DATABASE_SCHEMA: settings.schema! } });
    t.teardown(() => migrated.dispose());
    t.is(migrated.eventStore.kind, 'postgres');
    t.is(await migrated.eventStore.headPosition(), head, 'the same positions, so clients resume where they were');
    t.deepEqual(await (migrated.eventStore as PostgresEventStore).verifyTail(), { checked: head, breakAt: null });

    const login = await request(migrated.url, 'POST', '/auth/login', { body: { email: bob.email, password: bob.password } });
    t.is(login.status, 200);
    const listed = await request(migrated.url, 'GET', `/api/messages?with=${alice.user.id}`, { token: login.body.accessToken });
    t.deepEqual(listed.body.messages, history);
    t.deepEqual(listed.body.messages.map((m: { id: string }) => m.id).sort(), [...sent].sort());
    const conversations = await request(migrated.url, 'GET', '/api/conversations', { token: login.body.accessToken });
    t.like(conversations.body.conversations[0], { unreadCount: 3, lastMessage: { preview: 'third' } });

    let sentKey: string | undefined;
    nock(GEMINI)
      .post(/streamGenerateContent/)
      .query({ alt: 'sse' })
      .reply(function () {
        sentKey = this.req.headers['x-goog-api-key'];
        return [
          200,
          `data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: 'Migrated.' }] }, index: 0, finishReason: 'STOP' }] })}\r\n\r\n`,
          { 'Content-Type': 'text/event-stream' },
        ];
      });
    const beforeAsk = await migrated.eventStore.headPosition();
    const asked = await request(migrated.url, 'POST', '/api/chat/ai/send', {
      token: alice.accessToken,
      body: { message: 'Do you still have my key?' },
    });
    t.is(asked.status, 201, JSON.stringify(asked.body));
    t.is(sentKey, KEY, 'the sealed key was copied and opens with the same ENCRYPTION_KEY');
    t.deepEqual(
      (await migrated.eventStore.readStream(aiStream(alice.user.id))).filter((e) => e.position > beforeAsk).map((e) => e.type),
      ['AiPromptSubmitted', 'AiReplyCompleted'],
    );

    // Run again against a target that has moved on: refused, nothing changed.
    await migrated.stop();
    const again = await migrate(['--to', settings.url, '--from', embedded.storageDir, '--schema', settings.schema!]);
    t.is(again.code, 1);
    t.regex(again.stderr, /already holds events that are not this log's/);
    const client = await rawClient(t);
    t.is((await client.query(`SELECT count(*)::int AS n FROM "${settings.schema}".events`)).rows[0].n, beforeAsk + 2);
  },
);

test('npm run migrate refuses bad arguments with its usage and exit code 2', async (t) => {
  for (const args of [
    [],
    ['--to'],
    ['--to', 'mysql://h/db'],
    ['--to', 'postgres://h/db', '--batch-size', '0'],
    ['--to', 'postgres://h/db', '--frobnicate'],
  ]) {
    const run = await migrate(args, { STORAGE_DIR: tempDir() });
    t.is(run.code, 2, args.join(' '));
    t.regex(run.stderr, /Usage: npm run migrate -- --to <url>/, args.join(' '));
  }
  const missing = await migrate(['--to', 'postgres://127.0.0.1:1/none', '--from', tempDir()]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /No embedded event log at/);
});
