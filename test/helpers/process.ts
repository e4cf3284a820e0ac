import { spawnServer as spawn, type ServerProcess } from '../../scripts/lib/spawnServer.ts';
import { testEnv } from './app.ts';

export type { ServerProcess };

/** The real entry point in a child process on ephemeral ports, with the test environment. */
export const spawnServer = (storageDir: string, env: Record<string, string> = {}, entry?: readonly string[]): Promise<ServerProcess> =>
  spawn({ ...testEnv(storageDir), ...env }, [], entry);
