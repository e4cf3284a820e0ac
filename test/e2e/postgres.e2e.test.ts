import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { liftedRateLimits } from '../../src/rateLimit/policies.ts';
import { request, registerUser, startTestApp, tempDir } from '../helpers/app.ts';
import { postgresTest, rawClient } from '../helpers/postgres.ts';
import { connect } from '../helpers/socket.ts';

/** Every file under `dir`, as paths relative to it. */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();

postgresTest(
  'with DATABASE_URL the server keeps its event log and read collections in PostgreSQL, not in embedded files',
  async (t, settings) => {
    const app = await startTestApp({ env: { DATABASE_URL: settings.url, DATABASE_SCHEMA: settings.schema! } });
    t.teardown(() => app.dispose());
    t.is(app.eventStore.kind, 'postgres');
    t.is(app.readStore.kind, 'postgres');
    const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
    const client = await rawClient(t);
    const eventsAfter = async (position: number) =>
      (await client.query(`SELECT type, position FROM "${settings.schema}".events WHERE position > $1 ORDER BY position`, [position])).rows;
    const headBeforeSend = await app.eventStore.headPosition();
    const sent = await request(app.url, 'POST', '/api/messages', {
      token: a.accessToken,
      body: { recipientId: b.user.id, text: 'hello over PostgreSQL', clientMessageId: 'pg-1' },
    });
    t.is(sent.status, 201);
    const appended = await eventsAfter(headBeforeSend);
    t.deepEqual(
      appended.map((e) => e.type),
      ['MessageSent'],
      'the send appended one MessageSent, in PostgreSQL',
    );
    t.is(Number(appended[0].position), sent.body.message.position);
    const list = await request(app.url, 'GET', '/api/conversations', { token: b.accessToken });
    t.like(list.body.conversations[0], { unreadCount: 1, lastMessage: { id: sent.body.message.id, preview: 'hello over PostgreSQL' } });
    const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
    t.deepEqual(
      page.body.messages.map((m: { id: string }) => m.id),
      [sent.body.message.id],
    );

    t.is((await eventsAfter(0)).filter((e) => e.type === 'UserRegistered').length, 2);
    const messageRows = (await client.query(`SELECT doc FROM "${settings.schema}".c_messages WHERE id = $1`, [sent.body.message.id])).rows;
    t.like(messageRows[0]?.doc, { _id: sent.body.message.id }, 'the message document is a row of a PostgreSQL table');
    t.false(existsSync(join(app.storageDir, 'events.sqlite')), 'no embedded event log');
    t.false(existsSync(join(app.storageDir, 'read.sqlite')), 'no embedded read store');
  },
);

