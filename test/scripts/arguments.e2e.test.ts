import test from 'ava';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, testEnv } from '../helpers/app.ts';
import { execScript } from '../helpers/scripts.ts';

const SCRIPTS = readdirSync('scripts')
  .filter((name) => name.endsWith('.ts'))
  .sort();

async function run(script: string, args: string[], storageDir: string) {
  return execScript(script, args, {
    env: { ...process.env, ...testEnv(storageDir), NODE_ENV: 'test' },
    // Kills a script that hangs; generous, as a loaded machine starts many of these side by side.
    timeout: 120_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

test('every operator script answers an unknown option with its usage and exit code 2, before touching anything', async (t) => {
  t.true(SCRIPTS.length >= 9, SCRIPTS.join());
  await Promise.all(
    SCRIPTS.map(async (script) => {
      const storageDir = tempDir();
      try {
        const answer = await run(script, ['--bogus'], storageDir);
        t.is(answer.code, 2, `${script}: ${answer.stderr}`);
        t.regex(answer.stderr, /Unknown option '--bogus'/, script);
        t.regex(answer.stderr, /Usage:\s+(npm run|npx tsx) /, script);
        t.notRegex(answer.stderr, /^\s+at .+:\d+:\d+\)?$/m, `${script} printed a stack trace`);
        t.is(answer.stdout, '', script);
        // Nothing opened: not even the storage dir's databases or secrets.
        t.deepEqual(readdirSync(storageDir), [], script);
      } finally {
        rmSync(storageDir, { recursive: true, force: true });
      }
    }),
  );
});

test('--help prints the usage on stdout and exits 0; a stray argument is refused like an unknown option', async (t) => {
  const storageDir = tempDir();
  t.teardown(() => rmSync(storageDir, { recursive: true, force: true }));
  for (const script of ['rotate-secrets.ts', 'prune-feed.ts', 'skip-event.ts']) {
    const help = await run(script, ['--help'], storageDir);
    t.is(help.code, 0, `${script}: ${help.stderr}`);
    t.regex(help.stdout, /^Usage: npm run /, script);
    const stray = await run(script, ['stray'], storageDir);
    t.is(stray.code, 2, `${script}: ${stray.stderr}`);
    t.regex(stray.stderr, /Unexpected argument 'stray'/, script);
  }
  t.false(existsSync(join(storageDir, 'secrets.sqlite')), 'rotate-secrets rotated nothing');
});
