/**
 * `npm run build`: the server as plain JavaScript in dist/, run with `node dist/main.js` (`npm run start:prod`), no
 * TypeScript loader at run time. One ES module bundle of src/main.ts (packages stay in node_modules: native modules,
 * swagger-ui-dist's files), the two worker threads beside it (they are found next to the bundle, as next to their
 * sources), and the client's modules and the demo compiled to dist/client/ for DEMO_ENABLED.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseScriptArgs } from './lib/args.ts';
import { buildServer } from './lib/build.ts';

parseScriptArgs('Usage: npm run build  (compiles the server and the client to dist/; takes no options)', {});

const dist = join(new URL('..', import.meta.url).pathname, 'dist');
rmSync(dist, { recursive: true, force: true });
const started = performance.now();
await buildServer(dist);
console.log(`built dist/ in ${Math.round(performance.now() - started)} ms`);
