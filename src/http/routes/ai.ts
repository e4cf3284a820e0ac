import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { NotFoundError } from '../../../commands/shared/errors.ts';
import type { AiService } from '../../ai/aiService.ts';
import { askLetaSchema, personalityId } from '../../contract/aiSchemas.ts';
import { id, queryInteger } from '../../contract/validation.ts';
import { toErrorResponse } from '../../contract/errors.ts';
import { actorMetadata } from '../context.ts';
import { handled, noContent, reply, route } from '../routeTable.ts';
import type { Logger } from 'pino';

export interface AiRouteDeps {
  ai: AiService;
  clock: () => Date;
  logger: Logger;
}

const aiMessage = z
  .strictObject({
    id: z.uuid(),
    role: z.enum(['user', 'model']),
    text: z.string(),
    status: z.enum(['pending', 'completed', 'failed']),
    code: z
      .string()
      .nullable()
      .meta({ description: 'Why a prompt failed: the error code given, `interrupted` after a restart, `cancelled`' }),
    finishReason: z.string().nullable(),
    personalityId: z.string().nullable(),
    createdAt: z.iso.datetime(),
    position: z.number().int(),
  })
  .meta({ id: 'AiMessage' });

const personality = z
  .strictObject({
    id: z.string(),
    name: z.string(),
    instructions: z.string(),
    temperature: z.number().nullable(),
    builtIn: z.boolean(),
  })
  .meta({ id: 'AiPersonality' });
const personalityFields = {
  name: z.string().max(40).trim().min(1),
  instructions: z.string().max(2_000).trim(),
  temperature: z.number().min(0).max(2).nullable(),
};
const keyMetadata = z
  .strictObject({
    provider: z.literal('gemini'),
    last4: z.string(),
    fingerprint: z.string(),
    status: z.enum(['valid', 'unverified', 'rejected']),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'AiKeyMetadata' });
/** Whether you have a key, with its metadata when you do: having none is an answer, not a missing resource. */
const keyStatus = z
  .discriminatedUnion('configured', [
    z.strictObject({ configured: z.literal(false) }),
    z.strictObject({ configured: z.literal(true), ...keyMetadata.shape }),
  ])
  .meta({ id: 'AiKeyStatus' });

/** The caller only: another user's history, key or personalities do not exist for them. */
function ownOnly(callerId: string, userId: string): void {
  if (callerId !== userId) throw new NotFoundError('User');
}

