import { z } from 'zod';
import { windowSeconds, type RateLimitPolicy } from '../rateLimit/policies.ts';
import { CLIENT_FRAMES, CLOSE, FRAME_ID, LIMITS, SERVER_FRAMES, WS_PATH } from './protocol.ts';

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' });

/** The whole frame: the payload's fields (of each of its forms) with `type` and `id`. */
function withEnvelope(payload: z.ZodObject | z.ZodUnion<readonly z.ZodObject[]>, envelope: z.core.$ZodLooseShape): z.ZodType {
  if (payload instanceof z.ZodObject) return payload.safeExtend(envelope);
  return z.union(payload.options.map((option) => option.safeExtend(envelope)) as unknown as [z.ZodObject, ...z.ZodObject[]]);
}

/**
 * The socket protocol as an AsyncAPI 3.0 document, generated from the schemas in protocol.ts: what the server
 * receives (client frames, with the rate-limit policy each is charged to) and what it sends, plus close codes
 * and limits. Served at `/asyncapi.json`.
 */
export function asyncApiDocument(policies: readonly RateLimitPolicy[], version: string): Record<string, unknown> {
  const messages: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const policyOf = (name: string | null) => policies.find((policy) => policy.name === name);
  const frameId = z.string().regex(FRAME_ID).optional();

  for (const [type, spec] of Object.entries(CLIENT_FRAMES)) {
    const policy = policyOf(spec.policy);
    messages[type] = {
      name: type,
      summary: spec.description,
      payload: jsonSchema(withEnvelope(spec.payload, { type: z.literal(type), id: frameId }), 'input'),
      ...(policy ? { 'x-rate-limit-policy': { name: policy.name, burst: policy.burst, windowSeconds: windowSeconds(policy) } } : {}),
    };
    operations[`receive.${type}`] = {
      action: 'receive',
      channel: { $ref: '#/channels/socket' },
      messages: [{ $ref: `#/channels/socket/messages/${type}` }],
      ...(spec.reply ? { reply: { channel: { $ref: '#/channels/socket' }, messages: [{ $ref: `#/channels/socket/messages/${type}.ok` }] } } : {}),
    };
    if (spec.reply) {
      messages[`${type}.ok`] = {
        name: `${type}.ok`,
        summary: `The answer to \`${type}\``,
        payload: jsonSchema(spec.reply.extend({ type: z.literal(`${type}.ok`), id: frameId }), 'output'),
      };
    }
  }
  for (const [type, schema] of Object.entries(SERVER_FRAMES)) {
    messages[type] = { name: type, payload: jsonSchema(schema, 'output') };
    operations[`send.${type}`] = { action: 'send', channel: { $ref: '#/channels/socket' }, messages: [{ $ref: `#/channels/socket/messages/${type}` }] };
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'LetsApp socket protocol',
      version,
      description: `Connect to \`${WS_PATH}\` with \`?token=<access token>\` or \`Authorization: Bearer\`. Every frame is a JSON `
        + 'object with a `type`; a client frame may carry an `id`, echoed in its reply (`<type>.ok`) or `error` frame. '
        + 'Live updates carry a `position`: resume with `sync` from the last one seen.',
    },
    servers: { local: { host: 'localhost:5002', protocol: 'ws', pathname: WS_PATH, security: [{ $ref: '#/components/securitySchemes/token' }] } },
    channels: {
      socket: {
        address: WS_PATH,
        messages: Object.fromEntries(Object.keys(messages).map((name) => [name, { $ref: `#/components/messages/${name}` }])),
      },
    },
    operations,
    components: {
      messages,
      securitySchemes: { token: { type: 'httpApiKey', name: 'token', in: 'query', description: 'The access token from /auth/login' } },
    },
    'x-close-codes': CLOSE,
    'x-limits': LIMITS,
  };
}
