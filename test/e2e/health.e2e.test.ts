import test from 'ava';
import Database from 'better-sqlite3';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { userStream } from '../../commands/users.ts';
import { USERS } from '../../projections/users.ts';
import { tableOf } from '../../src/readstore/sqliteSchema.ts';
import { registerUser, request, startTestApp } from '../helpers/app.ts';
import { postgresTest } from '../helpers/postgres.ts';

/** Polls `check` until it holds (or fails the test after `timeoutMs`). */
async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('a fresh server is live and ready; both answers are documented in /openapi.json and /ping stays', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const live = await request(app.url, 'GET', '/health/live');
  t.is(live.status, 200);
  t.deepEqual(live.body, { live: true });
  const ready = await request(app.url, 'GET', '/health/ready');
  t.is(ready.status, 200);
  t.deepEqual(ready.body, { ready: true });
  t.is((await request(app.url, 'GET', '/ping')).status, 200);
  const doc = (await request(app.url, 'GET', '/openapi.json')).body;
  t.truthy(doc.paths['/health/live'].get);
  t.truthy(doc.paths['/health/ready'].get.responses['503'], 'the not-ready answer is documented');
});

test('a held projector whose oldest unapplied event is older than READY_MAX_LAG_MS makes the server not ready until it applies it', async (t) => {
  const app = await startTestApp({ env: { READY_MAX_LAG_MS: '200' }, projection: { retryBaseMs: 50, maxRetryMs: 100 } });
  t.teardown(() => app.dispose());
  const user = await registerUser(app.url);
  const readDb = new Database(join(app.storageDir, 'read.sqlite'));
  t.teardown(() => readDb.close());
  readDb.exec(`CREATE TRIGGER hold_users BEFORE UPDATE ON ${tableOf(USERS)} WHEN OLD.id = '${user.user.id}'
    BEGIN SELECT RAISE(ABORT, 'users projector held by the test'); END`);
  t.is((await request(app.url, 'POST', '/auth/logout', { token: user.accessToken })).status, 204);
  const events = await app.eventStore.readStream(userStream(user.user.id));
  t.is(events.at(-1)?.type, 'UserLoggedOut', 'the logout is in the log');
  const head = events.at(-1)!.position;

  let answer = await request(app.url, 'GET', '/health/ready');
  await eventually(async () => (answer = await request(app.url, 'GET', '/health/ready')).status === 503);
  t.is(answer.body.error.code, 'unavailable');
  const behind = answer.body.error.details.reasons.find((reason: { projector?: string }) => reason.projector === USERS);
  t.like(behind, { code: 'projection_behind', projector: USERS, position: head - 1, head, held: true });
  t.true(behind.lagMs > 200);
  t.is((await request(app.url, 'GET', '/health/live')).status, 200, 'still live: a restart would not help');

  readDb.exec('DROP TRIGGER hold_users');
  await eventually(async () => (await request(app.url, 'GET', '/health/ready')).status === 200);
  t.pass();
});

test('a server shutting down answers 503 shutting_down while it is still live', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  app.readiness.beginShutdown();
  const answer = await request(app.url, 'GET', '/health/ready');
  t.is(answer.status, 503);
  t.deepEqual(answer.body.error.details.reasons, [{ code: 'shutting_down' }]);
  t.is((await request(app.url, 'GET', '/health/live')).status, 200);
});

test('a closed read-store handle and a closed event-log handle are each reported unreachable', async (t) => {
  const app = await startTestApp({ projectionInWorker: false });
  t.teardown(() => app.dispose().catch(() => undefined));
  await app.readStore.close();
  let answer = await request(app.url, 'GET', '/health/ready');
  t.is(answer.status, 503);
  t.deepEqual(
    answer.body.error.details.reasons.map((reason: { code: string }) => reason.code),
    ['read_store_unreachable'],
  );
  await app.eventStore.close();
  answer = await request(app.url, 'GET', '/health/ready');
  t.deepEqual(
    answer.body.error.details.reasons.map((reason: { code: string }) => reason.code),
    ['event_store_unreachable', 'read_store_unreachable'],
  );
});

/** A TCP relay to PostgreSQL that the test can cut: connections stall (no reset), as behind a dead network. */
async function cuttableProxy(target: { host: string; port: number }) {
  let cut = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (cut) return void sockets.add(client);
    const upstream = tcpConnect(target.port, target.host);
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => {
      if (!cut) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!cut) client.write(chunk);
    });
    for (const socket of [client, upstream])
      socket
        .on('error', () => undefined)
        .on('close', () => {
          client.destroy();
          upstream.destroy();
        });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    cut() {
      cut = true;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

postgresTest(
  'with PostgreSQL behind a cut network, /health/ready answers 503 naming both stores within its timeout',
  async (t, settings) => {
    const url = new URL(settings.url);
    const proxy = await cuttableProxy({ host: url.hostname, port: Number(url.port || 5432) });
    t.teardown(() => proxy.close());
    url.host = `127.0.0.1:${proxy.port}`;
    const app = await startTestApp({
      env: { DATABASE_URL: url.toString(), DATABASE_SCHEMA: settings.schema ?? 'public', DATABASE_POOL_MAX: '4' },
    });
    t.teardown(() => {
      proxy.close();
      return Promise.race([app.dispose(), new Promise((resolve) => setTimeout(resolve, 3_000))]);
    });
    t.is((await request(app.url, 'GET', '/health/ready')).status, 200);
    proxy.cut();
    const answer = await request(app.url, 'GET', '/health/ready');
    t.is(answer.status, 503);
    const codes = answer.body.error.details.reasons.map((reason: { code: string }) => reason.code);
    t.true(codes.includes('event_store_unreachable') && codes.includes('read_store_unreachable'), JSON.stringify(codes));
  },
  { serial: true },
);
