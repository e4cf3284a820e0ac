import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { NotFoundError, UnavailableError } from '../../../commands/shared/errors.ts';
import type { Readiness } from '../../health.ts';
import { route, reply } from '../routeTable.ts';

export interface SystemRouteDeps {
  /** Liveness plus the projection, storage and event-loop status, for operators. */
  ping: () => Promise<Record<string, unknown>>;
  /** Stores reachable, projections within READY_MAX_LAG_MS, not shutting down (src/health.ts). */
  ready: () => Promise<Readiness>;
  /** Built from the whole route table, including these routes. */
  openApi: () => Record<string, unknown>;
  asyncApi: () => Record<string, unknown>;
  /** Whether `/demo` is served (`DEMO_ENABLED`): the front page links to it only then. */
  demoEnabled: boolean;
}

const DOCS_ASSETS = { 'swagger-ui.css': 'text/css; charset=utf-8', 'swagger-ui-bundle.js': 'text/javascript; charset=utf-8' } as const;
const swaggerUiDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** Swagger UI's static bundle (no build step) pointed at this server's document. */
const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LetsApp API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="docs"></div><script src="/docs/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({ url: '/openapi.json', dom_id: '#docs' });</script></body></html>`;

const document = z.looseObject({}).meta({ description: 'A JSON document' });

/** Where a browser pointed at the server's address goes next. */
const frontPage = (demoEnabled: boolean) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>LetsApp</title></head>
<body><h1>LetsApp</h1><p>A realtime chat backend: this port serves its REST API; sockets connect to <code>/ws</code> on <code>WS_PORT</code>.</p>
<ul>
${demoEnabled ? '<li><a href="/demo">/demo</a>: the web demo (two people: a second browser profile or a private window)</li>\n' : ''}\
<li><a href="/docs">/docs</a>: the REST API, in Swagger UI</li>
<li><a href="/openapi.json">/openapi.json</a>: the REST API as OpenAPI 3.1</li>
<li><a href="/asyncapi.json">/asyncapi.json</a>: the socket protocol as AsyncAPI 3.0</li>
<li><a href="/ping">/ping</a>: liveness, projections and storage</li>
<li><a href="/health/ready">/health/ready</a>: readiness for a load balancer (<a href="/health/live">/health/live</a>: liveness)</li>
</ul></body></html>`;

/** Liveness, the API descriptions and the human page for them. */
export function systemRoutes({ ping, ready, openApi, asyncApi, demoEnabled }: SystemRouteDeps) {
  const front = frontPage(demoEnabled);
  return [
    route({
      method: 'get',
      path: '/',
      operationId: 'frontPage',
      tag: 'system',
      auth: false,
      rateLimit: null,
      summary: 'A page linking to the demo (when enabled), the API docs and descriptions, and /ping',
      responses: { 200: { description: 'An HTML page', contentType: 'text/html; charset=utf-8' } },
      errors: [],
      handle: () => reply(200, front),
    }),
    route({
      method: 'get',
      path: '/ping',
      operationId: 'ping',
      tag: 'system',
      auth: false,
      rateLimit: null,
      summary: 'Liveness, projection lag and stalls, storage checkpoints, event-loop delay',
      responses: { 200: { description: 'The server is up', schema: z.looseObject({ ok: z.literal(true), time: z.iso.datetime() }) } },
      errors: [],
      handle: async () => reply(200, { ok: true as const, ...(await ping()) } as { ok: true; time: string }),
    }),
    route({
      method: 'get',
      path: '/health/live',
      operationId: 'healthLive',
      tag: 'system',
      auth: false,
      rateLimit: null,
      summary: 'Liveness: the process answers (restart it when this fails)',
      responses: { 200: { description: 'The process answers', schema: z.strictObject({ live: z.literal(true) }) } },
      errors: [],
      handle: () => reply(200, { live: true as const }),
    }),
    route({
      method: 'get',
      path: '/health/ready',
      operationId: 'healthReady',
      tag: 'system',
      auth: false,
      rateLimit: null,
      summary: 'Readiness: both stores answer, projections within READY_MAX_LAG_MS of the head, not shutting down',
      description:
        'Answers 503 `unavailable` with `details.reasons` (`shutting_down`, `event_store_unreachable`, `read_store_unreachable`, ' +
        '`projection_behind`) while any holds: a load balancer sends no traffic until it answers 200.',
      responses: { 200: { description: 'Ready for traffic', schema: z.strictObject({ ready: z.literal(true) }) } },
      errors: [],
      handle: async () => {
        const readiness = await ready();
        if (!readiness.ready) {
          throw new UnavailableError(`Not ready: ${readiness.reasons.map((reason) => reason.code).join(', ')}`, {
            reasons: readiness.reasons,
          });
        }
        return reply(200, { ready: true as const });
      },
    }),
    route({
      method: 'get',
      path: '/openapi.json',
      operationId: 'openApiDocument',
      tag: 'system',
      auth: false,
      rateLimit: null,
      summary: 'This document (OpenAPI 3.1)',
      responses: { 200: { description: 'The OpenAPI document', schema: document } },
      errors: [],
      handle: () => reply(200, openApi()),
    }),
    route({
      method: 'get',
      path: '/asyncapi.json',
      operationId: 'asyncApiDocument',
      tag: 'system',
      auth: false,
      rateLimit: null,
      summary: 'The socket protocol (AsyncAPI 3.0): every frame type as JSON Schema, close codes and limits',
      responses: { 200: { description: 'The AsyncAPI document', schema: document } },
      errors: [],
      handle: () => reply(200, asyncApi()),
    }),
    route({
      method: 'get',
      path: '/docs',
      operationId: 'apiDocsPage',
      tag: 'system',
      auth: false,
      rateLimit: null,
      summary: 'Swagger UI for /openapi.json',
      responses: { 200: { description: 'An HTML page', contentType: 'text/html; charset=utf-8' } },
      errors: [],
      handle: () => reply(200, DOCS_PAGE),
    }),
    route({
      method: 'get',
      path: '/docs/{asset}',
      operationId: 'apiDocsAsset',
      tag: 'system',
      auth: false,
      rateLimit: null,
      summary: "The Swagger UI page's script and style sheet",
      params: z.strictObject({ asset: z.enum(Object.keys(DOCS_ASSETS) as [keyof typeof DOCS_ASSETS]) }),
      responses: { 200: { description: 'A static file', contentType: Object.values(DOCS_ASSETS) } },
      errors: ['not_found'],
      handle: async ({ params, ctx }) => {
        const body = await readFile(join(swaggerUiDir, params.asset), 'utf8').catch(() => {
          throw new NotFoundError('Asset');
        });
        ctx.set('Cache-Control', 'public, max-age=86400');
        ctx.type = DOCS_ASSETS[params.asset];
        return reply(200, body);
      },
    }),
  ];
}
