import { randomUUID } from 'node:crypto';
import test from 'ava';
import { userDecider, userStream } from '../../commands/users.ts';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { CommandHandler } from '../../src/commandHandler.ts';
import { request, startTestApp, tempDir } from '../helpers/app.ts';

/** Issue 26 item 2: with ACCOUNT_DELETION_GRACE_HOURS the deletion is scheduled, can be called off, and survives restarts. */
const PASSWORD = 'correct horse battery';
const HOUR = 3_600_000;

test('with a confirmation window: scheduled (202), called off by logging in or by DELETE /api/users/me/deletion; a due deletion happens at the next start', async (t) => {
  const storageDir = tempDir();
  let now = new Date();
  const env = { ACCOUNT_DELETION_GRACE_HOURS: '1' };
  let app = await startTestApp({ storageDir, env, clock: () => now });
  t.teardown(() => app.dispose());
  const tag = `grace_${randomUUID().slice(0, 8)}`;
  const identity = { email: `${tag}@example.test`, username: tag, password: PASSWORD };
  const registered = await request(app.url, 'POST', '/auth/register', { body: identity });
  const userId = registered.body.user.id as string;
  let token = registered.body.accessToken as string;
  const types = async () => (await app.eventStore.readStream(`user-${userId}`)).map((event) => event.type);
  const schedule = () => request(app.url, 'DELETE', '/api/users/me', { token, body: { password: PASSWORD } });

  const first = await schedule();
  t.is(first.status, 202);
  t.is(first.body.deletion.deleteAfter, new Date(now.getTime() + HOUR).toISOString());
  t.is((await types()).at(-1), 'AccountDeletionScheduled');
  t.is((await request(app.url, 'GET', '/api/users/profile', { token })).status, 200, 'the account works until then');

  // Logging in calls it off.
  const login = await request(app.url, 'POST', '/auth/login', { body: { email: identity.email, password: PASSWORD } });
  t.is(login.status, 200);
  token = login.body.accessToken as string;
  t.deepEqual((await types()).slice(-2), ['UserLoggedIn', 'AccountDeletionCancelled']);

  // So does the explicit route.
  t.is((await schedule()).status, 202);
  t.is((await request(app.url, 'DELETE', '/api/users/me/deletion', { token })).status, 204);
  t.deepEqual((await types()).slice(-2), ['AccountDeletionScheduled', 'AccountDeletionCancelled']);
  t.is((await request(app.url, 'DELETE', '/api/users/me/deletion', { token })).status, 204, 'none scheduled: nothing happens');
  t.is((await types()).at(-1), 'AccountDeletionCancelled');

  // Scheduled again, then the server stops; it starts again after the deadline and deletes the account.
  t.is((await schedule()).status, 202);
  await app.stop();
  now = new Date(now.getTime() + 2 * HOUR);
  app = await startTestApp({ storageDir, env, clock: () => now });
  t.deepEqual((await types()).slice(-3), ['AccountDeletionScheduled', 'AccountDeleted', 'AccountErased']);
  t.is((await request(app.url, 'POST', '/auth/login', { body: { email: identity.email, password: PASSWORD } })).status, 401);
  t.is((await request(app.url, 'POST', '/auth/register', { body: identity })).status, 201, 'the email and username are free');
});

test('a crash right after the AccountDeleted (its keys not yet destroyed) serves nothing of the account, and the next start finishes the deletion', async (t) => {
  const storageDir = tempDir();
  let app = await startTestApp({ storageDir });
  t.teardown(() => app.dispose());
  const tag = `crash_${randomUUID().slice(0, 8)}`;
  const identity = { email: `${tag}@example.test`, username: tag, password: PASSWORD };
  const registered = await request(app.url, 'POST', '/auth/register', { body: identity });
  const userId = registered.body.user.id as string;
  const token = registered.body.accessToken as string;

  // What a process killed between the append and the erasing leaves: the AccountDeleted, and nothing after it.
  const commands = new CommandHandler(app.eventStore, eventUpcaster);
  await commands.handle(userDecider, userStream(userId), {
    type: 'DeleteAccount',
    data: { userId, passwordVerified: true, messages: 'keep' },
    metadata: { commandId: `crash-${tag}`, correlationId: 'c', causationId: 'c', userId, now: new Date().toISOString() },
  });
  const refused = async () => (await request(app.url, 'GET', '/api/users/profile', { token })).status;
  for (let attempt = 0; attempt < 100 && (await refused()) !== 401; attempt++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(await refused(), 401, 'the account is gone for readers at once');
  t.is((await request(app.url, 'POST', '/auth/login', { body: { email: identity.email, password: PASSWORD } })).status, 401);

  await app.stop();
  app = await startTestApp({ storageDir });
  const types = (await app.eventStore.readStream(`user-${userId}`)).map((event) => event.type);
  t.deepEqual(types.slice(-2), ['AccountDeleted', 'AccountErased'], 'finished at start');
  t.is((await request(app.url, 'POST', '/auth/register', { body: identity })).status, 201, 'its claims were released');
});
