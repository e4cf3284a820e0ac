import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { NotFoundError } from '../../../commands/shared/errors.ts';
import { route, reply } from '../routeTable.ts';

export interface SystemRouteDeps {
  /** Liveness plus the projection, storage and event-loop status, for operators. */
  ping: () => Promise<Record<string, unknown>>;
  /** Built from the whole route table, including these routes. */
  openApi: () => Record<string, unknown>;
  asyncApi: () => Record<string, unknown>;
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

/** Liveness, the API descriptions and the human page for them. */
export function systemRoutes({ ping, openApi, asyncApi }: SystemRouteDeps) {
  return [
    route({
      method: 'get', path: '/ping', operationId: 'ping', tag: 'system', auth: false, rateLimit: null,
      summary: 'Liveness, projection lag and stalls, storage checkpoints, event-loop delay',
      responses: { 200: { description: 'The server is up', schema: z.looseObject({ ok: z.literal(true), time: z.iso.datetime() }) } },
      errors: [],
      handle: async () => reply(200, { ok: true as const, ...(await ping()) } as { ok: true; time: string }),
    }),
    route({
      method: 'get', path: '/openapi.json', operationId: 'openApiDocument', tag: 'system', auth: false, rateLimit: null,
      summary: 'This document (OpenAPI 3.1)',
      responses: { 200: { description: 'The OpenAPI document', schema: document } },
      errors: [],
      handle: async () => reply(200, openApi()),
    }),
    route({
      method: 'get', path: '/asyncapi.json', operationId: 'asyncApiDocument', tag: 'system', auth: false, rateLimit: null,
      summary: 'The socket protocol (AsyncAPI 3.0): every frame type as JSON Schema, close codes and limits',
      responses: { 200: { description: 'The AsyncAPI document', schema: document } },
      errors: [],
      handle: async () => reply(200, asyncApi()),
    }),
    route({
      method: 'get', path: '/docs', operationId: 'apiDocsPage', tag: 'system', auth: false, rateLimit: null,
      summary: 'Swagger UI for /openapi.json',
      responses: { 200: { description: 'An HTML page', contentType: 'text/html; charset=utf-8' } },
      errors: [],
      handle: async () => reply(200, DOCS_PAGE),
    }),
    route({
      method: 'get', path: '/docs/{asset}', operationId: 'apiDocsAsset', tag: 'system', auth: false, rateLimit: null,
      summary: 'The Swagger UI page\'s script and style sheet',
      params: z.strictObject({ asset: z.enum(Object.keys(DOCS_ASSETS) as [keyof typeof DOCS_ASSETS]) }),
      responses: { 200: { description: 'A static file', contentType: Object.values(DOCS_ASSETS) } },
      errors: ['not_found'],
      handle: async ({ params, ctx }) => {
        const body = await readFile(join(swaggerUiDir, params.asset), 'utf8').catch(() => { throw new NotFoundError('Asset'); });
        ctx.set('Cache-Control', 'public, max-age=86400');
        ctx.type = DOCS_ASSETS[params.asset];
        return reply(200, body);
      },
    }),
  ];
}