postgresTest(
  "with DATABASE_URL every feature keeps what instances share in PostgreSQL: STORAGE_DIR gets nothing but MEDIA_DIR's blobs",
  async (t, settings) => {
    const storageDir = tempDir();
    const app = await startTestApp({
      storageDir,
      env: {
        DATABASE_URL: settings.url,
        DATABASE_SCHEMA: settings.schema!,
        // One presence subscription an hour: the second is refused from the bucket in PostgreSQL.
        RATE_LIMITS: `${liftedRateLimits()};presence=1,1/h`,
        CALL_DISCONNECT_GRACE_MS: '600000',
      },
    });
    t.teardown(() => app.dispose());
    const client = await rawClient(t);
    const rows = async (sql: string, params: unknown[] = []) =>
      (await client.query(sql.replaceAll('$schema', `"${settings.schema}"`), params)).rows;
    const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
    const auth = (who: typeof alice) => ({ authorization: `Bearer ${who.accessToken}` });

    // A message.
    const sent = await request(app.url, 'POST', '/api/messages', {
      token: alice.accessToken,
      body: { recipientId: bob.user.id, text: 'hi', clientMessageId: 'm-1' },
    });
    t.is(sent.status, 201);
    t.deepEqual(
      (await rows('SELECT type FROM $schema.events WHERE position = $1', [sent.body.message.position])).map((r) => r.type),
      ['MessageSent'],
    );

    // A file: its bytes under MEDIA_DIR (STORAGE_DIR/media by default), its index a row in PostgreSQL.
    const uploaded = await fetch(`${app.url}/api/media/upload?filename=note.txt`, {
      method: 'POST',
      headers: { ...auth(alice), 'content-type': 'text/plain' },
      body: 'bytes on the shared volume',
    });
    t.is(uploaded.status, 201);
    const media = ((await uploaded.json()) as { media: { id: string; sha256: string } }).media;
    t.is((await rows('SELECT count(*)::int AS n FROM $schema.events WHERE type = $1', ['MediaUploaded']))[0].n, 1);
    t.is((await rows('SELECT id FROM $schema.c_media_files WHERE id = $1', [media.id])).length, 1, 'the media index is a PostgreSQL table');

    // Presence: each socket a session row keyed by instance and connection.
    const bobSocket = await connect(app.wsUrl, bob.accessToken);
    const welcome = await bobSocket.next((f) => f.type === 'welcome');
    // Live updates (a ringing call) go to sockets that synced.
    bobSocket.send({ type: 'sync', id: 'sync' });
    await bobSocket.next((f) => f.id === 'sync');
    const aliceSocket = await connect(app.wsUrl, alice.accessToken);
    await aliceSocket.next((f) => f.type === 'welcome');
    await t.notThrowsAsync(async () => {
      for (let i = 0; i < 50 && (await rows('SELECT 1 FROM $schema.presence_sessions')).length < 2; i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
    });
    const sessions = await rows('SELECT instance_id, connection_id, user_id, expires_at FROM $schema.presence_sessions ORDER BY user_id');
    t.deepEqual(sessions.map((s) => s.user_id).sort(), [alice.user.id, bob.user.id].sort());
    t.is(new Set(sessions.map((s) => s.instance_id)).size, 1, 'one instance');
    t.true(sessions.some((s) => s.user_id === bob.user.id && s.connection_id === welcome.connectionId));
    t.true(
      sessions.every((s) => s.expires_at.getTime() > Date.now()),
      'renewed ahead by the heartbeat',
    );

    // A rate-limited frame: the budget is a row of rate_limit_buckets; the second subscription is refused from it.
    aliceSocket.send({ type: 'presence.subscribe', id: 's1', userIds: [bob.user.id] });
    t.like(await aliceSocket.next((f) => f.type === 'presence.snapshot'), { users: [{ userId: bob.user.id, status: 'online' }] });
    aliceSocket.send({ type: 'presence.subscribe', id: 's2', userIds: [bob.user.id] });
    t.like(await aliceSocket.next((f) => f.type === 'error' && f.id === 's2'), { error: { code: 'rate_limited' } });
    const [presenceBucket] = await rows('SELECT tokens FROM $schema.rate_limit_buckets WHERE policy = $1', ['presence']);
    t.true(presenceBucket.tokens < 1, 'the bucket in PostgreSQL is empty (refilling at one an hour)');
    // A login: its throttle's budgets (per account and address, per account) are rows there too.
    const login = await request(app.url, 'POST', '/auth/login', { body: { email: alice.email, password: alice.password } });
    t.is(login.status, 200);
    const policies = (await rows('SELECT DISTINCT policy FROM $schema.rate_limit_buckets')).map((r) => r.policy);
    // `msg` is a REST route's own policy (the send above): instances share it as they share the others.
    for (const policy of ['login-account', 'login-failures', 'presence', 'read', 'msg'])
      t.true(policies.includes(policy), `a ${policy} bucket`);

    // A call rings (its deadline is in the calls collection); answered, then the callee's last socket goes: the
    // disconnect deadline is a row any instance's timer pass will find.
    const initiated = await request(app.url, 'POST', '/api/calls/initiate', {
      token: alice.accessToken,
      body: { calleeId: bob.user.id, media: 'audio' },
    });
    t.is(initiated.status, 201);
    const callId = initiated.body.call.id;
    await bobSocket.next((f) => f.type === 'call.incoming' && f.callId === callId);
    const ringing = await rows("SELECT doc FROM $schema.c_calls WHERE doc->>'callId' = $1 AND doc->>'state' = 'ringing'", [callId]);
    t.true(ringing.length >= 1);
    t.is(ringing[0].doc.ringDeadline, initiated.body.call.ringDeadline);
    const answered = await request(app.url, 'POST', `/api/calls/${callId}/answer`, {
      token: bob.accessToken,
      body: { connectionId: welcome.connectionId },
    });
    t.like(answered.body.call, { state: 'active' });
    bobSocket.close();
    await bobSocket.closed;
    await t.notThrowsAsync(async () => {
      for (let i = 0; i < 50 && (await rows('SELECT 1 FROM $schema.call_grace_deadlines')).length === 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
    });
    const [deadline] = await rows('SELECT user_id, due_at FROM $schema.call_grace_deadlines');
    t.is(deadline?.user_id, bob.user.id);
    t.true(deadline!.due_at.getTime() > Date.now() + 500_000, 'due after CALL_DISCONNECT_GRACE_MS');
    // The session is removed beside the deadline's insert, not before it: polled, as the deadline was.
    const bobHasSession = async () => (await rows('SELECT user_id FROM $schema.presence_sessions')).some((s) => s.user_id === bob.user.id);
    for (let i = 0; i < 50 && (await bobHasSession()); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    t.false(await bobHasSession(), "the closed socket's session is gone");
    aliceSocket.close();
    await aliceSocket.closed;

    const blob = `media/blobs/${media.sha256.slice(0, 2)}/${media.sha256.slice(2, 4)}/${media.sha256}`;
    t.deepEqual(filesUnder(storageDir), [blob], 'nothing but the uploaded blob under STORAGE_DIR');
  },
);
