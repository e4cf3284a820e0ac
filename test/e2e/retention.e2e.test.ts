import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import test from 'ava';
import { pino } from 'pino';
import { messageStream } from '../../commands/messages.ts';
import { registerUser, request, startTestApp, testEnv, type TestApp } from '../helpers/app.ts';
import { execScript } from '../helpers/scripts.ts';
import { connect } from '../helpers/socket.ts';

const DAY = 86_400_000;
const FILES = ['events.sqlite', 'read.sqlite'].flatMap((file) => [file, `${file}-wal`]);
const filesHolding = (dir: string, needle: string) =>
  FILES.filter((file) => existsSync(join(dir, file)) && readFileSync(join(dir, file)).includes(Buffer.from(needle)));

async function audit(dir: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
  return execScript('audit.ts', args, {
    env: { ...process.env, ...testEnv(dir), NODE_ENV: 'test' },
    maxBuffer: 64 * 1024 * 1024,
  }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => error,
  );
}

/** The server's log lines, as objects (pino's JSON), to read the job's progress from. */
const logLines: Array<Record<string, unknown>> = [];
const logger = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  }),
);

let app: TestApp;
test.before(async () => {
  // Batches of 2, and no pass of its own while the test runs (it calls retain with a clock 31 days on).
  app = await startTestApp({ env: { RETENTION_DAYS: '30' }, logger, messageExpiry: { batchSize: 2, retentionIntervalMs: 3_600_000 } });
});
test.after.always(async () => {
  await app.dispose();
});

test.serial(
  'RETENTION_DAYS: contents older than that are shredded in bounded batches with a progress log; readers and the files keep nothing; audit verify still passes',
  async (t) => {
    const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
    const group = await request(app.url, 'POST', '/api/groups', {
      token: a.accessToken,
      body: { name: 'Archive', memberIds: [b.user.id] },
    });
    const groupId = group.body.group.id as string;
    const texts = Array.from({ length: 5 }, (_, index) => `retained-${index}-${randomUUID()}`);
    const ids: string[] = [];
    for (const [index, text] of texts.entries()) {
      const body = index < 3 ? { recipientId: b.user.id, text } : { groupId, text };
      const sent = await request(app.url, 'POST', '/api/messages', { token: a.accessToken, body });
      t.is(sent.status, 201);
      ids.push(sent.body.message.id as string);
    }
    const bSocket = await connect(app.wsUrl, b.accessToken);
    bSocket.send({ type: 'sync', id: 's' });
    await bSocket.next((frame) => frame.type === 'sync.snapshot' || frame.type === 'sync.ok');

    t.deepEqual(await app.messageExpiry.retain(new Date(Date.now() + 29 * DAY)), { shredded: 0 }, 'nothing older than 30 days yet');
    t.deepEqual(await app.messageExpiry.retain(new Date(Date.now() + 31 * DAY)), { shredded: 5 });
    for (const id of ids) {
      const events = await app.eventStore.readStream(messageStream(id));
      t.deepEqual(
        events.map((event) => event.type),
        ['MessageSent', 'MessageExpired', 'MessageContentShredded'],
      );
      t.like(events[1]!.data, { reason: 'retention' });
    }
    const batches = logLines.filter((line) => line.msg === 'retention: batch shredded');
    t.deepEqual(
      batches.map((line) => [line.collection, line.shredded]),
      [
        ['messages', 2],
        ['messages', 3],
        ['group_messages', 5],
      ],
      'bounded batches, each logged with the running count',
    );
    t.like(
      logLines.findLast((line) => line.msg === 'retention: done'),
      { shredded: 5 },
    );

    await bSocket.next((frame) => frame.type === 'message.expired' && frame.messageId === ids[4]);
    const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
    t.deepEqual(page.body.messages, []);
    const groupPage = await request(app.url, 'GET', `/api/messages?groupId=${groupId}`, { token: b.accessToken });
    t.deepEqual(groupPage.body.messages, []);
    for (let tries = 0; tries < 200 && texts.some((text) => filesHolding(app.storageDir, text).length > 0); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    t.deepEqual(
      texts.flatMap((text) => filesHolding(app.storageDir, text)),
      [],
      'no event or read database, nor their WALs, holds a shredded text',
    );

    // The log is as it was written: its hash chain and anchor verify on what remains.
    const verify = await audit(app.storageDir, 'verify', '--json');
    t.is(verify.code, 0, verify.stdout);
    t.like(JSON.parse(verify.stdout), { intact: true });
    bSocket.close();
  },
);
