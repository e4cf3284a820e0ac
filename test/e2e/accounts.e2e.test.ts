import test from 'ava';
import { identityClaimDecider } from '../../commands/identityClaims.ts';
import { userDecider, userStream } from '../../commands/users.ts';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { CommandHandler } from '../../src/commandHandler.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { connect } from '../helpers/socket.ts';
import bcrypt from 'bcrypt';
import { createHash } from 'node:crypto';

/** Account privacy and password rules (issue 7 items 2, 4 and the stalled-registration takeover of item 12). */
let app: TestApp;
// Real time (tokens are checked against it), moved forward by hand where a test needs a minute to pass.
let now = new Date();
test.before(async () => {
  app = await startTestApp({ clock: () => now });
});
test.after.always(async () => {
  await app.dispose();
});

const register = (body: unknown) => request(app.url, 'POST', '/auth/register', { body });
const login = (email: string, password: string) => request(app.url, 'POST', '/auth/login', { body: { email, password } });

test("a user's email is shown to that user only: never in conversations, snapshots or groups others see", async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  t.is(a.user.email, a.email, 'the owner sees it at registration');
  t.is((await request(app.url, 'GET', '/auth/verify', { token: a.accessToken })).body.user.email, a.email);
  t.is((await login(a.email, a.password)).body.user.email, a.email);

  await request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text: 'hi' } });
  const groupId = (await request(app.url, 'POST', '/api/groups', { token: a.accessToken, body: { name: 'G', memberIds: [b.user.id] } }))
    .body.group.id;
  const seenByB = [
    await request(app.url, 'GET', '/api/conversations', { token: b.accessToken }),
    await request(app.url, 'GET', `/api/groups/${groupId}`, { token: b.accessToken }),
    await request(app.url, 'GET', '/api/groups', { token: b.accessToken }),
  ].map((response) => JSON.stringify(response.body));
  const socket = await connect(app.wsUrl, b.accessToken);
  socket.send({ type: 'sync', id: 's' });
  const snapshot = await socket.next((frame) => frame.type === 'sync.snapshot');
  socket.close();
  const peer = snapshot.conversations.find((c: any) => c.kind === 'direct').peer;
  t.is(peer.id, a.user.id, 'the peer is there');
  t.deepEqual(Object.keys(peer).sort(), ['createdAt', 'displayName', 'id', 'isBot', 'username']);
  for (const body of [...seenByB, JSON.stringify(snapshot)]) t.false(body.includes(a.email), body);
});

test('new passwords: at most 72 UTF-8 bytes, no control characters, no unpaired surrogates', async (t) => {
  const cases: Array<[string, string]> = [
    ['too long for bcrypt', 'a'.repeat(73)],
    ['too long in bytes, not characters', 'é'.repeat(37)],
    ['only NUL characters', '\u0000'.repeat(10)],
    ['a NUL inside', 'password\u0000suffix'],
    ['a control character', 'pass\u0007word1'],
  ];
  for (const [name, password] of cases) {
    const response = await register({ email: `p${name.length}@example.test`, username: `p_${name.length}`, password });
    t.is(response.status, 400, name);
    t.is(response.body.error.code, 'validation_failed');
    t.regex(response.body.error.message, /^password:/);
  }
  // A lone surrogate cannot be written through JSON.stringify: send the escape by hand.
  const raw = '{"email":"lone@example.test","username":"lone_s","password":"password\\ud800x"}';
  const lone = await request(app.url, 'POST', '/auth/register', { raw });
  t.is(lone.status, 400);
  t.regex(lone.body.error.message, /surrogate/);
  t.is(
    (await request(app.url, 'POST', '/auth/login', { raw: '{"email":"lone@example.test","password":"\\u0000\\u0000\\u0000"}' })).status,
    400,
  );
});

test('a 72-byte password logs in; the same password with anything appended does not', async (t) => {
  const password = 'x'.repeat(72);
  t.is((await register({ email: 'long@example.test', username: 'long_pw', password })).status, 201);
  t.is((await login('long@example.test', password)).status, 200);
  const longer = await login('long@example.test', `${password}yz`);
  t.is(longer.status, 401);
  t.is(longer.body.error.code, 'invalid_credentials');
});

