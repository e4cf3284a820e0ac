/**
 * `npm run build`: the server as plain JavaScript in dist/, run with `node dist/main.js` (`npm run start:prod`), no
 * TypeScript loader at run time. One ES module bundle of src/main.ts (packages stay in node_modules: native modules,
 * swagger-ui-dist's files), the two worker threads beside it (they are found next to the bundle, as next to their
 * sources), and the client's modules and the demo compiled to dist/client/ for DEMO_ENABLED.
 */
import { build, transform } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseScriptArgs } from './lib/args.ts';

parseScriptArgs('Usage: npm run build  (compiles the server and the client to dist/; takes no options)', {});

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
const started = performance.now();

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
} as const;
await build({ ...common, entryPoints: { main: join(root, 'src/main.ts') }, outdir: dist, outExtension: { '.js': '.js' } });
// `new URL('./projectionWorker.mjs', import.meta.url)` in the bundle resolves here: the worker compiled, not its tsx loader.
await build({
  ...common,
  entryPoints: { projectionWorker: join(root, 'src/projection/projectionWorkerMain.ts') },
  outdir: dist,
  outExtension: { '.js': '.mjs' },
});
copyFileSync(join(root, 'src/sqlite/checkpointWorker.mjs'), join(dist, 'checkpointWorker.mjs'));

// The client's modules keep their names (the demo's pages import `./client.ts`); their content is JavaScript.
for (const folder of ['', 'demo/']) {
  mkdirSync(join(dist, 'client', folder), { recursive: true });
  for (const name of readdirSync(join(root, 'client', folder))) {
    const source = join(root, 'client', folder, name);
    if (name.endsWith('.ts')) {
      const { code } = await transform(readFileSync(source, 'utf8'), {
        loader: 'ts',
        format: 'esm',
        target: 'es2022',
        sourcefile: `/client/${folder}${name}`,
      });
      writeFileSync(join(dist, 'client', folder, name), code);
    } else if (/\.(css|html)$/.test(name)) {
      copyFileSync(source, join(dist, 'client', folder, name));
    }
  }
}
console.log(`built dist/ in ${Math.round(performance.now() - started)} ms`);
