import test from 'ava';
import jwt from 'jsonwebtoken';
import { presenceEventTypes } from '../../commands/presence.ts';
import { CLIENT_FRAMES, CLOSE } from '../../src/contract/socketProtocol.ts';
import { registerUser, request, startTestApp, testEnv, type TestApp } from '../helpers/app.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

/**
 * The hostile-input sweep: every REST route and socket frame type gets generated hostile inputs, and each
 * must get a 4xx JSON error (or an error frame / a close code): never a 500, never an appended event, and
 * the server keeps answering.
 */
let app: TestApp;
let owner: Awaited<ReturnType<typeof registerUser>>;
let peer: Awaited<ReturnType<typeof registerUser>>;
let stranger: Awaited<ReturnType<typeof registerUser>>;
let groupId: string;
let messageId: string;

test.before(async () => {
  app = await startTestApp();
  [owner, peer, stranger] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  groupId = (
    await request(app.url, 'POST', '/api/groups', { token: owner.accessToken, body: { name: 'Sweep', memberIds: [peer.user.id] } })
  ).body.group.id;
  messageId = (
    await request(app.url, 'POST', '/api/messages', { token: owner.accessToken, body: { recipientId: peer.user.id, text: 'target' } })
  ).body.message.id;
});
test.after.always(async () => {
  await app.dispose();
});

const deep = (levels: number): unknown => (levels === 0 ? 'bottom' : { a: deep(levels - 1) });
/** Values no field accepts: wrong types, operators, blank or oversized strings, deep nesting. */
const hostileValues: unknown[] = [
  123,
  -1,
  1.5,
  true,
  null,
  [],
  {},
  ['x'],
  { $gt: '' },
  { $ne: null },
  { $where: 'sleep(1000)' },
  'x'.repeat(100_000),
  '',
  ' ',
  deep(60),
];

/** Every way to spoil a valid JSON body: other root types, each field missing or replaced, extra keys. */
function hostileBodies(valid: Record<string, unknown>, optional: readonly string[] = []): string[] {
  const bodies: string[] = ['null', '42', '"text"', '[]', 'true', '[1,2,3]', '{"a":', '['.repeat(5_000) + ']'.repeat(5_000)];
  for (const field of Object.keys(valid)) {
    const { [field]: _dropped, ...rest } = valid;
    if (!optional.includes(field)) bodies.push(JSON.stringify(rest));
    for (const value of hostileValues) {
      // An empty list is a fine value for a list field.
      if (Array.isArray(valid[field]) && Array.isArray(value) && value.length === 0) continue;
      bodies.push(JSON.stringify({ ...valid, [field]: value }));
    }
  }
  const base = JSON.stringify(valid).slice(1, -1);
  bodies.push(
    `{"__proto__":{"admin":true},${base}}`,
    `{"constructor":{"prototype":{"admin":true}},${base}}`,
    JSON.stringify({ ...valid, admin: true }),
  );
  bodies.push(JSON.stringify(deep(2_000)));
  return bodies;
}

const hostileIds = ['not-a-uuid', '%24gt', '..%2F..%2Fetc', 'x'.repeat(3_000), '__proto__', 'constructor', '%00', '1'];

const secret = testEnv('').JWT_SECRET_KEY!;
function hostileTokens(): Array<[string, string | undefined]> {
  const header = (alg: string) => Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify({ sub: owner.user.id, jti: 'x', exp: Math.floor(Date.now() / 1000) + 600 })).toString(
    'base64url',
  );
  return [
    ['missing', undefined],
    ['garbage', 'not.a.token'],
    ['alg none', `${header('none')}.${payload}.`],
    ['bad signature', `${owner.accessToken.slice(0, -6)}AAAAAA`],
    ['expired', jwt.sign({ sub: owner.user.id, jti: 'expired' }, secret, { algorithm: 'HS256', expiresIn: -10 })],
    [
      'other secret',
      jwt.sign({ sub: owner.user.id, jti: 'forged' }, 'another-secret-that-is-long-enough-0123456789', {
        algorithm: 'HS256',
        expiresIn: 600,
      }),
    ],
    ['HS512', jwt.sign({ sub: owner.user.id, jti: 'alg' }, secret, { algorithm: 'HS512', expiresIn: 600 })],
    [
      'unknown user',
      jwt.sign({ sub: '00000000-0000-4000-8000-000000000000', jti: 'ghost' }, secret, { algorithm: 'HS256', expiresIn: 600 }),
    ],
  ];
}

