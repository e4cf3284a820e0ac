import {
  createDocument,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponseObject,
  type ZodOpenApiResponsesObject,
} from 'zod-openapi';
import type { AnyRoute, SuccessResponse } from './routeTable.ts';
import type { RateLimitPolicy } from '../rateLimit/policies.ts';
import { windowSeconds } from '../rateLimit/policies.ts';
import { ERROR_CODES, type ErrorCode } from '../contract/errorCodes.ts';
import { errorBody } from '../contract/models.ts';

/** On every answer: set by the first middleware, before anything can fail. */
const REQUEST_HEADERS = {
  'X-Request-Id': { $ref: '#/components/headers/XRequestId' },
  'X-Correlation-Id': { $ref: '#/components/headers/XCorrelationId' },
};
/** On every 2xx and 429 of a rate-limited operation: the policy is charged before the handler runs. */
const RATE_LIMIT_HEADERS = {
  'RateLimit-Policy': { $ref: '#/components/headers/RateLimitPolicy' },
  RateLimit: { $ref: '#/components/headers/RateLimit' },
};
/** On its other 4xx only when the request got as far as the charge: after the token was accepted, before the input was read. */
const RATE_LIMIT_HEADERS_IF_CHARGED = {
  'RateLimit-Policy': { $ref: '#/components/headers/RateLimitPolicyIfCharged' },
  RateLimit: { $ref: '#/components/headers/RateLimitIfCharged' },
};
const RATE_LIMIT_POLICY_HEADER = {
  description: 'The policy charged, as `"<name>";q=<burst>;w=<seconds to refill>` (IETF httpapi ratelimit-headers)',
  schema: { type: 'string', example: '"msg";q=30;w=3' },
} as const;
const RATE_LIMIT_HEADER = {
  description: 'What is left: `"<name>";r=<remaining>;t=<seconds until full, or until the next request on a 429>;pk=:<hash of the key>:`',
  schema: { type: 'string', example: '"msg";r=29;t=1;pk=:3q2+7w3q2+7w3q2+7:' },
} as const;
const IF_CHARGED = ' Present when the policy was charged: not on a refused token, nor on a body refused before routing (413).';

/** What each tag groups, for the readers of /docs. */
const TAGS = {
  auth: 'Accounts and sessions: register, log in and out, check a token',
  messages: 'Direct and group messages, their history, read receipts and the conversation list',
  groups: 'Groups, their members and roles',
  people: 'Profiles, privacy, encryption keys, search, contacts, blocks and presence',
  media: 'Files: upload, download (with Range and HEAD), thumbnails, short-lived tokens',
  ai: 'Leta, the assistant: prompts, streamed replies, personalities and your Gemini key',
  calls: 'Audio and video calls: ringing, answering, ending, history and TURN credentials',
  push: 'Web Push: the VAPID key, device subscriptions, the preview setting and muted conversations',
  bots: 'Bot accounts: users you own that act with a token of their own',
  webhooks: 'Outgoing webhooks: signed deliveries of what happens in your direct conversations or a group you administer, and their log',
  privacy: 'Your own data: a copy of all of it (GDPR export)',
  audit: 'The event log, for auditors',
  system: 'Liveness and the API descriptions',
  demo: 'The demo page and the client modules it loads',
} as const;

/**
 * A body whose every field is optional may be left out (the request reads as `{}`), as `POST /api/calls/{id}/end`'s
 * may: the document says `required: false` exactly where the server accepts no body, both read off the same schema.
 */
export const bodyIsOptional = (route: AnyRoute): boolean => route.body !== undefined && route.body.safeParse({}).success;

/**
 * The error codes a route can answer with: its own, plus those its auth, input, body and rate limit imply. Every route
 * may answer 400 and 413: the JSON body parser runs before routing, and an operation without a body refuses one.
 */
export function errorCodesOf(route: AnyRoute): ErrorCode[] {
  const codes = new Set<ErrorCode>(route.errors);
  ['validation_failed', 'payload_too_large'].forEach((code) => codes.add(code as ErrorCode));
  if (route.body) ['payload_too_large', 'unsupported_media_type'].forEach((code) => codes.add(code as ErrorCode));
  if (route.auth)
    ['missing_token', 'invalid_token', 'token_expired', 'token_revoked', 'account_suspended'].forEach((code) =>
      codes.add(code as ErrorCode),
    );
  if (route.rawBody) ['payload_too_large', 'unsupported_media_type', 'validation_failed'].forEach((code) => codes.add(code as ErrorCode));
  if (route.rateLimit) codes.add('rate_limited');
  // Leta refuses bot accounts (src/http/mountRoutes.ts).
  if (route.tag === 'ai' && route.auth) codes.add('not_for_bots');
  codes.add('unavailable');
  return [...codes];
}

function responsesOf(route: AnyRoute): ZodOpenApiResponsesObject {
  const responses: ZodOpenApiResponsesObject = {};
  const headers = { ...REQUEST_HEADERS, ...(route.rateLimit ? RATE_LIMIT_HEADERS : {}) };
  for (const [status, response] of Object.entries(route.responses as Record<number, SuccessResponse>)) {
    responses[status as `2${string}`] = {
      description: response.description,
      headers,
      ...(response.schema ? { content: { 'application/json': { schema: response.schema } } } : {}),
      ...(response.contentType
        ? { content: Object.fromEntries([response.contentType].flat().map((type) => [type, { schema: { type: 'string' } }])) }
        : {}),
    };
  }
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of errorCodesOf(route)) {
    const { status } = ERROR_CODES[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(status) as `4${string}`] = {
      description: codes.map((code) => `\`${code}\`: ${ERROR_CODES[code].description}`).join('; '),
      headers:
        status === 429
          ? { ...REQUEST_HEADERS, ...RATE_LIMIT_HEADERS, 'Retry-After': { $ref: '#/components/headers/RetryAfter' } }
          : { ...REQUEST_HEADERS, ...(route.rateLimit ? RATE_LIMIT_HEADERS_IF_CHARGED : {}) },
      content: { 'application/json': { schema: errorBody } },
    };
  }
  return responses;
}