/** Leta under /api/chat/ai, and the user's Gemini key under /api/users/{userId}/api-key. */
export function aiRoutes({ ai, clock, logger }: AiRouteDeps) {
  const meta = actorMetadata(clock);
  const userParams = z.strictObject({ userId: id });
  return [
    route({
      method: 'post',
      path: '/api/chat/ai/send',
      operationId: 'askLeta',
      tag: 'ai',
      auth: true,
      rateLimit: 'ai',
      summary: 'Ask Leta; the reply waits (201) or streams as server-sent events (`Accept: text/event-stream`)',
      description:
        'SSE events: `prompt` {prompt} once stored, `delta` {promptId, seq, text} as the reply is written, then `done` {prompt, reply} ' +
        'or `error` {error}. A retry with the same clientMessageId answers with what was stored, without asking the model again. One at a time per user.',
      body: askLetaSchema,
      responses: {
        201: { description: "The prompt and Leta's reply", schema: z.strictObject({ prompt: aiMessage, reply: aiMessage.nullable() }) },
        200: { description: 'The reply streamed (Accept: text/event-stream)', contentType: 'text/event-stream' },
      },
      errors: [
        'ai_key_missing',
        'ai_key_unreadable',
        'ai_busy',
        'not_found',
        'invalid_api_key',
        'api_key_forbidden',
        'ai_blocked',
        'ai_rate_limited',
        'ai_upstream_error',
        'ai_timeout',
        'concurrency_conflict',
      ],
      handle: async ({ principal, body, ctx }) => {
        const metadata = meta(ctx);
        if (
          !ctx.accepts('application/json', 'text/event-stream') ||
          ctx.accepts('application/json', 'text/event-stream') === 'application/json'
        ) {
          return reply(201, await ai.send(principal.userId, body, metadata));
        }
        // Server-sent events: the stream opens once the prompt is stored; errors before that are ordinary JSON errors.
        const stream = new PassThrough();
        const event = (name: string, data: unknown) => stream.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
        // A client that hangs up before the end stops the generation: nobody reads it, and the model costs money.
        const askerGone = new AbortController();
        ctx.res.once('close', () => {
          if (!ctx.res.writableFinished) askerGone.abort();
        });
        await new Promise<void>((resolve, reject) => {
          let open = false;
          ai.send(
            principal.userId,
            body,
            metadata,
            (delta) => event('delta', delta),
            (prompt) => {
              open = true;
              ctx.status = 200;
              ctx.set('Content-Type', 'text/event-stream; charset=utf-8');
              ctx.set('Cache-Control', 'no-store');
              ctx.body = stream;
              event('prompt', { prompt });
              resolve();
            },
            null,
            askerGone.signal,
          ).then(
            (result) => {
              if (!open) {
                ctx.status = 201;
                ctx.body = result;
                return resolve();
              }
              event('done', result);
              stream.end();
            },
            (error: unknown) => {
              if (!open) return reject(error);
              event('error', toErrorResponse(error, logger, { route: 'askLeta' }).body);
              stream.end();
            },
          );
        });
        return handled(ctx.status as 200);
      },
    }),
    route({
      method: 'get',
      path: '/api/chat/ai/history/{userId}',
      operationId: 'aiHistory',
      tag: 'ai',
      auth: true,
      rateLimit: 'read',
      summary: 'Your conversation with Leta, newest first (yours only: another id is 404)',
      params: userParams,
      query: z.strictObject({
        before: queryInteger(z.number().int().min(0)).optional(),
        limit: queryInteger(z.number().int().min(1).max(100)).default(50),
      }),
      responses: {
        200: {
          description: 'A page',
          schema: z.strictObject({
            messages: z.array(aiMessage),
            hasMore: z.boolean(),
            cursors: z.strictObject({ before: z.number().int().nullable() }),
          }),
        },
      },
      errors: ['not_found'],
      handle: async ({ principal, params, query }) => {
        ownOnly(principal.userId, params.userId);
        return reply(200, await ai.history(params.userId, query));
      },
    }),
    route({
      method: 'delete',
      path: '/api/chat/ai/history/{userId}',
      operationId: 'clearAiHistory',
      tag: 'ai',
      auth: true,
      rateLimit: 'profile',
      summary: 'Clear your conversation with Leta (the event log keeps that it happened)',
      params: userParams,
      responses: { 204: { description: 'Cleared' } },
      errors: ['not_found', 'ai_busy', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        ownOnly(principal.userId, params.userId);
        await ai.clearHistory(params.userId, meta(ctx));
        return noContent();
      },
    }),
    route({
      method: 'get',
      path: '/api/chat/ai/personalities',
      operationId: 'listPersonalities',
      tag: 'ai',
      auth: true,
      rateLimit: 'read',
      summary: "Leta's built-in personality and yours",
      responses: { 200: { description: 'Personalities', schema: z.strictObject({ personalities: z.array(personality) }) } },
      errors: [],
      handle: async ({ principal }) => reply(200, { personalities: await ai.personalities(principal.userId) }),
    }),
    route({
      method: 'post',
      path: '/api/chat/ai/personalities',
      operationId: 'createPersonality',
      tag: 'ai',
      auth: true,
      rateLimit: 'profile',
      summary: 'Create a personality (at most 20): a name, instructions for Leta, a temperature',
      body: z.strictObject({ ...personalityFields, temperature: personalityFields.temperature.default(null) }),
      responses: { 201: { description: 'Created', schema: z.strictObject({ personality }) } },
      errors: ['personalities_limit', 'concurrency_conflict'],
      handle: async ({ principal, body, ctx }) =>
        reply(201, { personality: await ai.createPersonality(principal.userId, body, meta(ctx)) }),
    }),
    route({
      method: 'put',
      path: '/api/chat/ai/personalities/{id}',
      operationId: 'updatePersonality',
      tag: 'ai',
      auth: true,
      rateLimit: 'profile',
      summary: 'Change one of your personalities (the built-in `leta` cannot change)',
      params: z.strictObject({ id: personalityId }),
      body: z.strictObject({
        name: personalityFields.name.optional(),
        instructions: personalityFields.instructions.optional(),
        temperature: personalityFields.temperature.optional(),
      }),
      responses: { 200: { description: 'The personality', schema: z.strictObject({ personality }) } },
      errors: ['not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) =>
        reply(200, { personality: await ai.updatePersonality(principal.userId, params.id, body, meta(ctx)) }),
    }),
    route({
      method: 'delete',
      path: '/api/chat/ai/personalities/{id}',
      operationId: 'deletePersonality',
      tag: 'ai',
      auth: true,
      rateLimit: 'profile',
      summary: 'Delete one of your personalities (also when absent)',
      params: z.strictObject({ id: personalityId }),
      responses: { 204: { description: 'Gone' } },
      errors: ['concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        await ai.deletePersonality(principal.userId, params.id, meta(ctx));
        return noContent();
      },
    }),
    route({
      method: 'put',
      path: '/api/users/{userId}/api-key',
      operationId: 'setApiKey',
      tag: 'ai',
      auth: true,
      rateLimit: 'profile',
      summary: 'Set your Gemini API key: stored encrypted, never shown again (only its last 4 characters and a fingerprint)',
      params: userParams,
      body: z.strictObject({
        apiKey: z.string().regex(/^[\x21-\x7e]{20,200}$/, '20 to 200 printable characters'),
        provider: z.literal('gemini'),
      }),
      responses: { 200: { description: 'Its metadata', schema: keyMetadata } },
      errors: ['not_found', 'invalid_api_key', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) => {
        ownOnly(principal.userId, params.userId);
        return reply(200, await ai.setKey(params.userId, body.apiKey, meta(ctx)));
      },
    }),
    route({
      method: 'get',
      path: '/api/users/{userId}/api-key',
      operationId: 'getApiKey',
      tag: 'ai',
      auth: true,
      rateLimit: 'read',
      summary: "Whether you have a key (`configured`), and its metadata when you do (never the key); another user's id is 404",
      params: userParams,
      responses: { 200: { description: "`{configured: false}`, or `configured: true` with the key's metadata", schema: keyStatus } },
      errors: ['not_found'],
      handle: async ({ principal, params }) => {
        ownOnly(principal.userId, params.userId);
        const key = await ai.keyMetadata(params.userId);
        return reply(200, key ? { configured: true as const, ...key } : { configured: false as const });
      },
    }),
    route({
      method: 'delete',
      path: '/api/users/{userId}/api-key',
      operationId: 'removeApiKey',
      tag: 'ai',
      auth: true,
      rateLimit: 'profile',
      summary: 'Remove your key (its ciphertext is erased)',
      params: userParams,
      responses: { 204: { description: 'Removed' } },
      errors: ['not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        ownOnly(principal.userId, params.userId);
        await ai.removeKey(params.userId, meta(ctx));
        return noContent();
      },
    }),
  ];
}
