import { readdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { NotFoundError } from '../../../commands/shared/errors.ts';
import { reply, route } from '../routeTable.ts';

export interface DemoRouteDeps {
  /** The socket's port, known once it listens: the page connects to it on its own host name. */
  wsPort: () => number;
}

/** Under `npm run build` this module is part of dist/main.js and the client's modules sit compiled in dist/client/. */
const precompiled = !import.meta.url.endsWith('.ts');
const clientDir = fileURLToPath(new URL(precompiled ? './client/' : '../../../client/', import.meta.url));
/** The files a folder serves, by name (the parameter's schema lists them: nothing else can be asked for). */
const modulesIn = (folder: string) => {
  const names = readdirSync(`${clientDir}${folder}`).filter((name) => /^[A-Za-z0-9_-]{1,64}\.(ts|css)$/.test(name));
  return z.enum(names as [string, ...string[]]);
};
const TYPES = { ts: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' } as const;
/** Scripts and styles from this origin only; the socket is on another port; pictures and call media are blob: and mediastream:. */
const PAGE_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; img-src 'self' blob: data:; " +
  "media-src 'self' blob: mediastream:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** TypeScript as the browser's JavaScript: types stripped (esbuild, one file at a time, no bundling), kept while unchanged. */
const compiled = new Map<string, { mtimeMs: number; body: string }>();
async function serve(relative: string): Promise<{ body: string; type: string }> {
  const path = `${clientDir}${relative}`;
  const info = await stat(path).catch(() => {
    throw new NotFoundError('File');
  });
  const extension = relative.slice(relative.lastIndexOf('.') + 1) as keyof typeof TYPES;
  const cached = compiled.get(path);
  if (cached?.mtimeMs === info.mtimeMs) return { body: cached.body, type: TYPES[extension] };
  const source = await readFile(path, 'utf8');
  const body =
    extension === 'ts' && !precompiled
      ? // esbuild is loaded with the first module served, not by every server that has the demo switched on.
        (
          await (
            await import('esbuild')
          ).transform(source, { loader: 'ts', format: 'esm', target: 'es2022', sourcemap: 'inline', sourcefile: `/client/${relative}` })
        ).code
      : source;
  compiled.set(path, { mtimeMs: info.mtimeMs, body });
  return { body, type: TYPES[extension] };
}

/** The files of one folder of client/, each by name. */
const moduleRoute = <const P extends string>(path: P, folder: string, operationId: string, summary: string) =>
  route({
    method: 'get',
    path,
    operationId,
    tag: 'demo',
    auth: false,
    rateLimit: null,
    summary,
    params: z.strictObject({ module: modulesIn(folder) }),
    responses: { 200: { description: 'An ES module or a style sheet', contentType: Object.values(TYPES) } },
    errors: ['not_found'],
    handle: async ({ params, ctx }) => {
      const { body, type } = await serve(`${folder}${params.module}`);
      ctx.type = type;
      ctx.set('Cache-Control', 'no-cache');
      return reply(200, body);
    },
  });

/**
 * The web demo (client/demo/) and the client's modules (client/), served as ES modules with no build step, for
 * development (DEMO_ENABLED). Only the files found there at start-up, by name: no path reaches elsewhere.
 */
export function demoRoutes({ wsPort }: DemoRouteDeps) {
  return [
    route({
      method: 'get',
      path: '/demo',
      operationId: 'demoPage',
      tag: 'demo',
      auth: false,
      rateLimit: null,
      summary: 'The web demo: chat, receipts, presence, pictures, Leta and calls, on the typed client',
      responses: { 200: { description: 'An HTML page', contentType: 'text/html; charset=utf-8' } },
      errors: [],
      handle: async ({ ctx }) => {
        ctx.set('Content-Security-Policy', PAGE_POLICY);
        ctx.type = 'text/html; charset=utf-8';
        return reply(200, await readFile(`${clientDir}demo/index.html`, 'utf8'));
      },
    }),
    route({
      method: 'get',
      path: '/demo/config',
      operationId: 'demoConfig',
      tag: 'demo',
      auth: false,
      rateLimit: null,
      summary: 'Where the demo finds the socket',
      responses: {
        200: { description: "The socket's port and path", schema: z.strictObject({ wsPort: z.number().int(), wsPath: z.string() }) },
      },
      errors: [],
      handle: () => reply(200, { wsPort: wsPort(), wsPath: '/ws' }),
    }),
    route({
      method: 'get',
      path: '/demo/sw.js',
      operationId: 'demoServiceWorker',
      tag: 'demo',
      auth: false,
      rateLimit: null,
      summary: "The demo's service worker: shows Web Push notifications (scope /demo)",
      responses: { 200: { description: 'A script', contentType: TYPES.ts } },
      errors: [],
      handle: async ({ ctx }) => {
        const { body, type } = await serve('demo/serviceWorker.ts');
        ctx.type = type;
        ctx.set('Cache-Control', 'no-cache');
        // Served under /demo/ but controlling the page at /demo itself.
        ctx.set('Service-Worker-Allowed', '/demo');
        return reply(200, body);
      },
    }),
    moduleRoute('/client/{module}', '', 'clientModule', 'A module of the typed client, as JavaScript'),
    moduleRoute('/client/demo/{module}', 'demo/', 'demoModule', 'A module or the style sheet of the demo page'),
  ];
}