function operationOf(route: AnyRoute): ZodOpenApiOperationObject {
  const policy = route.rateLimit ? ` Rate limit: \`${route.rateLimit}\`.` : '';
  return {
    operationId: route.operationId,
    summary: route.summary,
    description: `${route.description ?? route.summary}${policy}`,
    tags: [route.tag],
    security: route.auth === 'bearer-or-media-token' ? [{ bearer: [] }, { mediaToken: [] }] : route.auth ? [{ bearer: [] }] : [],
    ...(route.params || route.query
      ? { requestParams: { ...(route.params ? { path: route.params } : {}), ...(route.query ? { query: route.query } : {}) } }
      : {}),
    parameters: [{ $ref: '#/components/parameters/XRequestId' }],
    ...(route.body ? { requestBody: { required: !bodyIsOptional(route), content: { 'application/json': { schema: route.body } } } } : {}),
    ...(route.rawBody
      ? {
          requestBody: {
            required: true,
            description: route.rawBody.description,
            content: Object.fromEntries(
              route.rawBody.contentTypes.map((type) => [
                type,
                {
                  schema:
                    type === 'multipart/form-data'
                      ? {
                          type: 'object',
                          required: ['file'],
                          properties: { file: { type: 'string', contentMediaType: 'application/octet-stream' } },
                        }
                      : { type: 'string', contentMediaType: 'application/octet-stream' },
                },
              ]),
            ),
          },
        }
      : {}),
    responses: responsesOf(route),
    ...(route.rateLimit ? { 'x-rate-limit-policy': route.rateLimit } : {}),
  };
}

/** A GET whose answer is a file or a page also answers HEAD (Koa's router adds it): the same answers without their bodies. */
const answersHead = (route: AnyRoute) =>
  route.method === 'get' &&
  Object.values(route.responses as Record<number, SuccessResponse>).some((response) => response.contentType !== undefined);

function headOperationOf(route: AnyRoute): ZodOpenApiOperationObject {
  const get = operationOf(route);
  const responses: ZodOpenApiResponsesObject = {};
  // operationOf writes response objects, never $refs (the entries type as any: the type allows `x-` extensions).
  for (const [status, response] of Object.entries(get.responses ?? {}) as Array<[string, ZodOpenApiResponseObject]>) {
    const { content: _body, ...withoutBody } = response;
    responses[status as `2${string}`] = withoutBody;
  }
  return { ...get, operationId: `${route.operationId}Head`, summary: `${route.summary} (headers only)`, responses };
}

/** The OpenAPI 3.1 document of the route table: the same entries that registered the handlers. */
export function openApiDocument(routes: readonly AnyRoute[], policies: readonly RateLimitPolicy[], version: string) {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of routes) {
    paths[route.path] = {
      ...paths[route.path],
      [route.method]: operationOf(route),
      ...(answersHead(route) ? { head: headOperationOf(route) } : {}),
    };
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'LetsApp',
      version,
      description:
        'A realtime chat backend. Errors are `{"error": {"code", "message", "details"}}` (schema `Error`). ' +
        'The socket protocol is described at `/asyncapi.json`. Rate-limit policies (burst `q` per window `w` seconds, ' +
        `refilled continuously): ${policies.map((policy) => `\`${policy.name}\` ${policy.burst} per ${windowSeconds(policy)} s by ${policy.key} (${policy.description})`).join('; ')}.`,
    },
    // Relative: the REST API is served by whoever serves this document.
    servers: [{ url: '/', description: 'This server' }],
    tags: [...new Set(routes.map((route) => route.tag))].map((name) => ({ name, description: TAGS[name as keyof typeof TAGS] ?? name })),
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        mediaToken: {
          type: 'apiKey',
          in: 'query',
          name: 'token',
          description: 'From POST /api/media/{id}/token: one file, one user, a few minutes',
        },
      },
      schemas: { Error: errorBody },
      parameters: {
        XRequestId: {
          name: 'X-Request-Id',
          in: 'header',
          required: false,
          schema: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$' },
          description:
            "Your id for this request: echoed back and recorded beside the server's own (`X-Correlation-Id`); ignored unless well-formed",
        },
      },
      headers: {
        XRequestId: {
          description: "Yours when you sent a well-formed one, else the server's correlation id",
          required: true,
          schema: { type: 'string' },
        },
        XCorrelationId: {
          description: "The server's id for this request: the correlation id of every event it appended",
          required: true,
          schema: { type: 'string' },
        },
        RateLimitPolicy: { ...RATE_LIMIT_POLICY_HEADER, required: true },
        RateLimit: { ...RATE_LIMIT_HEADER, required: true },
        RateLimitPolicyIfCharged: { ...RATE_LIMIT_POLICY_HEADER, description: `${RATE_LIMIT_POLICY_HEADER.description}.${IF_CHARGED}` },
        RateLimitIfCharged: { ...RATE_LIMIT_HEADER, description: `${RATE_LIMIT_HEADER.description}.${IF_CHARGED}` },
        RetryAfter: { description: 'Seconds until one more request is allowed', schema: { type: 'integer', minimum: 1 } },
      },
    },
  });
}
