import test from 'ava';
import { userStream } from '../../commands/users.ts';
import { liftedRateLimits } from '../../src/rateLimit/policies.ts';
import { CLOSE } from '../../src/contract/socketProtocol.ts';
import { registerUser, request, startTestApp } from '../helpers/app.ts';
import { connect } from '../helpers/socket.ts';
import { holdThreadPool } from '../helpers/threadPool.ts';

/** A test server with every policy lifted except the ones given (later entries of RATE_LIMITS win). */
const serverWith = (limits: string, env: Record<string, string> = {}) =>
  startTestApp({ env: { RATE_LIMITS: `${liftedRateLimits()};${limits}`, ...env } });

const SF_POLICY = /^"(\w[\w-]*)";q=(\d+);w=(\d+)$/;
const SF_REMAINING = /^"(\w[\w-]*)";r=(\d+);t=(\d+);pk=:([A-Za-z0-9+/]+=*):$/;

test('REST and the socket draw on one msg budget per user: spent over REST, the socket is refused, and the other way round', async (t) => {
  // No refill within the test: 3 per minute.
  const app = await serverWith('msg=3,3/m');
  t.teardown(() => app.dispose());
  const [alice, bob, carol] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const send = (who: typeof alice, text: string) =>
    request(app.url, 'POST', '/api/messages', { token: who.accessToken, body: { recipientId: bob.user.id, text } });

  const first = await send(alice, 'one');
  t.is(first.status, 201);
  t.regex(first.headers.get('ratelimit-policy') ?? '', SF_POLICY);
  t.is(first.headers.get('ratelimit-policy'), '"msg";q=3;w=60');
  const [, name, remaining, , partition] = SF_REMAINING.exec(first.headers.get('ratelimit') ?? '') ?? [];
  t.deepEqual([name, remaining], ['msg', '2']);
  t.false(first.headers.get('ratelimit')!.includes(alice.user.id), 'the partition key is a hash, not the user id');
  t.is((await send(alice, 'two')).status, 201);

  const socket = await connect(app.wsUrl, alice.accessToken);
  t.teardown(() => socket.close());
  socket.send({ type: 'message.send', id: 's1', recipientId: bob.user.id, text: 'three' });
  t.like(await socket.next((f) => f.id === 's1'), { type: 'message.send.ok' });
  socket.send({ type: 'message.send', id: 's2', recipientId: bob.user.id, text: 'four' });
  const refused = await socket.next((f) => f.id === 's2');
  t.like(refused, { type: 'error', error: { code: 'rate_limited', details: { policy: 'msg' } } });
  t.true(refused.error.details.retryAfterMs > 0 && refused.error.details.retryAfterMs <= 20_000);
  socket.send({ type: 'ping', id: 'p' });
  t.like(await socket.next((f) => f.id === 'p'), { type: 'ping.ok' }, 'an over-budget frame is refused, the socket stays open');

  const overRest = await send(alice, 'five');
  t.is(overRest.status, 429);
  t.like(overRest.body, { error: { code: 'rate_limited', details: { policy: 'msg' } } });
  const retryAfter = Number(overRest.headers.get('retry-after'));
  t.true(retryAfter >= 1 && retryAfter <= 20, `Retry-After ${retryAfter}`);
  const [, , left, resetSeconds, samePartition] = SF_REMAINING.exec(overRest.headers.get('ratelimit') ?? '') ?? [];
  t.is(left, '0');
  t.is(Number(resetSeconds), retryAfter, 'RateLimit t is not sooner than Retry-After');
  t.is(samePartition, partition, 'one partition for the user whatever the transport');

  t.is((await send(carol, 'carol is not alice')).status, 201, 'another user (same address) keeps their own budget');
  t.is((await request(app.url, 'GET', '/api/conversations', { token: alice.accessToken })).status, 200, 'other policies are untouched');
  const bobView = await request(app.url, 'GET', `/api/messages?with=${alice.user.id}`, { token: bob.accessToken });
  t.deepEqual(bobView.body.messages.map((m: any) => m.content.text).sort(), ['one', 'three', 'two'], 'refused sends stored nothing');
});

test('failed logins lock the account for a while from that address, even for the right password; other accounts from the same address log in', async (t) => {
  const app = await serverWith('login-failures=2,2/15m');
  t.teardown(() => app.dispose());
  const [victim, neighbour] = [await registerUser(app.url), await registerUser(app.url)];
  const login = (email: string, password: string) => request(app.url, 'POST', '/auth/login', { body: { email, password } });

  t.is((await login(victim.email, 'wrong password 1')).status, 401);
  t.is((await login(victim.email, 'wrong password 2')).status, 401);
  const locked = await login(victim.email, victim.password);
  t.is(locked.status, 429, 'even the right password waits: guessing gains nothing');
  t.like(locked.body, { error: { code: 'rate_limited', details: { policy: 'login-failures' } } });
  t.true(Number(locked.headers.get('retry-after')) > 60);
  t.is((await login(neighbour.email, neighbour.password)).status, 200);
  t.is((await login(neighbour.email, neighbour.password)).status, 200, 'successful logins cost nothing of login-failures');
});

