import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp, type AppOptions, type RunningApp } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { liftedRateLimits } from '../../src/rateLimit/policies.ts';
import { buildProjectionWorker } from '../../scripts/lib/build.ts';

export const tempDir = (prefix = 'letsapp-test-') => mkdtempSync(join(tmpdir(), prefix));

/**
 * Holds the write lock of a store in the storage dir from a connection of its own, as another process (an operator's
 * script) would: with the read store's, the projections cannot write until `release()`.
 */
export function holdWriteLock(storageDir: string, file: 'read.sqlite' | 'events.sqlite' = 'read.sqlite'): { release(): void } {
  const db = new Database(join(storageDir, file));
  db.pragma('busy_timeout = 2000');
  db.exec('BEGIN IMMEDIATE');
  return {
    release() {
      db.exec('COMMIT');
      db.close();
    },
  };
}

/** The environment of every test server: ephemeral loopback ports, fixed secrets, fast bcrypt, no rate limit. */
export const testEnv = (storageDir: string): Record<string, string> => ({
  STORAGE_DIR: storageDir,
  PORT: '0',
  WS_PORT: '0',
  HOST: '127.0.0.1',
  BCRYPT_COST: '4',
  RATE_LIMITS: liftedRateLimits(),
  JWT_SECRET_KEY: 'test-secret-key-that-is-long-enough-0123456789',
  ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
});

export function testConfig(storageDir: string, overrides: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', ...testEnv(storageDir), ...overrides }, () => undefined);
}

export interface TestApp extends RunningApp {
  storageDir: string;
  url: string;
  wsUrl: string;
  /** Stops the servers, keeping the storage dir. */
  stop(): Promise<void>;
  /** Stops and deletes the storage dir. */
  dispose(): Promise<void>;
}

let compiledWorker: Promise<URL> | null = null;

/**
 * The projection worker compiled once per test process, as `npm run build` compiles it. A worker started from its
 * TypeScript sources registers tsx and compiles them again: about 0.8 s of CPU at every server start.
 */
export function compiledProjectionWorker(): Promise<URL> {
  compiledWorker ??= buildProjectionWorker(buildDirOfThisProcess('letsapp-test-worker'));
  return compiledWorker;
}

/**
 * A fresh folder for this test process's compiled code, under node_modules/.cache/`name` (inside the repository, so
 * the bundles' packages resolve from node_modules), removed when the process exits.
 */
export function buildDirOfThisProcess(name: string): string {
  const dir = join(import.meta.dirname, '../../node_modules/.cache', name, `${process.pid}-${randomBytes(4).toString('hex')}`);
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A whole server on ephemeral ports and a temp storage dir, its projection worker compiled (see above). */
export async function startTestApp(options: { storageDir?: string; env?: Record<string, string> } & AppOptions = {}): Promise<TestApp> {
  const storageDir = options.storageDir ?? tempDir();
  const app = await startApp(testConfig(storageDir, options.env), { projectionWorkerEntry: compiledProjectionWorker, ...options });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await app.close();
  };
  return {
    ...app,
    storageDir,
    url: `http://127.0.0.1:${app.httpPort}`,
    wsUrl: `ws://127.0.0.1:${app.wsPort}/ws`,
    stop,
    async dispose() {
      await stop();
      rmSync(storageDir, { recursive: true, force: true });
    },
  };
}

export interface JsonResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** A small JSON client for tests. */
export async function request<T = any>(
  baseUrl: string,
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; token?: string; headers?: Record<string, string> } = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined || options.raw !== undefined) headers['content-type'] ??= 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${method} ${path}: fetch failed (${cause?.code ?? cause?.message ?? String(error)})`, { cause: error });
  }
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
}

let counter = 0;

/** Registers a fresh user and returns its session. */
export async function registerUser(baseUrl: string, name = `user${++counter}_${process.pid}`) {
  const response = await request(baseUrl, 'POST', '/auth/register', {
    body: { email: `${name}@example.test`, username: name, password: 'correct horse battery' },
  });
  if (response.status !== 201) throw new Error(`register failed: ${response.status} ${JSON.stringify(response.body)}`);
  return { ...response.body, password: 'correct horse battery', email: `${name}@example.test` } as {
    user: { id: string; email: string; username: string };
    accessToken: string;
    password: string;
    email: string;
  };
}
