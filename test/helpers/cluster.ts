import { rmSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import type { PostgresSettings } from '../../src/postgres/connection.ts';
import { request, tempDir } from './app.ts';
import { freshSchema, postgresRequired, postgresSkipReason, testDatabaseUrl } from './postgres.ts';
import { spawnServer, type ServerProcess } from './process.ts';

/**
 * A test of several servers on one PostgreSQL schema: run one after another (each server holds pools of connections,
 * and several clusters at once would exhaust the server's connection slots); skipped without TEST_DATABASE_URL,
 * failed instead when REQUIRE_POSTGRES=1.
 */
export function clusterTest(title: string, body: (t: ExecutionContext, settings: PostgresSettings) => Promise<void>): void {
  if (!testDatabaseUrl && !postgresRequired) {
    test.skip(`${title} — skipped: ${postgresSkipReason}`, () => undefined);
    return;
  }
  test.serial(title, async (t) => {
    if (!testDatabaseUrl) throw new Error(`REQUIRE_POSTGRES=1, but ${postgresSkipReason}`);
    await body(t, await freshSchema());
  });
}

/** Few connections per store and instance: three instances stay within a shared server's connection slots. */
const CLUSTER_ENV = { DATABASE_POOL_MAX: '2' };

export interface Instance extends ServerProcess {
  name: string;
  alive: boolean;
  /** Lines the server logged at level error or fatal. */
  errors: string[];
}

/** Starts `count` server processes on one schema together; `dispose` kills those alive and removes their dirs. */
async function launch(
  settings: PostgresSettings,
  count: number,
  env: Record<string, string>,
  databaseUrl: string,
  onDispose: (dispose: () => Promise<void>) => void,
): Promise<Instance[]> {
  const dirs = Array.from({ length: count }, () => tempDir('letsapp-cluster-'));
  const started = await Promise.allSettled(
    dirs.map((dir) => spawnServer(dir, { ...CLUSTER_ENV, DATABASE_URL: databaseUrl, DATABASE_SCHEMA: settings.schema!, ...env })),
  );
  const instances = started.flatMap((outcome, index) =>
    outcome.status === 'fulfilled'
      ? [Object.assign(outcome.value, { name: String.fromCharCode(65 + index), alive: true, errors: [] as string[] })]
      : [],
  );
  for (const instance of instances) {
    let stderr = '';
    instance.child.stdout!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (/"level":(50|60)/.test(line)) instance.errors.push(line.slice(0, 600));
    });
    instance.child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-1_500);
    });
    // An instance that dies on its own (not killed by its test) is named first when the test fails.
    instance.child.once('exit', (code, signal) => {
      if (instance.alive) instance.errors.unshift(`exited by itself (code ${code}, signal ${signal}): ${stderr}`);
    });
  }
  onDispose(async () => {
    await Promise.all(instances.filter((instance) => instance.alive).map(kill9));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const failed = started.find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
  return instances;
}

/** Errors the servers logged, shown with a test that failed. */
function logErrorsOnFailure(t: ExecutionContext, instances: () => readonly Instance[]): void {
  t.teardown(() => {
    if (t.passed) return;
    for (const instance of instances()) for (const line of instance.errors.slice(0, 5)) t.log(`${instance.name}: ${line}`);
  });
}

/**
 * `count` real server processes on one PostgreSQL schema, each with a STORAGE_DIR of its own (media only), started
 * together; killed at the end of the test.
 */
export async function startCluster(
  t: ExecutionContext,
  settings: PostgresSettings,
  count: number,
  env: Record<string, string> = {},
  databaseUrl = settings.url,
): Promise<Instance[]> {
  let instances: Instance[] = [];
  logErrorsOnFailure(t, () => instances);
  instances = await launch(settings, count, env, databaseUrl, (dispose) => t.teardown(dispose));
  return instances;
}

let shared: Promise<Instance[]> | null = null;
const disposeShared: Array<() => Promise<void>> = [];
/** Stops the shared cluster (the last test that uses it calls this, so the next tests have the connection slots). */
export async function stopSharedCluster(): Promise<void> {
  for (const dispose of disposeShared.splice(0)) await dispose();
}
test.after.always('stop the shared cluster', stopSharedCluster);

/**
 * Three instances shared by the tests of a file that leave them as they are (no kill, no outage): started once, on the
 * first caller's schema, stopped when the file's tests end. Saves a start-up per test.
 */
export async function sharedCluster(t: ExecutionContext, settings: PostgresSettings): Promise<Instance[]> {
  shared ??= launch(settings, 3, {}, settings.url, (dispose) => disposeShared.push(dispose));
  const instances = await shared;
  logErrorsOnFailure(t, () => instances);
  return instances;
}

export async function kill9(instance: Instance): Promise<void> {
  instance.alive = false;
  await instance.kill9();
}

export interface Ping {
  instanceId: string;
  projections: { leader: boolean; projectingInstance: string | null; lag: number };
}

export const ping = async (instance: Instance): Promise<Ping> => (await request(instance.url, 'GET', '/ping')).body as Ping;

/** Polls until `check` holds (or fails the wait after `timeoutMs`); returns how long it took. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A TCP proxy on loopback in front of PostgreSQL: `cut()` drops every connection and refuses new ones (as a server
 * that went away), `restore()` lets them through again. Safer than stopping the PostgreSQL server the machine shares.
 */
export async function tcpProxy(
  t: ExecutionContext,
  target: { host: string; port: number },
): Promise<{ port: number; cut(): void; restore(): void }> {
  let open = true;
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((inbound) => {
    if (!open) {
      inbound.destroy();
      return;
    }
    const outbound = tcpConnect(target.port, target.host);
    const pair: [Socket, Socket] = [inbound, outbound];
    pairs.add(pair);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
      pairs.delete(pair);
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const [a, b] of pairs) {
          a.destroy();
          b.destroy();
        }
        server.close(() => resolve());
      }),
  );
  return {
    port: (server.address() as { port: number }).port,
    /** Resets every connection (RST, as a dropped network shows it to both ends) and refuses new ones. */
    cut() {
      open = false;
      for (const [a, b] of pairs) {
        a.resetAndDestroy();
        b.resetAndDestroy();
      }
      pairs.clear();
    },
    restore() {
      open = true;
    },
  };
}
