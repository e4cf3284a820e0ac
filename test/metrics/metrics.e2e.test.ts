import { randomBytes } from 'node:crypto';
import test from 'ava';
import sharp from 'sharp';
import { liftedRateLimits } from '../../src/rateLimit/policies.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { fakeGemini, type FakeGemini } from '../helpers/fakeGemini.ts';
import { familiesOf, parseExposition, total } from '../helpers/metrics.ts';
import { connect } from '../helpers/socket.ts';

/**
 * GET /metrics: who may read it (a bearer of METRICS_TOKEN on PORT, anyone on the loopback METRICS_PORT), and what it
 * holds after a load of many users, routes, unknown paths and hostile frames: every family the README lists, each
 * moving, and no label with more than 200 values.
 */
const TOKEN = 'metrics-token-0123456789abcdefghijklmnopqrstuvwxyz';
const MAX_LABEL_VALUES = 200;

let app: TestApp;
let gemini: FakeGemini;
test.before(async () => {
  gemini = await fakeGemini(['Ahoy ', 'there.'], 5);
  app = await startTestApp({
    env: {
      METRICS_TOKEN: TOKEN,
      METRICS_PORT: '0',
      GEMINI_API_BASE_URL: gemini.url,
      // One search per user and hour: the load is refused by the `search` policy, counted by policy.
      RATE_LIMITS: `${liftedRateLimits()};search=1,1/h`,
    },
    // A WAL this small is drained after nearly every write.
    walLimitBytes: 4096,
  });
});
test.after.always(async () => {
  await app.dispose();
  await gemini.close();
});

const scrape = async () => {
  const response = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (response.status !== 200) throw new Error(`metrics: ${response.status}`);
  return response.text();
};

