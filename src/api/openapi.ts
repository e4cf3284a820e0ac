import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import type { AnyRoute, SuccessResponse } from '../http/routeTable.ts';
import type { RateLimitPolicy } from '../rateLimit/policies.ts';
import { windowSeconds } from '../rateLimit/policies.ts';
import { ERROR_CODES, type ErrorCode } from './errorCodes.ts';
import { errorBody } from './models.ts';

const RATE_LIMIT_HEADERS = {
  'RateLimit-Policy': { $ref: '#/components/headers/RateLimitPolicy' },
  RateLimit: { $ref: '#/components/headers/RateLimit' },
};

/** The error codes a route can answer with: its own, plus those its auth, input, body and rate limit imply. */
export function errorCodesOf(route: AnyRoute): ErrorCode[] {
  const codes = new Set<ErrorCode>(route.errors);
  if (route.params || route.query || route.body) codes.add('validation_failed');
  if (route.body) ['payload_too_large', 'unsupported_media_type'].forEach((code) => codes.add(code as ErrorCode));
  if (route.auth) ['missing_token', 'invalid_token', 'token_expired', 'token_revoked'].forEach((code) => codes.add(code as ErrorCode));
  if (route.rawBody) ['payload_too_large', 'unsupported_media_type', 'validation_failed'].forEach((code) => codes.add(code as ErrorCode));
  if (route.rateLimit) codes.add('rate_limited');
  codes.add('unavailable');
  return [...codes];
}

function responsesOf(route: AnyRoute): ZodOpenApiResponsesObject {
  const responses: ZodOpenApiResponsesObject = {};
  const headers = route.rateLimit ? RATE_LIMIT_HEADERS : undefined;
  for (const [status, response] of Object.entries(route.responses as Record<number, SuccessResponse>)) {
    responses[status as `2${string}`] = {
      description: response.description,
      ...(headers ? { headers } : {}),
      ...(response.schema ? { content: { 'application/json': { schema: response.schema } } } : {}),
      ...(response.contentType ? { content: Object.fromEntries([response.contentType].flat().map((type) => [type, { schema: { type: 'string' } }])) } : {}),
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
      ...(status === 429 ? { headers: { ...RATE_LIMIT_HEADERS, 'Retry-After': { $ref: '#/components/headers/RetryAfter' } } } : {}),
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
    ...(route.params || route.query ? { requestParams: { ...(route.params ? { path: route.params } : {}), ...(route.query ? { query: route.query } : {}) } } : {}),
    ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: route.body } } } } : {}),
    ...(route.rawBody ? { requestBody: { required: true, description: route.rawBody.description, content: Object.fromEntries(route.rawBody.contentTypes.map((type) => [type,
      { schema: type === 'multipart/form-data' ? { type: 'object', required: ['file'], properties: { file: { type: 'string', contentMediaType: 'application/octet-stream' } } } : { type: 'string', contentMediaType: 'application/octet-stream' } }])) } } : {}),
    responses: responsesOf(route),
    ...(route.rateLimit ? { 'x-rate-limit-policy': route.rateLimit } : {}),
  };
}

/** The OpenAPI 3.1 document of the route table: the same entries that registered the handlers. */
export function openApiDocument(routes: readonly AnyRoute[], policies: readonly RateLimitPolicy[], version: string) {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of routes) paths[route.path] = { ...paths[route.path], [route.method]: operationOf(route) };
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'LetsApp',
      version,
      description: 'A realtime chat backend. Errors are `{"error": {"code", "message", "details"}}` (schema `Error`). '
        + 'The socket protocol is described at `/asyncapi.json`. Rate-limit policies (burst `q` per window `w` seconds, '
        + `refilled continuously): ${policies.map((policy) => `\`${policy.name}\` ${policy.burst} per ${windowSeconds(policy)} s by ${policy.key} (${policy.description})`).join('; ')}.`,
    },
    tags: [{ name: 'auth' }, { name: 'messages' }, { name: 'groups' }, { name: 'people' }, { name: 'media' }, { name: 'ai' }, { name: 'calls' }, { name: 'audit' }, { name: 'system' }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        mediaToken: { type: 'apiKey', in: 'query', name: 'token', description: 'From POST /api/media/{id}/token: one file, one user, a few minutes' },
      },
      schemas: { Error: errorBody },
      headers: {
        RateLimitPolicy: {
          description: 'The policy charged, as `"<name>";q=<burst>;w=<seconds to refill>` (IETF httpapi ratelimit-headers)',
          schema: { type: 'string', example: '"msg";q=30;w=3' },
        },
        RateLimit: {
          description: 'What is left: `"<name>";r=<remaining>;t=<seconds until full, or until the next request on a 429>;pk=:<hash of the key>:`',
          schema: { type: 'string', example: '"msg";r=29;t=1;pk=:3q2+7w3q2+7w3q2+7:' },
        },
        RetryAfter: { description: 'Seconds until one more request is allowed', schema: { type: 'integer', minimum: 1 } },
      },
    },
  });
}
