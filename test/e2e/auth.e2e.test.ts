import test from 'ava';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { userStream } from '../../commands/users.ts';
import { USERS } from '../../projections/users.ts';
import { tableOf } from '../../src/readstore/sqliteSchema.ts';
import { CLOSE } from '../../src/contract/socketProtocol.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { connect } from '../helpers/socket.ts';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app.dispose();
});

const register = (body: unknown) => request(app.url, 'POST', '/auth/register', { body });

test('GET /ping answers', async (t) => {
  const response = await request(app.url, 'GET', '/ping');
  t.is(response.status, 200);
  t.true(response.body.ok);
  t.regex(response.headers.get('x-request-id') ?? '', /.+/);
});

test('register returns 201 with the user and a bearer token, never the password hash', async (t) => {
  const response = await register({ email: 'Grace@Example.test', username: 'Grace_H', password: 'a long password', displayName: 'Grace' });
  t.is(response.status, 201);
  t.like(response.body, {
    user: { email: 'grace@example.test', username: 'grace_h', displayName: 'Grace' },
    tokenType: 'Bearer',
    expiresIn: 7200,
  });
  t.regex(response.body.accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  t.false(JSON.stringify(response.body).includes('$2b$'));
  t.false('passwordHash' in response.body.user);
});

test('a missing or wrong field is a 400 naming the field, and nothing is registered', async (t) => {
  const missing = await register({ email: 'x@example.test', username: 'xavier' });
  t.is(missing.status, 400);
  t.is(missing.body.error.code, 'validation_failed');
  t.regex(missing.body.error.message, /^password:/);
  t.is(missing.body.error.details.issues[0].field, 'password');

  const badEmail = await register({ email: 'not-an-email', username: 'xavier', password: 'long enough pw' });
  t.is(badEmail.status, 400);
  t.regex(badEmail.body.error.message, /^email:/);

  const unknownField = await register({ email: 'x@example.test', username: 'xavier', password: 'long enough pw', admin: true });
  t.is(unknownField.status, 400);
  t.regex(unknownField.body.error.message, /admin/);

  const operator = await register({ email: { $gt: '' }, username: 'xavier', password: 'long enough pw' });
  t.is(operator.status, 400);

  const login = await request(app.url, 'POST', '/auth/login', { body: { email: 'x@example.test', password: 'long enough pw' } });
  t.is(login.status, 401, 'none of the rejected registrations created the user');
});

test('a duplicate email is a 409, and so is a duplicate username', async (t) => {
  await register({ email: 'dup@example.test', username: 'dup_one', password: 'a long password' });
  const sameEmail = await register({ email: 'DUP@example.test', username: 'dup_two', password: 'a long password' });
  t.is(sameEmail.status, 409);
  t.is(sameEmail.body.error.code, 'email_taken');
  const sameUsername = await register({ email: 'dup2@example.test', username: 'DUP_ONE', password: 'a long password' });
  t.is(sameUsername.status, 409);
  t.is(sameUsername.body.error.code, 'username_taken');
  // The failed username claim released its email, so that email can still register.
  const retry = await register({ email: 'dup2@example.test', username: 'dup_three', password: 'a long password' });
  t.is(retry.status, 201);
});

test('of two racing registrations with one email exactly one wins', async (t) => {
  const results = await Promise.all(
    Array.from({ length: 5 }, (_, i) => register({ email: 'race@example.test', username: `racer_${i}`, password: 'a long password' })),
  );
  t.deepEqual(results.map((r) => r.status).sort(), [201, 409, 409, 409, 409]);
  const users = await app.readStore.collection('users').find({ email: 'race@example.test' });
  t.is(users.length, 1);
});

test('login succeeds with the right password; a wrong password and an unknown email get the same 401', async (t) => {
  const user = await registerUser(app.url);
  const ok = await request(app.url, 'POST', '/auth/login', { body: { email: user.email, password: user.password } });
  t.is(ok.status, 200);
  t.is(ok.body.user.id, user.user.id);
  const wrong = await request(app.url, 'POST', '/auth/login', { body: { email: user.email, password: 'not the password' } });
  const unknown = await request(app.url, 'POST', '/auth/login', { body: { email: 'nobody@example.test', password: 'not the password' } });
  t.is(wrong.status, 401);
  t.is(unknown.status, 401);
  t.deepEqual(wrong.body, unknown.body);
  t.is(wrong.body.error.code, 'invalid_credentials');
});

test('verify accepts a valid token and refuses a missing, forged or malformed one', async (t) => {
  const user = await registerUser(app.url);
  const ok = await request(app.url, 'GET', '/auth/verify', { token: user.accessToken });
  t.is(ok.status, 200);
  t.like(ok.body, { valid: true, user: { id: user.user.id } });
  const missing = await request(app.url, 'GET', '/auth/verify');
  t.is(missing.status, 401);
  t.is(missing.body.error.code, 'missing_token');
  const [header, payload] = user.accessToken.split('.');
  const forged = await request(app.url, 'GET', '/auth/verify', { token: `${header}.${payload}.AAAA` });
  t.is(forged.body.error.code, 'invalid_token');
  const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`;
  t.is((await request(app.url, 'GET', '/auth/verify', { token: none })).status, 401, 'alg none is refused');
});

test('logout revokes the token: verify then refuses it while other tokens of the user keep working', async (t) => {
  const user = await registerUser(app.url);
  const second = await request(app.url, 'POST', '/auth/login', { body: { email: user.email, password: user.password } });
  const out = await request(app.url, 'POST', '/auth/logout', { token: user.accessToken });
  t.is(out.status, 204);
  const revoked = await request(app.url, 'GET', '/auth/verify', { token: user.accessToken });
  t.is(revoked.status, 401);
  t.is(revoked.body.error.code, 'token_revoked');
  t.is((await request(app.url, 'POST', '/auth/logout', { token: user.accessToken })).status, 401);
  t.is((await request(app.url, 'GET', '/auth/verify', { token: second.body.accessToken })).status, 200);
});

test('logout revokes the token at once while the users projector is held: REST and a new socket refuse it', async (t) => {
  const held = await startTestApp();
  t.teardown(() => held.dispose());
  const user = await registerUser(held.url);
  const open = await connect(held.wsUrl, user.accessToken);
  t.teardown(() => open.close());
  await open.next((f) => f.type === 'welcome');
  // The users projector cannot apply anything more to this user's document: it is held at the logout.
  const readDb = new Database(join(held.storageDir, 'read.sqlite'));
  readDb.exec(`CREATE TRIGGER hold_users BEFORE UPDATE ON ${tableOf(USERS)} WHEN OLD.id = '${user.user.id}'
    BEGIN SELECT RAISE(ABORT, 'users projector held by the test'); END`);
  readDb.close();

  t.is((await request(held.url, 'POST', '/auth/logout', { token: user.accessToken })).status, 204);
  t.deepEqual(await open.closed, { code: CLOSE.UNAUTHORIZED, reason: 'token_revoked' });
  const events = await held.eventStore.readStream(userStream(user.user.id));
  t.like(events.at(-1), { type: 'UserLoggedOut', data: { userId: user.user.id } });
  const ping = await request(held.url, 'GET', '/ping');
  t.true(
    ping.body.projections.stalled.some((stall: { projector: string }) => stall.projector === USERS),
    'the users projector is held',
  );

  const verify = await request(held.url, 'GET', '/auth/verify', { token: user.accessToken });
  t.is(verify.status, 401);
  t.is(verify.body.error.code, 'token_revoked');
  const again = await connect(held.wsUrl, user.accessToken);
  t.deepEqual(await again.closed, { code: CLOSE.UNAUTHORIZED, reason: 'token_revoked' });
  const fresh = await request(held.url, 'POST', '/auth/login', { body: { email: user.email, password: user.password } });
  t.is((await request(held.url, 'GET', '/auth/verify', { token: fresh.body.accessToken })).status, 200, 'a new token works');
});

test('failed logins at bcrypt cost 12 do not stall file downloads: password checks leave libuv threads to the filesystem', async (t) => {
  const costly = await startTestApp({ env: { BCRYPT_COST: '12' } });
  t.teardown(() => costly.dispose());
  const owner = await registerUser(costly.url);
  const uploaded = await fetch(`${costly.url}/api/media/upload?filename=notes.txt`, {
    method: 'POST',
    headers: { authorization: `Bearer ${owner.accessToken}`, 'content-type': 'text/plain' },
    body: 'a note worth keeping\n'.repeat(500),
  });
  t.is(uploaded.status, 201);
  const { media } = (await uploaded.json()) as { media: { id: string } };
  const download = async () => {
    const response = await fetch(`${costly.url}/api/media/${media.id}`, { headers: { authorization: `Bearer ${owner.accessToken}` } });
    t.is(response.status, 200);
    return (await response.arrayBuffer()).byteLength;
  };
  t.is(await download(), 'a note worth keeping\n'.length * 500);

  // 20 failed logins (each at about a core-second here), then a download while they are checked. How many of them
  // are answered before the download is the measure, not milliseconds: it holds on a slow or busy machine alike.
  let answered = 0;
  const failures = Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      request(costly.url, 'POST', '/auth/login', { body: { email: `nobody-${i}@example.test`, password: 'not the password' } }).then(
        (answer) => {
          answered++;
          return answer.status;
        },
      ),
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  const started = performance.now();
  await download();
  const downloadMs = performance.now() - started;
  const answeredBeforeDownload = answered;
  t.deepEqual(new Set(await failures), new Set([401]));
  t.log(`download took ${Math.round(downloadMs)} ms, after ${answeredBeforeDownload} of 20 failed logins were answered`);
  t.true(answeredBeforeDownload <= 4, `the download waited for ${answeredBeforeDownload} of 20 password checks`);
});

test('malformed JSON, wrong content and oversized bodies get JSON errors and the server keeps serving', async (t) => {
  const malformed = await request(app.url, 'POST', '/auth/login', { raw: '{"email":' });
  t.is(malformed.status, 400);
  t.is(malformed.body.error.code, 'validation_failed');
  const array = await request(app.url, 'POST', '/auth/login', { raw: '[1,2]' });
  t.is(array.status, 400);
  const huge = await request(app.url, 'POST', '/auth/register', { raw: JSON.stringify({ email: 'x'.repeat(300_000) }) });
  t.is(huge.status, 413);
  t.is(huge.body.error.code, 'payload_too_large');
  const notFound = await request(app.url, 'GET', '/nowhere');
  t.deepEqual(notFound.body.error.code, 'not_found');
  const wrongMethod = await request(app.url, 'PUT', '/auth/login');
  t.is(wrongMethod.status, 405);
  t.is(wrongMethod.body.error.code, 'method_not_allowed');
  t.is((await request(app.url, 'GET', '/ping')).status, 200);
});

test('credential endpoints are rate limited per client with a 429 and Retry-After', async (t) => {
  const limited = await startTestApp({ env: { RATE_LIMITS: 'auth=5,6/m' } });
  try {
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof request<any>>> | undefined;
    for (let i = 0; i < 8; i++) {
      last = await request(limited.url, 'POST', '/auth/login', { body: { email: 'x@example.test', password: 'whatever' } });
      statuses.push(last.status);
    }
    t.true(statuses.includes(429));
    t.is(last?.body.error.code, 'rate_limited');
    t.regex(last?.headers.get('retry-after') ?? '', /^\d+$/);
  } finally {
    await limited.dispose();
  }
});

test("headers or a URL over Node's 16 KB limit get a 431 with the JSON error shape, and the server keeps serving", async (t) => {
  const hugeHeader = await fetch(`${app.url}/ping`, { headers: { 'x-filler': 'x'.repeat(20_000) } });
  t.is(hugeHeader.status, 431);
  t.like(await hugeHeader.json(), { error: { code: 'headers_too_large' } });
  const hugeUrl = await fetch(`${app.url}/api/messages?with=${'x'.repeat(20_000)}`);
  t.is(hugeUrl.status, 431);
  t.like(await hugeUrl.json(), { error: { code: 'headers_too_large' } });
  t.is((await request(app.url, 'GET', '/ping')).status, 200);
});
