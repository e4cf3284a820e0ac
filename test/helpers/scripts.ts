import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { NODE_BUNDLE } from '../../scripts/lib/build.ts';
import { testBuild } from './process.ts';

const compiled = new Map<string, Promise<string>>();

/**
 * `scripts/<script>` compiled once per test file, as `npm run build` compiles the server, into the same folder (the
 * projection and checkpoint workers it may start sit beside it).
 */
function compiledScript(script: string): Promise<string> {
  let file = compiled.get(script);
  if (!file) {
    file = (async () => {
      const dir = await testBuild();
      const name = script.replace(/\.ts$/, '');
      await build({
        ...NODE_BUNDLE,
        entryPoints: { [`script-${name}`]: join(import.meta.dirname, '../../scripts', `${name}.ts`) },
        outdir: dir,
        outExtension: { '.js': '.mjs' },
      });
      return join(dir, `script-${name}.mjs`);
    })();
    compiled.set(script, file);
  }
  return file;
}

/**
 * Runs the operator script `scripts/<script>` with `args` in a child process, as `execFile` does (rejecting with the
 * exit code, stdout and stderr when it exits non-zero): the same code `npm run <script>` runs through tsx, compiled once
 * per test file instead of at every run, which saves the child a few seconds of CPU.
 */
export async function execScript(
  script: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeout?: number; maxBuffer?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, ['--enable-source-maps', await compiledScript(script), ...args], {
    ...options,
    encoding: 'utf8',
  });
}
