import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
// Start time (to the "LetsApp is listening" line) and RSS (every process of the tree, 2 s after) of a start command, 3 runs:
//   node scripts/measure-start.mjs "npm start" npm start;  node scripts/measure-start.mjs prod npm run start:prod
const [label, ...cmd] = process.argv.slice(2);
const rssOf = (pid) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  } catch {
    return 0;
  }
};
const childrenOf = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const tree = (pid) => [pid, ...childrenOf(pid).flatMap(tree)];
const results = [];
for (let run = 0; run < 3; run++) {
  const dir = mkdtempSync(join(tmpdir(), 'ops-measure-'));
  const started = performance.now();
  const child = spawn(cmd[0], cmd.slice(1), {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, STORAGE_DIR: dir, PORT: '0', WS_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', NODE_ENV: 'development' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise((resolve) =>
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('LetsApp is listening')) resolve();
    }),
  );
  const ms = performance.now() - started;
  await new Promise((r) => setTimeout(r, 2000));
  const rss = tree(child.pid).reduce((sum, pid) => sum + rssOf(pid), 0);
  results.push({ ms: Math.round(ms), rssMb: Math.round(rss / 1024) });
  process.kill(child.pid, 'SIGTERM');
  for (const pid of tree(child.pid))
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
  await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 5000))]);
  for (const pid of tree(child.pid))
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
}
console.log(label, JSON.stringify(results));
