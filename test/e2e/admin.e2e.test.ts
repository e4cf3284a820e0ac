import test from 'ava';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { userStream } from '../../commands/users.ts';
import { USERS } from '../../projections/users.ts';
import { CLOSE } from '../../src/contract/socketProtocol.ts';
import { tableOf } from '../../src/readstore/sqliteSchema.ts';
import { registerUser, request, startTestApp, testEnv, type TestApp } from '../helpers/app.ts';
import { execScript } from '../helpers/scripts.ts';
import { connect } from '../helpers/socket.ts';

/** `npm run admin -- ...` against the running server's stores, as an operator would run it beside it. */
function admin(app: TestApp, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return execScript('admin.ts', args, { env: { ...process.env, ...testEnv(app.storageDir), NODE_ENV: 'test' } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: unknown; stdout: string; stderr: string }) => ({
      code: typeof error.code === 'number' ? error.code : 1,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );
}

const login = (app: TestApp, user: { email: string; password: string }) =>
  request(app.url, 'POST', '/auth/login', { body: { email: user.email, password: user.password } });

test('suspend closes the open socket (4401 account_suspended), refuses login (403) and the token on REST and a new socket, even with the users projector held; unsuspend lets the user log in again; both are events by the operator', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const mallory = await registerUser(app.url);
  const bystander = await registerUser(app.url);
  const open = await connect(app.wsUrl, mallory.accessToken);
  t.teardown(() => open.close());
  await open.next((frame) => frame.type === 'welcome');
  // The users read model cannot take the suspension: the refusal must not wait for it.
  const readDb = new Database(join(app.storageDir, 'read.sqlite'));
  readDb.exec(`CREATE TRIGGER hold_users BEFORE UPDATE ON ${tableOf(USERS)} WHEN OLD.id = '${mallory.user.id}'
    BEGIN SELECT RAISE(ABORT, 'users projector held by the test'); END`);
  readDb.close();

  const suspended = await admin(app, 'suspend', mallory.user.username, '--reason', 'spam reported by 3 users', '--operator', 'ops-ana');
  t.is(suspended.code, 0, suspended.stderr);
  t.regex(suspended.stdout, /suspended/);
  t.deepEqual(await open.closed, { code: CLOSE.UNAUTHORIZED, reason: 'account_suspended' });
  const [event] = (await app.eventStore.readStream(userStream(mallory.user.id))).slice(-1);
  t.like(event, {
    type: 'UserSuspended',
    data: { userId: mallory.user.id, reason: 'spam reported by 3 users', operator: 'ops-ana' },
    metadata: { userId: 'operator:ops-ana' },
  });

  const refusedLogin = await login(app, mallory);
  t.is(refusedLogin.status, 403);
  t.is(refusedLogin.body.error.code, 'account_suspended');
  t.is(
    (await login(app, { email: mallory.email, password: 'wrong password' })).body.error.code,
    'invalid_credentials',
    'a wrong password learns nothing',
  );
  const verify = await request(app.url, 'GET', '/auth/verify', { token: mallory.accessToken });
  t.is(verify.status, 403);
  t.is(verify.body.error.code, 'account_suspended');
  const again = await connect(app.wsUrl, mallory.accessToken);
  t.deepEqual(await again.closed, { code: CLOSE.UNAUTHORIZED, reason: 'account_suspended' });
  t.is((await request(app.url, 'GET', '/auth/verify', { token: bystander.accessToken })).status, 200, 'others are not affected');
  t.is(
    (await admin(app, 'suspend', mallory.email, '--reason', 'again')).stdout.trim(),
    `Nothing to do: ${mallory.user.username} was already suspended.`,
  );

  const lifted = await admin(app, 'unsuspend', mallory.user.id, '--reason', 'appeal upheld', '--operator', 'ops-ben');
  t.is(lifted.code, 0, lifted.stderr);
  t.like((await app.eventStore.readStream(userStream(mallory.user.id))).at(-1), {
    type: 'UserUnsuspended',
    data: { userId: mallory.user.id, reason: 'appeal upheld', operator: 'ops-ben' },
    metadata: { userId: 'operator:ops-ben' },
  });
  const back = await login(app, mallory);
  t.is(back.status, 200);
  t.is((await request(app.url, 'GET', '/auth/verify', { token: back.body.accessToken })).status, 200);
});

test('an unknown user, a missing reason or a bad action: one line and exit 1, or the usage and exit 2', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const unknown = await admin(app, 'suspend', 'nobody@example.test', '--reason', 'x');
  t.is(unknown.code, 1);
  t.is(unknown.stderr.trim(), 'No user "nobody@example.test" (by id, email or username).');
  t.is(unknown.stderr.trim().split('\n').length, 1);
  t.is((await admin(app, 'sessions', 'ghost')).code, 1);
  const noReason = await admin(app, 'suspend', 'someone');
  t.is(noReason.code, 2);
  t.regex(noReason.stderr, /needs --reason[\s\S]*Usage:/);
  t.is((await admin(app, 'delete', 'someone')).code, 2);
  t.is((await admin(app, 'stats', '--revoke')).code, 2);
});

