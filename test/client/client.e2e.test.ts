import test from 'ava';
import jwt from 'jsonwebtoken';
import { createServer } from 'node:net';
import WebSocket from 'ws';
import {
  LetsAppClient,
  LetsAppError,
  memoryStore,
  reconnectDelay,
  type ClientStore,
  type LetsAppClientOptions,
  type ServerFrame,
} from '../../client/index.ts';
import { serverFrame } from '../../src/contract/socketProtocol.ts';
import { holdWriteLock, request, startTestApp, tempDir, testEnv } from '../helpers/app.ts';
import { fakeGemini } from '../helpers/fakeGemini.ts';
import { spawnServer } from '../helpers/process.ts';

let counter = 0;
const fastBackoff = { baseMs: 50, maxMs: 400 };

/** A client as an app would make one, on `ws`; every frame it gets is checked against the protocol's schemas. */
function clientOf(server: { url: string; wsUrl: string }, store: ClientStore = memoryStore(), extra: Partial<LetsAppClientOptions> = {}) {
  const client = new LetsAppClient({
    baseUrl: server.url,
    wsUrl: server.wsUrl,
    store,
    // eslint-disable-next-line no-restricted-syntax -- `ws` implements the browser API the client uses; its handlers' event types are wider than WebSocketLike's.
    WebSocket: WebSocket as unknown as LetsAppClientOptions['WebSocket'],
    backoff: fastBackoff,
    ...extra,
  });
  client.on('update', (frame) => {
    const checked = serverFrame.safeParse(frame);
    if (!checked.success) throw new Error(`outside the protocol: ${JSON.stringify(frame)}`);
  });
  return client;
}

const person = () => {
  const name = `cl${++counter}_${process.pid}`;
  return { email: `${name}@example.test`, username: name, password: 'correct horse battery' };
};

/** Resolves when `predicate` first holds for an event of this type. */
function eventually<K extends 'message.created' | 'receipt' | 'state' | 'unauthorized' | 'synced'>(
  client: LetsAppClient,
  type: K,
  predicate: (payload: any) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<any> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${type} in ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.on(type, (payload: unknown) => {
      if (!predicate(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

/** Records every message.created a client receives, by text. */
function inbox(client: LetsAppClient): string[] {
  const texts: string[] = [];
  client.on('message.created', (frame) => {
    texts.push(frame.message.content?.kind === 'text' ? frame.message.content.text : '?');
  });
  return texts;
}

/** Resolves once the client is caught up and live (at once if it already is). */
const live = (client: LetsAppClient): Promise<unknown> =>
  client.live.current === 'live' ? Promise.resolve() : eventually(client, 'synced');

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
      .listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      })
      .on('error', reject);
  });
}

test("REST calls are typed by the route table; a refusal is a LetsAppError with the server's code and status", async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const ada = clientOf(app);
  t.teardown(() => ada.close());
  const session = await ada.register(person());

  const profile = await ada.api.request('get', '/api/users/profile');
  t.is(profile.profile.id, session.user.id);
  const updated = await ada.api.request('put', '/api/users/profile', { body: { displayName: 'Ada L.' } });
  t.is(updated.profile.displayName, 'Ada L.');

  const refusal = await t.throwsAsync(
    ada.api.request('get', '/api/users/{id}', { params: { id: '00000000-0000-4000-8000-000000000000' } }),
    { instanceOf: LetsAppError },
  );
  t.is(refusal.code, 'not_found');
  t.is(refusal.status, 404);
  const invalid = await t.throwsAsync(ada.api.request('put', '/api/users/profile', { body: { displayName: '' } }), {
    instanceOf: LetsAppError,
  });
  t.is(invalid.status, 400);
});

test('two clients chat live: the message arrives once, the read receipt comes back to the sender', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const [ada, bob] = [clientOf(app), clientOf(app)];
  t.teardown(() => {
    ada.close();
    bob.close();
  });
  const [a, b] = [await ada.register(person()), await bob.register(person())];
  await Promise.all([live(ada), live(bob)]);
  const received = inbox(bob);

  const arriving = eventually(bob, 'message.created', (frame) => frame.message.senderId === a.user.id);
  const sent = await ada.sendMessage({ recipientId: b.user.id, text: 'hello bob' });
  const frame = await arriving;
  t.is(frame.message.id, sent.id);
  t.deepEqual(ada.pending, [], 'the outbox is empty once acked');

  const receipt = eventually(ada, 'receipt', (r) => r.receipt === 'read' && r.userId === b.user.id);
  await bob.markRead({ with: a.user.id }, sent.id);
  t.is((await receipt).upTo.messageId, sent.id);
  t.deepEqual(received, ['hello bob']);

  const refused = await t.throwsAsync(ada.sendMessage({ recipientId: b.user.id, text: '' }), { instanceOf: LetsAppError });
  t.is(refused.code, 'validation_failed');
  t.deepEqual(ada.pending, [], 'a refused message leaves the outbox');
});