interface Route {
  method: string;
  path: () => string;
  body?: () => Record<string, unknown>;
  /** Body fields that may be left out. */
  optional?: string[];
  /** The path with its id replaced, for the id sweep. */
  withId?: (id: string) => string;
  /** A token that is valid but belongs to someone with no right to this resource. */
  foreign?: boolean;
}

const routes: Route[] = [
  {
    method: 'POST',
    path: () => '/auth/register',
    body: () => ({ email: 'sweep@example.test', username: 'sweeper', password: 'long enough password' }),
  },
  { method: 'POST', path: () => '/auth/login', body: () => ({ email: owner.email, password: 'wrong password!' }) },
  { method: 'POST', path: () => '/api/messages', body: () => ({ recipientId: peer.user.id, text: 'hi' }) },
  {
    method: 'PUT',
    path: () => `/api/messages/${messageId}`,
    body: () => ({ text: 'edit' }),
    withId: (id) => `/api/messages/${id}`,
    foreign: true,
  },
  {
    method: 'DELETE',
    path: () => `/api/messages/${messageId}?scope=everyone`,
    withId: (id) => `/api/messages/${id}?scope=everyone`,
    foreign: true,
  },
  { method: 'GET', path: () => `/api/messages/${messageId}/history`, withId: (id) => `/api/messages/${id}/history`, foreign: true },
  { method: 'POST', path: () => '/api/messages/read', body: () => ({ with: owner.user.id, messageId }) },
  { method: 'GET', path: () => `/api/messages?with=${peer.user.id}` },
  { method: 'GET', path: () => '/api/conversations' },
  { method: 'POST', path: () => '/api/groups', body: () => ({ name: 'New group', memberIds: [peer.user.id] }), optional: ['memberIds'] },
  { method: 'GET', path: () => `/api/groups/${groupId}`, withId: (id) => `/api/groups/${id}`, foreign: true },
  {
    method: 'PUT',
    path: () => `/api/groups/${groupId}`,
    body: () => ({ name: 'Renamed' }),
    withId: (id) => `/api/groups/${id}`,
    foreign: true,
  },
  {
    method: 'POST',
    path: () => `/api/groups/${groupId}/members`,
    body: () => ({ userId: stranger.user.id }),
    withId: (id) => `/api/groups/${id}/members`,
    foreign: true,
  },
  {
    method: 'DELETE',
    path: () => `/api/groups/${groupId}/members/${peer.user.id}`,
    withId: (id) => `/api/groups/${groupId}/members/${id}`,
    foreign: true,
  },
  {
    method: 'POST',
    path: () => `/api/groups/${groupId}/owner`,
    body: () => ({ userId: peer.user.id }),
    withId: (id) => `/api/groups/${id}/owner`,
    foreign: true,
  },
];

const isAuthRoute = (route: Route) => route.path().startsWith('/auth/');

function expectClientError(t: import('ava').ExecutionContext, label: string, response: { status: number; body: any }) {
  const ok =
    response.status >= 400 &&
    response.status < 500 &&
    typeof response.body?.error?.code === 'string' &&
    typeof response.body.error.message === 'string';
  if (!ok) t.fail(`${label}: expected a 4xx JSON error, got ${response.status} ${JSON.stringify(response.body)?.slice(0, 200)}`);
  return ok;
}

