import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  wsUrl: string;
  /** SIGKILL: no shutdown hook runs, as in a crash. */
  kill9(): Promise<void>;
  /** SIGTERM: a graceful shutdown. */
  stop(): Promise<void>;
}

/**
 * Runs the real entry point (`src/main.ts` through tsx, or `entry`: the build's `dist/main.js`) in a child process and
 * resolves once it listens.
 */
export function spawnServer(
  env: Record<string, string>,
  nodeArgs: readonly string[] = [],
  entry: readonly string[] = ['--import=tsx', 'src/main.ts'],
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, ...entry], {
    env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    // A server that never listened is killed, not left running (and loading the machine) after its test failed.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('server did not start within 60 s'));
    }, 60_000);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: { msg?: string; httpPort?: number; wsPort?: number };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      if (entry.msg !== 'LetsApp is listening') return;
      clearTimeout(timer);
      resolve({
        child,
        url: `http://127.0.0.1:${entry.httpPort}`,
        wsUrl: `ws://127.0.0.1:${entry.wsPort}/ws`,
        async kill9() {
          child.kill('SIGKILL');
          await exited;
        },
        async stop() {
          child.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}
