import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import test from 'ava';
import Database from 'better-sqlite3';
import { registerUser, request, startTestApp, testEnv, type TestApp } from '../helpers/app.ts';
import { execScript } from '../helpers/scripts.ts';
import { connect } from '../helpers/socket.ts';

const FILES = ['events.sqlite', 'read.sqlite', 'secrets.sqlite'].flatMap((file) => [file, `${file}-wal`]);

/** Which of the storage dir's database files (and WALs) hold these bytes anywhere, as raw bytes. */
function filesHolding(dir: string, needle: string): string[] {
  return FILES.filter((file) => existsSync(join(dir, file)) && readFileSync(join(dir, file)).includes(Buffer.from(needle)));
}

async function eventually<T>(probe: () => T, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function audit(dir: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
  return execScript('audit.ts', args, {
    env: { ...process.env, ...testEnv(dir), NODE_ENV: 'test' },
    maxBuffer: 64 * 1024 * 1024,
  }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => error,
  );
}

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app.dispose();
});

test.serial(
  'delete for everyone erases: no trace of the text in events.sqlite, read.sqlite, secrets.sqlite or their WALs; the key is gone',
  async (t) => {
    const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
    const original = `original-${randomUUID()}`;
    const edited = `edited-${randomUUID()}`;
    const bSocket = await connect(app.wsUrl, b.accessToken);
    bSocket.send({ type: 'sync', id: 's' });
    const sent = await request(app.url, 'POST', '/api/messages', {
      token: a.accessToken,
      body: { recipientId: b.user.id, text: original },
    });
    t.is(sent.status, 201);
    const id = sent.body.message.id as string;
    t.is((await request(app.url, 'PUT', `/api/messages/${id}`, { token: a.accessToken, body: { text: edited } })).status, 200);
    await bSocket.next((f) => f.type === 'message.edited');

    // The log holds the text sealed: never in clear, in the database or its WAL. The read models hold it (to serve it).
    t.deepEqual(
      filesHolding(app.storageDir, original).filter((file) => file.startsWith('events')),
      [],
    );
    t.deepEqual(
      filesHolding(app.storageDir, edited).filter((file) => file.startsWith('events')),
      [],
    );
    t.true(
      filesHolding(app.storageDir, edited).some((file) => file.startsWith('read')),
      "the scan sees the read store's copy",
    );
    const events = await app.eventStore.readStream(`message-${id}`);
    t.deepEqual(
      events.map((event) => [event.type, event.metadata.schemaVersion]),
      [
        ['MessageSent', 2],
        ['MessageEdited', 2],
      ],
    );
    t.like(events[0]!.data, { content: { kind: 'text', text: { sealed: 'xchacha20poly1305-ietf', kid: `message:${id}` } } });
    const secrets = new Database(join(app.storageDir, 'secrets.sqlite'), { readonly: true });
    const envelope = secrets
      .prepare<[string], { envelope: string }>('SELECT envelope FROM secrets WHERE subject = ?')
      .get(`message:${id}`)!.envelope;
    secrets.close();
    const keyCiphertext = (JSON.parse(envelope) as { ct: string }).ct;

    t.is((await request(app.url, 'DELETE', `/api/messages/${id}?scope=everyone`, { token: a.accessToken })).status, 204);
    const appended = await app.eventStore.readStream(`message-${id}`);
    t.deepEqual(
      appended.map((event) => event.type),
      ['MessageSent', 'MessageEdited', 'MessageDeleted'],
    );
    t.like(await bSocket.next((f) => f.type === 'message.deleted'), { scope: 'everyone', message: { id, content: null } });

    const traces = await eventually(
      () => [original, edited, keyCiphertext].flatMap((needle) => filesHolding(app.storageDir, needle)),
      (found) => found.length === 0,
    );
    t.deepEqual(traces, [], 'no file holds the text, its edit, or the sealed key');

    // What readers get: the tombstone, in the conversation, the history and the feed a client syncs from.
    const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
    t.like(page.body.messages[0], { id, content: null });
    t.truthy(page.body.messages[0].deletedAt);
    const history = await request(app.url, 'GET', `/api/messages/${id}/history`, { token: a.accessToken });
    t.like(history.body, { deleted: true, versions: [] });
    const replay = await connect(app.wsUrl, b.accessToken);
    replay.send({ type: 'sync', id: 'r', since: 0 });
    const created = await replay.next((f) => f.type === 'message.created' && f.message.id === id);
    t.like(created, { message: { id, content: null } });
    replay.close();
    bSocket.close();
  },
);

test.serial(
  'after shredding, audit verify still holds the chain; the auditor sees [erased] where the key is gone and the text where it is not',
  async (t) => {
    const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
    const kept = `kept-${randomUUID()}`;
    const erased = `erased-${randomUUID()}`;
    const keep = await request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text: kept } });
    const gone = await request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text: erased } });
    t.is((await request(app.url, 'DELETE', `/api/messages/${gone.body.message.id}?scope=everyone`, { token: a.accessToken })).status, 204);

    const verify = await audit(app.storageDir, 'verify', '--json');
    t.is(verify.code, 0);
    t.like(JSON.parse(verify.stdout), { intact: true });

    const shown = await audit(app.storageDir, 'actor', a.user.id, '--json');
    t.is(shown.code, 0);
    t.true(shown.stdout.includes(kept));
    t.false(shown.stdout.includes(erased));
    const entries = (JSON.parse(shown.stdout) as { events: Array<{ type: string; data: any }> }).events.filter(
      (entry) => entry.type === 'MessageSent',
    );
    t.deepEqual(
      entries.map((entry) => entry.data.content.text),
      [{ plain: kept }, '[erased]'],
    );
    t.is(keep.status, 201);
  },
);

test.serial(
  'npm run rebuild-projections opens sealed texts with the content keys: the rebuilt messages read as sent, a deleted one stays a tombstone',
  async (t) => {
    const other = await startTestApp();
    t.teardown(() => other.dispose());
    const [a, b] = [await registerUser(other.url), await registerUser(other.url)];
    const kept = await request(other.url, 'POST', '/api/messages', {
      token: a.accessToken,
      body: { recipientId: b.user.id, text: 'rebuilt and readable' },
    });
    const gone = await request(other.url, 'POST', '/api/messages', {
      token: a.accessToken,
      body: { recipientId: b.user.id, text: 'rebuilt and gone' },
    });
    await request(other.url, 'DELETE', `/api/messages/${gone.body.message.id}?scope=everyone`, { token: a.accessToken });
    await other.stop();
    await execScript('rebuild-projections.ts', ['--only', 'messages'], {
      env: { ...process.env, ...testEnv(other.storageDir), NODE_ENV: 'test' },
    });
    const { SqliteReadStore } = await import('../../src/readstore/sqlite.ts');
    const readStore = new SqliteReadStore(join(other.storageDir, 'read.sqlite'), { checkpoints: false });
    t.teardown(() => readStore.close());
    const docs = await readStore.collection<{ _id: string; content: unknown }>('messages').find({}, { sort: { position: 1 } });
    t.deepEqual(
      docs.map((doc) => [doc._id, doc.content]),
      [
        [kept.body.message.id, { kind: 'text', text: 'rebuilt and readable' }],
        [gone.body.message.id, null],
      ],
    );
  },
);
