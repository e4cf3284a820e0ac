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
