import test from 'ava';
import { dataExportsStream } from '../../commands/dataExports.ts';
import { writeExportArchive } from '../../src/privacy/exportArchive.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';

/**
 * The exports' shared pool: one export made at a time here (a queue of one), so a third user asking while one is
 * made and one waits is told to retry (503 `export_busy`), and the waiting one is made as soon as the first is done.
 */

/** Each export's writer waits here until the test lets it go. */
const started: Array<{ userId: string; release: () => void }> = [];
const waiters: Array<() => void> = [];
let app: TestApp;

test.before(async () => {
  app = await startTestApp({
    dataExports: {
      settings: { maxConcurrent: 1, maxQueued: 1 },
      write: async (sources, userId, now, path, signal) => {
        await new Promise<void>((release) => {
          started.push({ userId, release });
          for (const wake of waiters.splice(0)) wake();
        });
        return writeExportArchive(sources, userId, now, path, signal);
      },
    },
  });
});
test.after.always(async () => {
  for (const { release } of started) release();
  await app?.dispose();
});

/** Resolves once `count` writers have started. */
async function writersStarted(count: number): Promise<void> {
  while (started.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
}

async function statusOf(user: Awaited<ReturnType<typeof registerUser>>, id: string, until: string) {
  for (;;) {
    const response = await request(app.url, 'GET', `/api/users/me/export/${id}`, { token: user.accessToken });
    if (response.body.export?.status === until || response.status !== 200) return response;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a full pool refuses with 503 export_busy and Retry-After; a queued export starts when a place frees', async (t) => {
  const [first, second, third] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const ask = (user: typeof first) => request(app.url, 'POST', '/api/users/me/export', { token: user.accessToken });

  const made = await ask(first);
  t.is(made.status, 202);
  await writersStarted(1);
  const queued = await ask(second);
  t.is(queued.status, 202, 'queued behind the first');
  const refused = await ask(third);
  t.is(refused.status, 503);
  t.is(refused.body.error.code, 'export_busy');
  t.truthy(refused.headers.get('retry-after'));
  t.deepEqual(await app.eventStore.readStream(dataExportsStream(third.user.id), { fromRevision: 0, maxCount: 10 }), []);

  t.is(started.length, 1, 'the second waits for a place');
  t.is((await statusOf(second, queued.body.export.id, 'pending')).body.export.status, 'pending');
  started[0]!.release();
  t.is((await statusOf(first, made.body.export.id, 'ready')).body.export.status, 'ready');
  await writersStarted(2);
  t.is(started[1]!.userId, second.user.id);
  started[1]!.release();
  t.is((await statusOf(second, queued.body.export.id, 'ready')).body.export.status, 'ready');
  t.is((await ask(third)).status, 202, 'a place again');
});
