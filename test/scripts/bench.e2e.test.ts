import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

async function bench(args: string[], env: Record<string, string> = {}) {
  const { BENCH_DATABASE_URL: _unset, ...inherited } = process.env;
  return promisify(execFile)(process.execPath, ['--import=tsx', 'scripts/bench.ts', ...args], {
    env: { ...inherited, ...env },
    timeout: 30_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

test('the bench refuses a backend it does not have with its usage and exit code 2, before starting a server', async (t) => {
  const answer = await bench(['--backend', 'mongo', '--seconds', '1']);
  t.is(answer.code, 2, answer.stderr);
  t.regex(answer.stderr, /--backend takes embedded or postgres, not 'mongo'/);
  t.regex(answer.stderr, /Usage: npm run bench -- /);
  t.regex(answer.stderr, /--backend embedded\|postgres/);
  t.notRegex(answer.stderr, /registering|opening/, 'no phase started');
  t.is(answer.stdout, '');
});

test('--backend postgres needs a database URL (--database-url or BENCH_DATABASE_URL) and a positive --instances', async (t) => {
  const noUrl = await bench(['--backend', 'postgres', '--instances', '2']);
  t.is(noUrl.code, 2, noUrl.stderr);
  t.regex(noUrl.stderr, /--backend postgres needs --database-url or BENCH_DATABASE_URL/);

  const badInstances = await bench(['--backend', 'postgres', '--instances', '0'], {
    BENCH_DATABASE_URL: 'postgres://bench@127.0.0.1:1/none',
  });
  t.is(badInstances.code, 2, badInstances.stderr);
  t.regex(badInstances.stderr, /--instances takes a whole number from 1 to 8, not '0'/);

  const badUrl = await bench(['--backend', 'postgres', '--database-url', 'mysql://x']);
  t.is(badUrl.code, 2, badUrl.stderr);
  t.regex(badUrl.stderr, /--database-url must be a postgres:\/\/ URL/);

  const embeddedInstances = await bench(['--instances', '2']);
  t.is(embeddedInstances.code, 2, embeddedInstances.stderr);
  t.regex(embeddedInstances.stderr, /--instances is for --backend postgres \(the embedded default is one server\)/);
});

test('--with without --compare is refused with the usage and exit code 2', async (t) => {
  const answer = await bench(['--with', 'x.json']);
  t.is(answer.code, 2, answer.stderr);
  t.regex(answer.stderr, /--with names the later run of a --compare/);
});

test('--idle-sockets beyond what the open-file limit allows is refused before any server starts, naming the limit and how to raise it', async (t) => {
  const answer = await bench(['--idle-sockets', '100000000']);
  t.is(answer.code, 2, answer.stderr);
  t.regex(
    answer.stderr,
    /--idle-sockets 100000000 needs more open files than this shell allows \(ulimit -n is \d+\): raise it \(ulimit -n/,
  );
  t.notRegex(answer.stderr, /registering/, 'no server started');
});
