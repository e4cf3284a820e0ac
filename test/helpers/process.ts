import { spawn as spawnProcess } from 'node:child_process';
import { join } from 'node:path';
import { buildServer } from '../../scripts/lib/build.ts';
import { spawnServer as spawn, type ServerProcess } from '../../scripts/lib/spawnServer.ts';
import { buildDirOfThisProcess, testEnv } from './app.ts';

export type { ServerProcess };

let built: Promise<string> | null = null;

/**
 * The folder of `npm run build`'s output, built once per test file into a folder of its own (inside the repository, so
 * the bundle's packages resolve from node_modules) and removed when the file's process exits. A server process started
 * from it spends a few seconds less of CPU than one compiling src/ through tsx, and runs as `npm run start:prod` does.
 */
export function testBuild(): Promise<string> {
  built ??= (async () => {
    const dir = buildDirOfThisProcess('letsapp-test-build');
    await buildServer(dir);
    return dir;
  })();
  return built;
}

/** The real entry point (compiled, or `entry`) in a child process on ephemeral ports, with the test environment. */
export const spawnServer = async (
  storageDir: string,
  env: Record<string, string> = {},
  entry?: readonly string[],
): Promise<ServerProcess> =>
  spawn({ ...testEnv(storageDir), ...env }, [], entry ?? ['--enable-source-maps', join(await testBuild(), 'main.js')]);

/**
 * Runs the real entry point through tsx, as `npm start` does, to its end: its exit code and what it wrote to stderr
 * (for starts that must fail with one line). Every secret is set, so nothing else is written to stderr.
 */
export function runToExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawnProcess(process.execPath, ['--import=tsx', 'src/main.ts'], {
    env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'info', AUDIT_ANCHOR_KEY: 'a'.repeat(32), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}