test.serial('every REST route answers hostile bodies, ids and tokens with a 4xx JSON error and appends nothing', async (t) => {
  const head = await app.eventStore.headPosition();
  let checked = 0;
  for (const route of routes) {
    const token = isAuthRoute(route) ? undefined : owner.accessToken;
    if (route.body) {
      for (const raw of hostileBodies(route.body(), route.optional)) {
        // Bodies that only fail on the wrong password still exercise parsing; the login baseline is itself a 401.
        const response = await request(app.url, route.method, route.path(), { raw, token });
        expectClientError(t, `${route.method} ${route.path()} ${raw.slice(0, 80)}`, response);
        checked++;
      }
    }
    if (route.withId) {
      for (const id of hostileIds) {
        const response = await request(app.url, route.method, route.withId(id), {
          token,
          raw: route.body ? JSON.stringify(route.body()) : undefined,
        });
        expectClientError(t, `${route.method} ${route.withId(id)}`, response);
        checked++;
      }
    }
    if (!isAuthRoute(route)) {
      for (const [label, bad] of hostileTokens()) {
        const response = await request(app.url, route.method, route.path(), {
          token: bad,
          raw: route.body ? JSON.stringify(route.body()) : undefined,
        });
        if (expectClientError(t, `${route.method} ${route.path()} with ${label} token`, response)) t.is(response.status, 401, label);
        checked++;
      }
      if (route.foreign) {
        const response = await request(app.url, route.method, route.path(), {
          token: stranger.accessToken,
          raw: route.body ? JSON.stringify(route.body()) : undefined,
        });
        expectClientError(t, `${route.method} ${route.path()} with another user's token`, response);
        checked++;
      }
    }
  }
  const query = await request(app.url, 'GET', `/api/messages?with=${peer.user.id}&with=${owner.user.id}&limit[$gt]=1`, {
    token: owner.accessToken,
  });
  expectClientError(t, 'repeated and operator query parameters', query);
  t.true(checked > 500, `swept ${checked} requests`);
  t.is(await app.eventStore.headPosition(), head, 'no event appended');
  t.is((await request(app.url, 'GET', '/ping')).status, 200);
});

test.serial('a revoked token is refused on every authenticated route', async (t) => {
  const victim = await registerUser(app.url);
  await request(app.url, 'POST', '/auth/logout', { token: victim.accessToken });
  const head = await app.eventStore.headPosition();
  for (const route of routes.filter((r) => !isAuthRoute(r))) {
    const response = await request(app.url, route.method, route.path(), {
      token: victim.accessToken,
      raw: route.body ? JSON.stringify(route.body()) : undefined,
    });
    t.is(response.status, 401, `${route.method} ${route.path()}`);
    t.is(response.body.error.code, 'token_revoked');
  }
  t.is(await app.eventStore.headPosition(), head);
});

const frames: Array<{ type: string; valid: () => Record<string, unknown> }> = [
  { type: 'ping', valid: () => ({}) },
  { type: 'sync', valid: () => ({ since: 0 }) },
  { type: 'message.send', valid: () => ({ recipientId: peer.user.id, text: 'hi' }) },
  { type: 'message.read', valid: () => ({ with: owner.user.id, messageId }) },
  { type: 'message.delivered', valid: () => ({ with: owner.user.id, messageId }) },
  { type: 'typing', valid: () => ({ with: peer.user.id }) },
  { type: 'presence.subscribe', valid: () => ({ userIds: [peer.user.id] }) },
  { type: 'presence.set', valid: () => ({ state: 'idle' }) },
  { type: 'ai.send', valid: () => ({ message: 'hello' }) },
  { type: 'ai.cancel', valid: () => ({ promptId: messageId }) },
  { type: 'call.ack', valid: () => ({ callId: messageId }) },
  { type: 'call.signal', valid: () => ({ callId: messageId, toConnectionId: 1, kind: 'offer', payload: { type: 'offer', sdp: 'v=0' } }) },
  { type: 'reaction.set', valid: () => ({ messageId, emoji: '👍', on: true }) },
];

test('the socket sweep covers every client frame type of the protocol', (t) => {
  t.deepEqual(frames.map((frame) => frame.type).sort(), Object.keys(CLIENT_FRAMES).sort());
});

/**
 * Sends one hostile frame followed by a ping. Frames of a socket are handled in order, so the refusal (an error
 * frame) must arrive before the pong, unless the socket was closed with a documented code.
 */
