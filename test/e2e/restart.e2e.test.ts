import test from 'ava';
import Database from 'better-sqlite3';
import { copyFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CHECKPOINTS } from '../../src/projection/runner.ts';
import { registerUser, request, startTestApp, tempDir } from '../helpers/app.ts';
import { spawnServer } from '../helpers/process.ts';
import { connect } from '../helpers/socket.ts';

test('after a restart on the same storage the user logs in, a revoked token stays revoked, projectors resume', async (t) => {
  const storageDir = tempDir();
  const first = await startTestApp({ storageDir });
  const user = await registerUser(first.url);
  const revoked = await request(first.url, 'POST', '/auth/login', { body: { email: user.email, password: user.password } });
  await request(first.url, 'POST', '/auth/logout', { token: revoked.body.accessToken });
  const checkpointsBefore = await first.readStore.collection(CHECKPOINTS).find({}, { sort: { _id: 1 } });
  const headBefore = await first.eventStore.headPosition();
  await first.stop();

  const second = await startTestApp({ storageDir });
  try {
    t.deepEqual(await second.readStore.collection(CHECKPOINTS).find({}, { sort: { _id: 1 } }), checkpointsBefore);
    t.like(await second.projections.status(), { head: headBefore, lag: 0 });
    const login = await request(second.url, 'POST', '/auth/login', { body: { email: user.email, password: user.password } });
    t.is(login.status, 200);
    t.is((await request(second.url, 'GET', '/auth/verify', { token: user.accessToken })).status, 200);
    const stillRevoked = await request(second.url, 'GET', '/auth/verify', { token: revoked.body.accessToken });
    t.is(stillRevoked.body.error.code, 'token_revoked');
    t.is(await second.readStore.collection('users').countDocuments({ email: user.email }), 1, 'nothing was applied twice');
  } finally {
    await second.dispose();
  }
});

test('a kill -9 right after a 201 from register loses nothing', async (t) => {
  const storageDir = tempDir();
  const server = await spawnServer(storageDir);
  const response = await request(server.url, 'POST', '/auth/register', {
    body: { email: 'durable@example.test', username: 'durable', password: 'a long password' },
  });
  t.is(response.status, 201);
  await server.kill9();

  const restarted = await spawnServer(storageDir);
  try {
    const login = await request(restarted.url, 'POST', '/auth/login', {
      body: { email: 'durable@example.test', password: 'a long password' },
    });
    t.is(login.status, 200);
    t.is(login.body.user.id, response.body.user.id);
    t.is((await request(restarted.url, 'GET', '/auth/verify', { token: response.body.accessToken })).status, 200);
  } finally {
    await restarted.kill9();
  }
});

test('a client resumes its sync across a server restart with no gap and no duplicate', async (t) => {
  const storageDir = tempDir();
  const first = await startTestApp({ storageDir });
  const [a, b] = [await registerUser(first.url), await registerUser(first.url)];
  const before = await request(first.url, 'POST', '/api/messages', {
    token: a.accessToken,
    body: { recipientId: b.user.id, text: 'before restart' },
  });
  const lastSeen = before.body.message.position;
  const missed = await request(first.url, 'POST', '/api/messages', {
    token: a.accessToken,
    body: { recipientId: b.user.id, text: 'while away' },
  });
  await first.stop();

  const second = await startTestApp({ storageDir });
  try {
    const socket = await connect(second.wsUrl, b.accessToken);
    socket.send({ type: 'sync', since: lastSeen });
    await socket.next((f) => f.type === 'sync.ok');
    const after = await request(second.url, 'POST', '/api/messages', {
      token: a.accessToken,
      body: { recipientId: b.user.id, text: 'after restart' },
    });
    await socket.next((f) => f.type === 'message.created' && f.message.id === after.body.message.id);
    t.deepEqual(
      socket.frames.filter((f) => f.type === 'message.created').map((f) => f.message.content.text),
      ['while away', 'after restart'],
    );
    t.is(missed.status, 201);
    socket.close();
  } finally {
    await second.dispose();
  }
});

test('a log restored from a backup behind the projections: the server refuses to start, naming why; with the rebuild flag it rebuilds, says so on /ping, and shows every acknowledged message', async (t) => {
  const storageDir = tempDir();
  t.teardown(() => rmSync(storageDir, { recursive: true, force: true }));
  const first = await startTestApp({ storageDir });
  const [a, b] = [await registerUser(first.url), await registerUser(first.url)];
  const send = (url: string, text: string) =>
    request(url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text } });
  for (let i = 0; i < 10; i++) t.is((await send(first.url, `before the backup ${i}`)).status, 201);
  await first.stop();
  const backup = join(tempDir('letsapp-backup-'), 'events.sqlite');
  t.teardown(() => rmSync(dirname(backup), { recursive: true, force: true }));
  copyFileSync(join(storageDir, 'events.sqlite'), backup);
  const backupHead = await headOf(storageDir);

  const second = await startTestApp({ storageDir });
  for (let i = 0; i < 20; i++) t.is((await send(second.url, `after the backup ${i}`)).status, 201);
  await second.stop();
  // The operator restores the log from the backup and keeps the read store.
  for (const suffix of ['', '-wal', '-shm']) rmSync(join(storageDir, `events.sqlite${suffix}`), { force: true });
  copyFileSync(backup, join(storageDir, 'events.sqlite'));

  const refused = await t.throwsAsync(startTestApp({ storageDir }));
  t.regex(refused.message, new RegExp(`checkpoints? .*beyond the event log's head \\(position ${backupHead}\\)`));
  t.regex(refused.message, /--rebuild-projections/, 'the way out is named');

  const rebuilt = await startTestApp({ storageDir, rebuildProjectionsBeyondHead: true });
  t.teardown(() => rebuilt.stop());
  const status = (await request(rebuilt.url, 'GET', '/ping')).body.projections;
  t.like(status, { head: backupHead, lag: 0, rebuiltAtStart: { reason: 'checkpoints_beyond_head', head: backupHead } });
  t.true(status.rebuiltAtStart.checkpoints.every((checkpoint: { position: number }) => checkpoint.position > backupHead));
  const login = await request(rebuilt.url, 'POST', '/auth/login', { body: { email: a.email, password: a.password } });
  for (let i = 0; i < 30; i++) {
    t.is(
      (
        await request(rebuilt.url, 'POST', '/api/messages', {
          token: login.body.accessToken,
          body: { recipientId: b.user.id, text: `after the restore ${i}` },
        })
      ).status,
      201,
    );
  }
  const appended = (await rebuilt.eventStore.readAll({ after: backupHead })).filter((event) => event.type === 'MessageSent');
  t.is(appended.length, 30, 'each acknowledged send appended its MessageSent');
  const page = await request(rebuilt.url, 'GET', `/api/messages?with=${a.user.id}&limit=100`, { token: b.accessToken });
  const texts = page.body.messages.map((message: { content: { text: string } }) => message.content.text);
  t.is(texts.filter((text: string) => text.startsWith('after the restore')).length, 30, 'every message sent after the restore is shown');
  t.is(texts.filter((text: string) => text.startsWith('after the backup')).length, 0, 'nothing the restored log does not hold');
  t.is(texts.length, 40);
});

async function headOf(storageDir: string): Promise<number> {
  const db = new Database(join(storageDir, 'events.sqlite'), { readonly: true });
  try {
    return db.prepare<[], { position: number }>('SELECT max(position) AS position FROM events').get()!.position;
  } finally {
    db.close();
  }
}