test('passwords are compared in NFC: the same password typed with combining accents logs in', async (t) => {
  const composed = 'caf\u00e9 au lait';
  const decomposed = 'cafe\u0301 au lait';
  t.is((await register({ email: 'nfc@example.test', username: 'nfc_user', password: decomposed })).status, 201);
  t.is((await login('nfc@example.test', composed)).status, 200);
  t.is((await login('nfc@example.test', decomposed)).status, 200);
});

test.serial('a stalled registration whose email was taken over cannot complete afterwards, and the projection never stalls', async (t) => {
  // A claimed the email, then stalled for over a minute before writing its user.
  const commands = new CommandHandler(app.eventStore, eventUpcaster);
  const stalledUserId = '11111111-1111-4111-8111-111111111111';
  const email = 'stalled@example.test';
  const claimStream = `identity-email-${createHash('sha256').update(email).digest('hex')}`;
  await commands.handle(identityClaimDecider, claimStream, {
    type: 'ClaimIdentity',
    data: { kind: 'email', ownerId: stalledUserId, currentOwnerAbandoned: false },
    metadata: { commandId: 'stalled-claim', correlationId: 'c', causationId: 'c', userId: null, now: now.toISOString() },
  });
  t.is((await register({ email, username: 'too_early', password: 'a long password' })).status, 409, 'a fresh claim holds');

  now = new Date(now.getTime() + 61_000);
  const taker = await register({ email, username: 'taker', password: 'a long password' });
  t.is(taker.status, 201, 'a stale claim is taken over');
  // A wakes up and tries to finish: its own stream now says its registration was voided.
  const late = commands.handle(userDecider, userStream(stalledUserId), {
    type: 'RegisterUser',
    data: {
      userId: stalledUserId,
      email: { plain: email },
      username: { plain: 'stalled' },
      displayName: { plain: 'S' },
      passwordHash: 'h',
      passwordScheme: 'bcrypt-nfc',
    },
    metadata: { commandId: 'stalled-register', correlationId: 'c', causationId: 'c', userId: null, now: now.toISOString() },
  });
  await t.throwsAsync(late, { message: /took too long/ });
  // The projection keeps going: a registration after it is readable at once.
  const after = await registerUser(app.url);
  t.is((await request(app.url, 'GET', '/auth/verify', { token: after.accessToken })).status, 200);
  t.is((await login(email, 'a long password')).body.user.id, taker.body.user.id);
});

test.serial(
  'a UserRegistered v1 in the log (hashed as typed) is upcast on read by the runner and the handler: that user logs in',
  async (t) => {
    // Written as the server wrote it before passwords were normalized: schema version 1, no passwordScheme.
    const userId = '22222222-2222-4222-8222-222222222222';
    const typed = 'cafe\u0301 legacy pass'; // not NFC: a v2 hash of the same words would differ
    const passwordHash = await bcrypt.hash(typed, 4);
    const { position } = await app.eventStore.append(
      userStream(userId),
      [
        {
          type: 'UserRegistered',
          data: {
            userId,
            email: 'legacy@example.test',
            username: 'legacy',
            displayName: 'Legacy',
            passwordHash,
            registeredAt: new Date().toISOString(),
          },
          metadata: {
            eventId: '33333333-3333-4333-8333-333333333333',
            correlationId: 'c',
            causationId: 'c',
            userId: null,
            timestamp: new Date().toISOString(),
          },
        },
      ],
      'no-stream',
    );
    await app.projections.waitFor(position);
    t.like(
      await app.readStore.collection('users').findOne({ _id: userId }),
      { passwordScheme: 'bcrypt' },
      'the runner projected the upcast event',
    );
    const session = await login('legacy@example.test', typed);
    t.is(session.status, 200, 'the handler folded the upcast event and the password is checked as typed');
    t.is(session.body.user.id, userId);
    t.is((await login('legacy@example.test', typed.normalize('NFC'))).status, 401, 'v1 hashes compare the password as typed');
  },
);