test("sessions lists the live tokens and the presence of a user's sockets; --revoke logs every token out (events) and closes the sockets", async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const ada = await registerUser(app.url);
  const second = (await login(app, ada)).body;
  const loggedOut = (await login(app, ada)).body;
  await request(app.url, 'POST', '/auth/logout', { token: loggedOut.accessToken });
  const open = await connect(app.wsUrl, second.accessToken);
  t.teardown(() => open.close());
  await open.next((frame) => frame.type === 'welcome');
  await app.projections.waitFor(await app.eventStore.headPosition());

  const listed = await admin(app, 'sessions', ada.user.username, '--json');
  t.is(listed.code, 0, listed.stderr);
  const sessions = JSON.parse(listed.stdout);
  t.is(sessions.user.id, ada.user.id);
  t.is(sessions.tokens.length, 2, "the registration's and the second login's, not the logged-out one");
  t.like(sessions.sockets, { sessions: null, presence: { status: 'online' } });
  t.deepEqual(sessions.revoked, []);

  const revoked = await admin(app, 'sessions', ada.email, '--revoke', '--operator', 'ops-ana', '--json');
  t.is(revoked.code, 0, revoked.stderr);
  const tokenIds = sessions.tokens.map((token: { tokenId: string }) => token.tokenId);
  t.deepEqual(JSON.parse(revoked.stdout).revoked.sort(), [...tokenIds].sort());
  t.deepEqual(await open.closed, { code: CLOSE.UNAUTHORIZED, reason: 'token_revoked' });
  const logouts = (await app.eventStore.readStream(userStream(ada.user.id))).filter(
    (event) => event.metadata.userId === 'operator:ops-ana',
  );
  t.deepEqual(
    logouts.map((event) => [event.type, (event.data as { tokenId: string }).tokenId]).sort(),
    tokenIds.map((id: string) => ['UserLoggedOut', id]).sort(),
  );
  for (const token of [ada.accessToken, second.accessToken])
    t.is((await request(app.url, 'GET', '/auth/verify', { token })).body.error.code, 'token_revoked');
  t.deepEqual(JSON.parse((await admin(app, 'sessions', ada.user.id, '--json')).stdout).tokens, []);
});

test("stats counts users, messages and groups, the storage, and only the last 24 hours' messages, logins and active users", async (t) => {
  let offsetMs = -48 * 3_600_000;
  // Tokens issued two days ago must still be valid now (they are checked against the real time).
  const app = await startTestApp({ clock: () => new Date(Date.now() + offsetMs), env: { JWT_ACCESS_TOKEN_EXPIRES: String(7 * 86_400) } });
  t.teardown(() => app.dispose());
  // Two days ago: two users (two logins) and one direct message.
  const old = await registerUser(app.url);
  const older = await registerUser(app.url);
  t.is(
    (await request(app.url, 'POST', '/api/messages', { token: old.accessToken, body: { recipientId: older.user.id, text: 'long ago' } }))
      .status,
    201,
  );
  offsetMs = 0;
  // Today: one login of an old user, two registrations, a group with two messages and a direct one.
  t.is((await login(app, old)).status, 200);
  const carol = await registerUser(app.url);
  const dave = await registerUser(app.url);
  const group = await request(app.url, 'POST', '/api/groups', {
    token: carol.accessToken,
    body: { name: 'Fixture', memberIds: [dave.user.id] },
  });
  t.is(group.status, 201);
  for (const [who, body] of [
    [carol, { groupId: group.body.group.id, text: 'hi all' }],
    [dave, { groupId: group.body.group.id, text: 'hello' }],
    [carol, { recipientId: old.user.id, text: 'hi old friend' }],
  ] as const) {
    t.is((await request(app.url, 'POST', '/api/messages', { token: who.accessToken, body })).status, 201);
  }
  t.is((await admin(app, 'suspend', dave.user.username, '--reason', 'fixture')).code, 0, 'the operator is not an active user');
  await app.projections.waitFor(await app.eventStore.headPosition());
  const projected = await app.readStore.collection(USERS).findOne({ _id: dave.user.id });
  t.like(projected, { suspended: { reason: 'fixture' } }, 'the users read model knows');

  const result = await admin(app, 'stats', '--json');
  t.is(result.code, 0, result.stderr);
  const stats = JSON.parse(result.stdout);
  t.like(stats, {
    users: 4,
    suspendedUsers: 1,
    messages: 4,
    groups: 1,
    events: await app.eventStore.headPosition(),
    last24h: { messagesSent: 3, logins: 3, activeUsers: 3 },
    storage: { databaseBytes: null, mediaBytes: 0 },
  });
  t.true(stats.storage.eventLogBytes > 0 && stats.storage.readStoreBytes > 0);
  const text = await admin(app, 'stats');
  t.regex(text.stdout, /users 4 \(1 suspended\), messages 4, groups 1/);
  t.regex(text.stdout, /3 messages sent, 3 active users, 3 logins/);
});
