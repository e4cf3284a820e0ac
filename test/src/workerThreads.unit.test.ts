import test from 'ava';
import { workerExecArgv } from '../../src/workerThreads.ts';

test('a worker starts without the parent’s tsx loaders, in any spelling, and keeps every other option', (t) => {
  t.deepEqual(
    workerExecArgv([
      '--require',
      '/app/node_modules/tsx/dist/preflight.cjs',
      '--import',
      'file:///app/node_modules/tsx/dist/loader.mjs',
      '--import=tsx',
      '-r',
      'tsx/cjs',
      '--cpu-prof',
      '--cpu-prof-dir=/tmp/profiles',
      '--max-old-space-size=512',
    ]),
    ['--cpu-prof', '--cpu-prof-dir=/tmp/profiles', '--max-old-space-size=512'],
  );
});

test('loaders other than tsx stay, whether their value is inline or the next argument', (t) => {
  const options = ['--import', './instrument.mjs', '--require=dotenv/config', '--loader', 'tsx-like-but-not/loader.mjs'];
  t.deepEqual(workerExecArgv(options), options);
});

test('the workers of this process get its options without the loader it runs under', (t) => {
  t.true(
    process.execArgv.some((option) => option.includes('tsx')),
    'the suite itself runs under tsx',
  );
  t.false(workerExecArgv().some((option) => option.includes('tsx')));
});