test('a client that reconnects resumes from its saved position: what it missed arrives once, in order', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const bobStore = memoryStore();
  const [ada, bob] = [clientOf(app), clientOf(app, bobStore)];
  t.teardown(() => {
    ada.close();
    bob.close();
  });
  const [a, b] = [await ada.register(person()), await bob.register(person())];
  await live(bob);
  const seenBefore = inbox(bob);
  await ada.sendMessage({ recipientId: b.user.id, text: 'before' });
  await until(() => seenBefore.length === 1);
  bob.close();

  for (const text of ['one', 'two', 'three']) {
    await request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text } });
  }

  // A new client on the same store: as after a reload.
  const again = clientOf(app, bobStore);
  t.teardown(() => again.close());
  const texts = inbox(again);
  let snapshots = 0;
  again.on('snapshot', () => {
    snapshots++;
  });
  t.truthy(await again.resume());
  await live(again);
  await until(() => texts.length >= 3);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.deepEqual(texts, ['one', 'two', 'three'], 'only what was missed, once each, in order');
  t.is(snapshots, 0, 'resumed by replay, not a snapshot');
  t.deepEqual(seenBefore, ['before']);
});

test("a saved position the server cannot replay from (another server's) gets sync.reset: the client starts over from the snapshot", async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const store = memoryStore();
  const ada = clientOf(app, store);
  const session = await ada.register(person());
  await live(ada);
  ada.close();
  await store.set(`${session.user.id}:position`, String(1e12));

  const again = clientOf(app, store);
  t.teardown(() => again.close());
  const snapshot = new Promise<{ reset: boolean; position: number }>((resolve) => again.on('snapshot', resolve));
  await again.resume();
  const { reset, position } = await snapshot;
  t.true(reset);
  t.true(position < 1e12);
  await live(again);
  t.is(again.live.lastPosition, position, "resumes from the snapshot's position from now on");
  t.is(await store.get(`${session.user.id}:position`), String(position));
});

test('a message still in the outbox from before a reload is sent once: the server answers the repeat with the first', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const adaStore = memoryStore();
  const [ada, bob] = [clientOf(app, adaStore), clientOf(app)];
  t.teardown(() => {
    ada.close();
    bob.close();
  });
  const [a, b] = [await ada.register(person()), await bob.register(person())];
  await live(bob);
  const texts = inbox(bob);

  // The page sent it and was closed before the ack: the server stored it, the outbox still has it.
  const sent = await request(app.url, 'POST', '/api/messages', {
    token: a.accessToken,
    body: { recipientId: b.user.id, text: 'once', clientMessageId: 'm-1' },
  });
  t.is(sent.status, 201);
  await adaStore.set(
    `${a.user.id}:outbox`,
    JSON.stringify([
      {
        clientMessageId: 'm-1',
        payload: { recipientId: b.user.id, text: 'once', clientMessageId: 'm-1' },
        queuedAt: new Date().toISOString(),
      },
    ]),
  );
  ada.close();

  const reloaded = clientOf(app, adaStore);
  t.teardown(() => reloaded.close());
  await reloaded.resume();
  t.is(reloaded.pending.length, 1);
  await until(() => reloaded.pending.length === 0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.deepEqual(texts, ['once']);
  const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
  t.is(page.body.messages.length, 1);
});