test.serial(
  'GET /metrics on PORT answers a bearer of METRICS_TOKEN in Prometheus text format, and refuses anyone else with 401',
  async (t) => {
    const anonymous = await request(app.url, 'GET', '/metrics');
    t.is(anonymous.status, 401);
    t.is(anonymous.body.error.code, 'unauthorized');
    t.false(JSON.stringify(anonymous.body).includes('letsapp_'), 'nothing of the metrics in the refusal');
    t.is((await request(app.url, 'GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN}x` } })).status, 401);
    t.is((await request(app.url, 'GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN.slice(1)}` } })).status, 401);
    const user = await registerUser(app.url);
    t.is((await request(app.url, 'GET', '/metrics', { token: user.accessToken })).status, 401, "a user's token is not the metrics token");

    const response = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    t.is(response.status, 200);
    t.regex(response.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    t.true(familiesOf(text).has('letsapp_http_requests_total'));
    t.true(familiesOf(text).has('process_resident_memory_bytes'));
  },
);

test.serial('METRICS_PORT serves /metrics on 127.0.0.1 without a token, and nothing else', async (t) => {
  t.not(app.metricsPort, null);
  const response = await fetch(`http://127.0.0.1:${app.metricsPort}/metrics`);
  t.is(response.status, 200);
  t.true(familiesOf(await response.text()).has('letsapp_sockets_open'));
  t.is((await fetch(`http://127.0.0.1:${app.metricsPort}/api/conversations`)).status, 404);
});

test.serial('without METRICS_TOKEN, /metrics is not served on PORT; METRICS_ENABLED=false serves it nowhere', async (t) => {
  const plain = await startTestApp();
  t.teardown(() => plain.dispose());
  t.is((await request(plain.url, 'GET', '/metrics')).status, 404);
  t.is(plain.metricsPort, null);

  const off = await startTestApp({ env: { METRICS_ENABLED: 'false', METRICS_TOKEN: TOKEN, METRICS_PORT: '0' } });
  t.teardown(() => off.dispose());
  t.is(off.metrics, null);
  t.is(off.metricsPort, null);
  t.is((await request(off.url, 'GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
});

/** Every family the README's metrics table lists, with whether the load below must move it. */
const FAMILIES: Record<string, 'moves' | 'exists'> = {
  letsapp_http_requests_total: 'moves',
  letsapp_http_request_duration_seconds: 'moves',
  letsapp_sockets_open: 'moves',
  letsapp_socket_frames_in_total: 'moves',
  letsapp_socket_frames_out_total: 'moves',
  letsapp_socket_frames_refused_total: 'moves',
  letsapp_socket_closes_total: 'moves',
  letsapp_event_appends_total: 'moves',
  letsapp_events_appended_total: 'moves',
  letsapp_event_commit_size_events: 'moves',
  letsapp_event_commit_duration_seconds: 'moves',
  letsapp_event_log_head_position: 'moves',
  letsapp_projection_position: 'moves',
  letsapp_projection_lag_events: 'exists',
  letsapp_projection_batch_duration_seconds: 'moves',
  letsapp_projection_commit_duration_seconds: 'moves',
  letsapp_projection_held: 'exists',
  letsapp_projectors_held: 'exists',
  letsapp_wal_bytes: 'exists',
  letsapp_wal_drains_total: 'moves',
  letsapp_wal_truncations_total: 'exists',
  letsapp_wal_checkpoint_failures: 'exists',
  letsapp_rate_limit_refusals_total: 'moves',
  letsapp_ai_requests_total: 'moves',
  letsapp_ai_tokens_total: 'moves',
  letsapp_ai_failures_total: 'moves',
  letsapp_uploads_total: 'moves',
  letsapp_uploaded_bytes_total: 'moves',
  letsapp_calls_total: 'moves',
  letsapp_presence_sessions: 'moves',
  letsapp_metrics_collect_errors: 'exists',
  nodejs_eventloop_lag_p99_seconds: 'exists',
  nodejs_gc_duration_seconds: 'exists',
  nodejs_heap_size_used_bytes: 'exists',
  process_resident_memory_bytes: 'exists',
};

const randomPath = () => randomBytes(6).toString('hex');
const randomFrameType = () =>
  `x${randomBytes(8)
    .toString('hex')
    .replace(/[0-9]/g, (digit) => 'abcdefghij'[Number(digit)]!)}`;

test.serial(
  'after a load of many users, routes, unknown paths and hostile frames, every family exists and moves and no label has over 200 values',
  async (t) => {
    const before = parseExposition(await scrape());
    const beforeTypes = familiesOf(await scrape());

    // Many users over many routes; every id they carry in a path is a new value a careless label would take.
    const users: Array<Awaited<ReturnType<typeof registerUser>>> = [];
    for (let index = 0; index < 40; index++) users.push(await registerUser(app.url));
    for (const [index, user] of users.entries()) {
      const peer = users[(index + 1) % users.length]!;
      const api = (method: string, path: string, body?: unknown) =>
        request(app.url, method, path, { token: user.accessToken, ...(body === undefined ? {} : { body }) });
      const sent = await api('POST', '/api/messages', { recipientId: peer.user.id, text: `load ${index}` });
      t.is(sent.status, 201);
      await api('GET', `/api/messages/${sent.body.message.id}/history`);
      await api('GET', '/api/conversations');
      await api('GET', `/api/users/${peer.user.id}`);
      await api('GET', '/api/users/search?q=user');
      await api('GET', '/api/users/search?q=user');
      await request(app.url, 'POST', '/auth/login', { body: { email: user.email, password: user.password } });
    }
    // Unknown routes with random paths, methods a route does not have, and malformed ids.
    for (let index = 0; index < 250; index++) {
      await request(app.url, 'GET', `/${randomPath()}/${randomPath()}`);
      await request(app.url, 'DELETE', `/api/${randomPath()}`, { token: users[0]!.accessToken });
      await request(app.url, 'GET', `/api/messages/${randomPath()}/history`, { token: users[1]!.accessToken });
    }

    // An upload, a prompt to Leta answered and one that fails, a call rejected.
    const [alice, bob] = [users[0]!, users[1]!];
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123456' } })
      .png()
      .toBuffer();
    const form = new FormData();
    form.append('file', new Blob([png], { type: 'image/png' }), 'dot.png');
    t.is(
      (
        await fetch(`${app.url}/api/media/upload`, {
          method: 'POST',
          headers: { authorization: `Bearer ${alice.accessToken}` },
          body: form,
        })
      ).status,
      201,
    );
    t.is(
      (
        await request(app.url, 'PUT', `/api/users/${alice.user.id}/api-key`, {
          token: alice.accessToken,
          body: { apiKey: gemini.apiKey, provider: 'gemini' },
        })
      ).status,
      200,
    );
    t.is((await request(app.url, 'POST', '/api/chat/ai/send', { token: alice.accessToken, body: { message: 'Hello Leta' } })).status, 201);
    await gemini.close();
    await request(app.url, 'POST', '/api/chat/ai/send', { token: alice.accessToken, body: { message: 'Are you there?' } });

    // Sockets: frames of every kind, hostile types, invalid JSON, and a refused token.
    const sockets = await Promise.all(users.slice(0, 8).map((user) => connect(app.wsUrl, user.accessToken)));
    for (const socket of sockets) await socket.next((frame) => frame.type === 'welcome');
    const bobSocket = sockets[1]!;
    const call = await request(app.url, 'POST', '/api/calls/initiate', {
      token: alice.accessToken,
      body: { calleeId: bob.user.id, media: 'audio' },
    });
    t.is(call.status, 201);
    t.is((await request(app.url, 'POST', `/api/calls/${call.body.call.id}/reject`, { token: bob.accessToken })).status, 200);
    for (const [index, socket] of sockets.entries()) {
      socket.send({ type: 'sync', id: `sync-${index}` });
      socket.send({ type: 'message.send', id: `send-${index}`, recipientId: users[index + 1]!.user.id, text: `over the socket ${index}` });
      socket.send('{not json');
      for (let hostile = 0; hostile < 40; hostile++) socket.send({ type: randomFrameType(), id: `h-${hostile}` });
      await socket.next((frame) => frame.type === 'message.send.ok');
    }
    await bobSocket.next((frame) => frame.type === 'error' && frame.id === 'h-39');
    const refused = await connect(app.wsUrl, 'not-a-token');
    t.is((await refused.closed).code, 4401);

    // A drain comes with the first write after the checkpoint worker saw the WAL past its limit (it looks every 100 ms):
    // on a busy machine the load can end before that, so one more message is sent at a time until a drain is counted.
    const drains = (text: string) =>
      total(parseExposition(text), 'letsapp_wal_drains_total', familiesOf(text).get('letsapp_wal_drains_total'));
    const drainsBefore = total(before, 'letsapp_wal_drains_total', beforeTypes.get('letsapp_wal_drains_total'));
    for (let attempt = 0; attempt < 50 && drains(await scrape()) === drainsBefore; attempt++) {
      await request(app.url, 'POST', '/api/messages', {
        token: alice.accessToken,
        body: { recipientId: bob.user.id, text: `write ${attempt}` },
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    const text = await scrape();
    const after = parseExposition(text);
    const types = familiesOf(text);
    for (const socket of sockets) socket.close();

    for (const [family, expectation] of Object.entries(FAMILIES)) {
      t.true(types.has(family), `${family} is exposed`);
      if (expectation === 'moves') {
        t.not(total(after, family, types.get(family)), total(before, family, beforeTypes.get(family)), `${family} moved under the load`);
      }
    }

    // No label takes a value per user, per path or per frame: each has at most 200 values.
    const values = new Map<string, Set<string>>();
    for (const sample of after) {
      const family = sample.name.replace(/_(bucket|sum|count)$/, '');
      for (const [label, value] of Object.entries(sample.labels)) {
        const key = `${family}{${label}}`;
        if (!values.has(key)) values.set(key, new Set());
        values.get(key)!.add(value);
      }
    }
    for (const [key, seen] of values) t.true(seen.size <= MAX_LABEL_VALUES, `${key} has ${seen.size} values`);
    const routes = new Set(after.filter((sample) => sample.name === 'letsapp_http_requests_total').map((sample) => sample.labels.route));
    t.true(routes.has('unmatched'), 'unknown paths count as one route');
    t.true(routes.has('/api/messages/:id/history'), 'routes are counted by their template');
    t.false(
      [...routes].some((route) => route!.includes(users[0]!.user.id)),
      'never a path as sent',
    );
    const frameTypes = new Set(
      after.filter((sample) => sample.name === 'letsapp_socket_frames_in_total').map((sample) => sample.labels.type),
    );
    t.true(frameTypes.has('other') && frameTypes.has('message.send'), 'hostile frame types count as `other`');
    t.true(
      after.some(
        (sample) =>
          sample.name === 'letsapp_rate_limit_refusals_total' && sample.labels.policy === 'search' && sample.value >= users.length,
      ),
    );
    t.true(after.some((sample) => sample.name === 'letsapp_socket_closes_total' && sample.labels.code === '4401'));
    t.true(after.some((sample) => sample.name === 'letsapp_calls_total' && sample.labels.outcome === 'rejected'));
    const fileBytes = after.find((sample) => sample.name === 'letsapp_uploaded_bytes_total');
    t.true(fileBytes !== undefined && fileBytes.value > 0);
  },
);