async function sendHostile(t: import('ava').ExecutionContext, socket: TestSocket, raw: string, label: string): Promise<boolean> {
  const errorsBefore = socket.frames.filter((f) => f.type === 'error').length;
  const probe = `probe-${Math.random().toString(36).slice(2)}`;
  socket.send(raw);
  socket.send({ type: 'ping', id: probe });
  const outcome = await Promise.race([
    socket
      .next((f) => f.type === 'ping.ok' && f.id === probe, 5_000)
      .then(
        () => 'answered' as const,
        () => 'silent' as const,
      ),
    socket.closed.then(() => 'closed' as const),
  ]);
  if (outcome === 'closed') {
    const { code } = await socket.closed;
    if (code !== CLOSE.FRAME_TOO_LARGE) t.fail(`${label}: closed with ${code}`);
    return false;
  }
  if (outcome === 'silent') t.fail(`${label}: the socket stopped answering`);
  const errors = socket.frames.filter((f) => f.type === 'error').length;
  if (errors !== errorsBefore + 1) t.fail(`${label}: expected one error frame, got ${errors - errorsBefore}`);
  return true;
}

test.serial('every socket frame type answers hostile payloads with an error frame or a close code and appends nothing', async (t) => {
  // Stay under the per-socket and per-user frame limits: the sweep tests validation, not the limiter. Each
  // stranger sends 60 frames and their pings per socket, and the strangers take turns.
  const strangers = [stranger, ...(await Promise.all(Array.from({ length: 9 }, () => registerUser(app.url))))];
  const head = await app.eventStore.headPosition();
  const raws: Array<[string, string]> = [];
  for (const frame of frames) {
    for (const field of [...Object.keys(frame.valid()), 'id', 'type']) {
      for (const value of hostileValues) {
        // A cursor field takes non-negative integers: those are not hostile there.
        if (typeof frame.valid()[field] === 'number' && Number.isInteger(value) && (value as number) >= 0) continue;
        // An empty list is a fine value for a list field (an empty subscription).
        if (Array.isArray(frame.valid()[field]) && Array.isArray(value) && value.length === 0) continue;
        raws.push([
          `${frame.type}.${field} = ${JSON.stringify(value)?.slice(0, 30)}`,
          JSON.stringify({ type: frame.type, id: 'h', ...frame.valid(), [field]: value }),
        ]);
      }
    }
    const base = JSON.stringify({ type: frame.type, id: 'h', ...frame.valid() }).slice(1, -1);
    raws.push([`${frame.type} with __proto__`, `{"__proto__":{"admin":true},${base}}`]);
    raws.push([`${frame.type} with constructor`, `{"constructor":{"prototype":{"admin":true}},${base}}`]);
    raws.push([`${frame.type} with an unknown field`, `{"admin":true,${base}}`]);
  }
  for (const raw of ['null', '[]', '"x"', '{"type":1}', '{', JSON.stringify(deep(2_000)), '['.repeat(5_000) + ']'.repeat(5_000)])
    raws.push([raw.slice(0, 20), raw]);

  let turn = 0;
  const nextSocket = () => connect(app.wsUrl, strangers[turn++ % strangers.length]!.accessToken);
  let socket = await nextSocket();
  let sent = 0;
  for (const [label, raw] of raws) {
    if (++sent % 60 === 0) {
      socket.close();
      socket = await nextSocket();
    }
    if (!(await sendHostile(t, socket, raw, label))) socket = await nextSocket();
  }
  t.true(raws.length > 300, `swept ${raws.length} frames`);
  // Connecting and disconnecting the sweep's sockets is presence (online, offline): that is all that may be appended.
  const appended = (await app.eventStore.readAll({ after: head })).map((event) => event.type);
  t.deepEqual(
    appended.filter((type) => !(presenceEventTypes as readonly string[]).includes(type)),
    [],
    'no event appended',
  );
  socket.close();
  t.is((await request(app.url, 'GET', '/ping')).status, 200);
});

test.serial('hostile tokens on the socket upgrade are closed with 4401', async (t) => {
  const revoked = await registerUser(app.url);
  await request(app.url, 'POST', '/auth/logout', { token: revoked.accessToken });
  for (const [label, token] of [...hostileTokens(), ['revoked', revoked.accessToken] as [string, string]]) {
    const socket = await connect(app.wsUrl, token);
    const closed = await socket.closed;
    t.is(closed.code, CLOSE.UNAUTHORIZED, label);
  }
});