test('kill -9 mid-conversation: both clients reconnect; what was typed offline is sent once and nothing is lost or doubled', async (t) => {
  const storageDir = tempDir();
  const [httpPort, wsPort] = [await freePort(), await freePort()];
  const env = { PORT: String(httpPort), WS_PORT: String(wsPort) };
  let server = await spawnServer(storageDir, env);
  t.teardown(() => server.stop());
  const [ada, bob] = [clientOf(server), clientOf(server)];
  t.teardown(() => {
    ada.close();
    bob.close();
  });
  const [, b] = [await ada.register(person()), await bob.register(person())];
  const a = ada.session!;
  await Promise.all([live(ada), live(bob)]);
  const texts = inbox(bob);
  await ada.sendMessage({ recipientId: b.user.id, text: 'm1' });
  await ada.sendMessage({ recipientId: b.user.id, text: 'm2' });
  await until(() => texts.length === 2);

  const adaOffline = eventually(ada, 'state', (s) => s.state === 'offline');
  await server.kill9();
  await adaOffline;
  // Typed while the server is down: queued, not lost.
  const m3 = ada.sendMessage({ recipientId: b.user.id, text: 'm3' });
  const m4 = ada.sendMessage({ recipientId: b.user.id, text: 'm4' });
  t.is(ada.pending.length, 2);

  server = await spawnServer(storageDir, env);
  const [sent3, sent4] = await Promise.all([m3, m4]);
  t.not(sent3.id, sent4.id);
  await until(() => texts.length >= 4, 15_000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.deepEqual(texts, ['m1', 'm2', 'm3', 'm4']);
  const page = await request(server.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
  t.deepEqual(page.body.messages.map((m: { content: { text: string } }) => m.content.text).reverse(), ['m1', 'm2', 'm3', 'm4']);
});

test('an expired token closes the socket with 4401: the client reports it and does not hammer the server', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const ada = clientOf(app);
  t.teardown(() => ada.close());
  const session = await ada.register(person());
  await live(ada);
  ada.close();

  // The same user and token id, signed to expire in a second.
  const claims = jwt.decode(session.accessToken) as { sub: string; jti: string };
  const shortLived = jwt.sign({ sub: claims.sub, jti: claims.jti, exp: Math.floor(Date.now() / 1000) + 2 }, testEnv('').JWT_SECRET_KEY!, {
    algorithm: 'HS256',
  });
  const store = memoryStore();
  await store.set(
    'session',
    JSON.stringify({ ...session, accessToken: shortLived, expiresAt: new Date(Date.now() + 2_000).toISOString() }),
  );
  const resumed = clientOf(app, store);
  t.teardown(() => resumed.close());
  const states: string[] = [];
  resumed.on('state', ({ state }) => states.push(state));
  const refused = eventually(resumed, 'unauthorized', () => true, 8_000);
  await resumed.resume();
  t.is((await refused).reason, 'token_expired');
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(resumed.live.current, 'unauthorized');
  t.false(states.includes('offline'), 'no reconnect with a token that cannot work');
});

test('Leta over the socket: deltas stream to the asker, the stored reply resolves the call', async (t) => {
  const gemini = await fakeGemini(['Hello', ', Ada', '!']);
  t.teardown(() => gemini.close());
  const app = await startTestApp({ env: { GEMINI_API_BASE_URL: gemini.url } });
  t.teardown(() => app.dispose());
  const ada = clientOf(app);
  t.teardown(() => ada.close());
  const session = await ada.register(person());
  await ada.api.request('put', '/api/users/{userId}/api-key', {
    params: { userId: session.user.id },
    body: { apiKey: gemini.apiKey, provider: 'gemini' },
  });
  await live(ada);
  const seen: string[] = [];
  const reply = await ada.askLeta({ message: 'Hi Leta' }, (text) => seen.push(text));
  t.is(reply.text, 'Hello, Ada!');
  t.deepEqual(seen, ['Hello', 'Hello, Ada', 'Hello, Ada!']);
});

test('reconnect waits are random below a doubling ceiling, capped', (t) => {
  const options = { baseMs: 100, maxMs: 1_000 };
  t.is(
    reconnectDelay(0, options, () => 1),
    100,
  );
  t.is(
    reconnectDelay(3, options, () => 1),
    800,
  );
  t.is(
    reconnectDelay(10, options, () => 1),
    1_000,
  );
  t.is(
    reconnectDelay(10, options, () => 0),
    0,
  );
  t.is(
    reconnectDelay(2, options, () => 0.5),
    200,
  );
});

/** Compile-time checks: tsc fails if the client accepts what the server's schemas refuse. */
export function typeChecks(client: LetsAppClient, frame: ServerFrame<'message.created'>): void {
  // @ts-expect-error a text must be a string
  void client.sendMessage({ recipientId: 'x', text: 42 });
  // @ts-expect-error no such route
  void client.api.request('get', '/api/nowhere');
  // @ts-expect-error a path parameter is required
  void client.api.request('get', '/api/users/{id}');
  // @ts-expect-error the method does not exist for this path
  void client.api.request('patch', '/api/messages');
  // @ts-expect-error frames carry their documented fields only
  void frame.message.body;
}

test("switching account while the first session's position is still loading connects as the new user only", async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const [ada, bob, cleo] = [person(), person(), person()];
  for (const who of [ada, bob, cleo]) await request(app.url, 'POST', '/auth/register', { body: who });
  const values = new Map<string, string>();
  const gates = new Map<string, () => void>();
  // A slow store (IndexedDB, a file): each read of a saved position waits until the test lets it go.
  const slow: ClientStore = {
    get: async (key) => {
      if (key.endsWith(':position')) await new Promise<void>((resolve) => gates.set(key, resolve));
      return values.get(key) ?? null;
    },
    set: async (key, value) => {
      values.set(key, value);
    },
    delete: async (key) => {
      values.delete(key);
    },
  };
  const client = clientOf(app, slow);
  t.teardown(() => client.close());
  const first = await client.login(ada.email, ada.password);
  const second = await client.login(bob.email, bob.password);
  await until(() => gates.size === 2);
  gates.get(`${second.user.id}:position`)!();
  await new Promise((resolve) => setImmediate(resolve));
  gates.get(`${first.user.id}:position`)!();
  await live(client);
  const cleoId = (await request(app.url, 'POST', '/auth/login', { body: { email: cleo.email, password: cleo.password } })).body.user.id;
  const sent = await client.sendMessage({ recipientId: cleoId, text: 'typed by Bob' });
  t.is(sent.senderId, second.user.id, "sent as the session's user, not the previous one");
});

