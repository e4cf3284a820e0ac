/**
 * The compiled server: one ES module bundle of src/main.ts (packages stay in node_modules: native modules,
 * swagger-ui-dist's files), the two worker threads beside it (they are found next to the bundle, as next to their
 * sources), and the client's modules and the demo compiled to <outdir>/client/ for DEMO_ENABLED. `npm run build`
 * writes it to dist/; the tests that start server processes run the same build from a folder of their own.
 */
import { build, transform } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('../..', import.meta.url).pathname;

/** esbuild's options for a Node ES module bundle whose packages stay in node_modules (the server, its workers, scripts). */
export const NODE_BUNDLE = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
} as const;

/**
 * The projection worker alone, as `<outdir>/projectionWorker.mjs`, with the checkpoint worker it starts beside it (the
 * test servers run it instead of compiling its sources through tsx at each start).
 */
export async function buildProjectionWorker(outdir: string): Promise<URL> {
  await build({
    ...NODE_BUNDLE,
    entryPoints: { projectionWorker: join(root, 'src/projection/projectionWorkerMain.ts') },
    outdir,
    outExtension: { '.js': '.mjs' },
  });
  copyFileSync(join(root, 'src/sqlite/checkpointWorker.mjs'), join(outdir, 'checkpointWorker.mjs'));
  return pathToFileURL(join(outdir, 'projectionWorker.mjs'));
}

/** Builds into `outdir` (which must be inside the repository, so the bundle's imports of packages resolve). */
export async function buildServer(outdir: string): Promise<void> {
  // Split: the modules of engines loaded with import() (MongoDB, EventStoreDB, PostgreSQL) go to chunks of their own,
  // with their packages' imports, so a start on the embedded default does not load those drivers.
  await build({
    ...NODE_BUNDLE,
    entryPoints: { main: join(root, 'src/main.ts') },
    outdir,
    outExtension: { '.js': '.js' },
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
  });
  // `new URL('./projectionWorker.mjs', import.meta.url)` in the bundle resolves here: the worker compiled, not its tsx loader.
  await buildProjectionWorker(outdir);

  // The client's modules keep their names (the demo's pages import `./client.ts`); their content is JavaScript.
  for (const folder of ['', 'demo/']) {
    mkdirSync(join(outdir, 'client', folder), { recursive: true });
    for (const name of readdirSync(join(root, 'client', folder))) {
      const source = join(root, 'client', folder, name);
      if (name.endsWith('.ts')) {
        const { code } = await transform(readFileSync(source, 'utf8'), {
          loader: 'ts',
          format: 'esm',
          target: 'es2022',
          sourcefile: `/client/${folder}${name}`,
        });
        writeFileSync(join(outdir, 'client', folder, name), code);
      } else if (/\.(css|html)$/.test(name)) {
        copyFileSync(source, join(outdir, 'client', folder, name));
      }
    }
  }
}