test('parallel guesses cannot outrun the login budget: of 30 at once only the budget reaches the password check', async (t) => {
  const app = await serverWith('login-failures=5,5/15m');
  t.teardown(() => app.dispose());
  const victim = await registerUser(app.url);
  // No password check can finish while libuv's pool is held: every guess arrives while the first ones are still checked.
  const pool = await holdThreadPool();
  const guesses = [...Array.from({ length: 29 }, (_, i) => `wrong guess ${i}`), victim.password];
  let refused = 0;
  const answers = Promise.all(
    guesses.map(async (password) => {
      const answer = await request(app.url, 'POST', '/auth/login', { body: { email: victim.email, password } });
      if (answer.status === 429) refused++;
      return answer;
    }),
  );
  const deadline = Date.now() + 5_000;
  while (refused < 25 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const refusedBeforeAnyCheckEnded = refused;
  await pool.release();
  const settled = await answers;
  t.is(refusedBeforeAnyCheckEnded, 25, 'the 25 guesses past the budget are refused without waiting for a password check');
  t.is(settled.filter((answer) => answer.status !== 429).length, 5);
  t.true(settled.filter((answer) => answer.status === 429).every((answer) => answer.body.error.details.policy === 'login-failures'));
  const logins = (await app.eventStore.readStream(userStream(victim.user.id))).filter((event) => event.type === 'UserLoggedIn');
  t.is(
    logins.length,
    settled.at(-1)!.status === 200 ? 2 : 1,
    "a session only for a right password within the budget (and the registration's)",
  );
});

test('nobody can lock an account out: guessed from one address, the owner at another logs in; guessed from many, every attempt is slowed, not refused', async (t) => {
  const app = await serverWith('login-failures=3,3/15m;login-account=4,4/15m', { TRUST_PROXY: '1' });
  t.teardown(() => app.dispose());
  const victim = await registerUser(app.url);
  const login = (address: string, password: string) =>
    request(app.url, 'POST', '/auth/login', {
      body: { email: victim.email, password },
      headers: { 'x-forwarded-for': address },
    });
  const timed = async (address: string, password: string) => {
    const started = performance.now();
    const answer = await login(address, password);
    return { status: answer.status, ms: performance.now() - started };
  };

  // One attacker: three failures close the account to that address only.
  for (let i = 0; i < 3; i++) t.is((await login('10.0.0.66', `guess ${i}`)).status, 401);
  const attacker = await login('10.0.0.66', victim.password);
  t.is(attacker.status, 429, 'the guessing address is refused, even with the right password');
  t.like(attacker.body, { error: { details: { policy: 'login-failures' } } });
  const owner = await timed('10.0.0.1', victim.password);
  t.is(owner.status, 200, 'the owner, elsewhere, is not locked out');

  // Many attackers: past the account's budget (4 failures from anywhere) each attempt waits, 1 s doubling.
  t.is((await login('10.0.1.1', 'guess a')).status, 401);
  const slowed = await timed('10.0.1.2', 'guess b');
  t.is(slowed.status, 401);
  t.true(slowed.ms >= 900, `the 5th failure on the account waited ${Math.round(slowed.ms)} ms`);
  const ownerLater = await timed('10.0.0.1', victim.password);
  t.is(ownerLater.status, 200, 'the owner still gets in, later');
  t.true(ownerLater.ms >= 1_900, `the owner waited ${Math.round(ownerLater.ms)} ms (2 s after 5 failures)`);
  const logins = (await app.eventStore.readStream(userStream(victim.user.id))).filter((event) => event.type === 'UserLoggedIn');
  t.is(logins.length, 3, "the registration's session and the owner's two");
});

test('a socket over its frame budget gets an error frame naming the policy, then the 4429 close', async (t) => {
  const app = await serverWith('frames=5,5/m');
  t.teardown(() => app.dispose());
  const alice = await registerUser(app.url);
  const socket = await connect(app.wsUrl, alice.accessToken);
  for (let i = 0; i < 6; i++) socket.send({ type: 'ping', id: `p${i}` });
  t.like(await socket.closed, { code: CLOSE.RATE_LIMITED, reason: 'rate_limited' });
  t.is(socket.frames.filter((f) => f.type === 'ping.ok').length, 5);
  t.like(socket.frames.at(-1), { type: 'error', error: { code: 'rate_limited', details: { policy: 'frames' } } });
});

test('addresses: X-Forwarded-For is ignored unless TRUST_PROXY says how many proxies to believe', async (t) => {
  const direct = await serverWith('auth=2,2/m');
  t.teardown(() => direct.dispose());
  const attempt = (url: string, forwardedFor: string) =>
    request(url, 'POST', '/auth/login', {
      body: { email: 'nobody@example.test', password: 'irrelevant' },
      headers: { 'x-forwarded-for': forwardedFor },
    });
  const spoofed = [await attempt(direct.url, '10.0.0.1'), await attempt(direct.url, '10.0.0.2'), await attempt(direct.url, '10.0.0.3')];
  t.deepEqual(
    spoofed.map((r) => r.status),
    [401, 401, 429],
    'a client cannot buy fresh buckets by inventing addresses',
  );

  const proxied = await serverWith('auth=2,2/m', { TRUST_PROXY: '1' });
  t.teardown(() => proxied.dispose());
  const behindProxy = [
    await attempt(proxied.url, '10.0.0.1'),
    await attempt(proxied.url, '10.0.0.1'),
    await attempt(proxied.url, '10.0.0.1'),
  ];
  t.deepEqual(
    behindProxy.map((r) => r.status),
    [401, 401, 429],
  );
  t.is((await attempt(proxied.url, '10.0.0.2')).status, 401, 'another client behind the proxy has its own bucket');
  // The proxy appends the address it saw: only that last entry is believed, not what the client put before it.
  t.is((await attempt(proxied.url, '10.0.0.9, 10.0.0.1')).status, 429);
});