test('two tabs sharing one store each queue a message while offline: both are kept and both are sent once back online', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const shared = memoryStore();
  const offline = { wsUrl: 'ws://127.0.0.1:9/ws', backoff: { baseMs: 5_000, maxMs: 5_000 } };
  const tab1 = clientOf(app, shared, offline);
  const tab2 = clientOf(app, shared, offline);
  const bob = person();
  const bobSession = (await request(app.url, 'POST', '/auth/register', { body: bob })).body;
  const ada = await tab1.register(person());
  await tab2.resume();
  void tab1.sendMessage({ recipientId: bobSession.user.id, text: 'from tab 1' }).catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 30));
  void tab2.sendMessage({ recipientId: bobSession.user.id, text: 'from tab 2' }).catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 30));
  tab1.close();
  tab2.close();
  const reopened = clientOf(app, shared);
  t.teardown(() => reopened.close());
  await reopened.resume();
  t.is(reopened.pending.length, 2);
  await until(() => reopened.pending.length === 0);
  const page = await request(app.url, 'GET', `/api/messages?with=${ada.user.id}`, { token: bobSession.accessToken });
  t.deepEqual(page.body.messages.map((m: { content: { text: string } }) => m.content.text).sort(), ['from tab 1', 'from tab 2']);
});

test('a send answered `unavailable` (the projection lagging past the wait) stays queued and is sent again, once', async (t) => {
  const app = await startTestApp({ projection: { waitTimeoutMs: 500 } });
  t.teardown(() => app.dispose());
  const ada = clientOf(app);
  t.teardown(() => ada.close());
  const bob = (await request(app.url, 'POST', '/auth/register', { body: person() })).body;
  const adaSession = await ada.register(person());
  await live(ada);
  // A read waits for the log's head: once it answers, both registrations are projected, before the lock is taken.
  t.is((await request(app.url, 'GET', `/api/messages?with=${adaSession.user.id}`, { token: bob.accessToken })).status, 200);
  const failed: string[] = [];
  ada.on('send.failed', ({ error }) => failed.push(error.code));
  // The projections are held back (the read store locked): a send is still acked once durable, but a reply waits
  // for the projections before it checks what it replies to, past the wait: 503 unavailable.
  const holder = holdWriteLock(app.storageDir);
  const first = await ada.sendMessage({ recipientId: bob.user.id, text: 'first' });
  const reply = ada.sendMessage({ recipientId: bob.user.id, text: 'a reply', replyTo: first.id });
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  t.is(ada.pending.length, 1, 'still queued after the 503');
  holder.release();
  const sent = await reply;
  t.is(sent.replyTo, first.id);
  t.deepEqual(failed, []);
});
