import { z } from 'zod';
import { windowSeconds, type RateLimitPolicy } from '../rateLimit/policies.ts';
import { CLIENT_FRAMES, CLOSE, FRAME_ID, LIMITS, SERVER_FRAMES, WS_PATH } from '../contract/socketProtocol.ts';

type JsonSchema = { [keyword: string]: unknown };
const SCHEMAS_REF = '#/components/schemas/';

/**
 * A payload as JSON Schema draft-07 (what an AsyncAPI Schema object extends), its named models (`.meta({ id })`) moved
 * to `components.schemas` and referenced there: a `#/definitions/...` reference inside a message would be read against
 * the whole AsyncAPI document, where nothing is. A name taken by another shape (a model's input and output forms
 * differ) gets the direction as a suffix.
 */
function payloadSchema(schema: z.ZodType, io: 'input' | 'output', schemas: Record<string, JsonSchema>): JsonSchema {
  const {
    $schema: _draft,
    definitions = {},
    ...payload
  } = z.toJSONSchema(schema, { target: 'draft-07', io, unrepresentable: 'any' }) as JsonSchema & {
    definitions?: Record<string, JsonSchema>;
  };
  const names = new Map(Object.keys(definitions).map((name) => [name, name]));
  const relink = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(relink);
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(
      Object.entries(node).map(([key, value]) => [
        key,
        key === '$ref' && typeof value === 'string' && value.startsWith('#/definitions/')
          ? `${SCHEMAS_REF}${names.get(value.slice('#/definitions/'.length))}`
          : relink(value),
      ]),
    );
  };
  for (const [name, definition] of Object.entries(definitions)) {
    const taken = schemas[name] !== undefined && JSON.stringify(schemas[name]) !== JSON.stringify(relink(definition));
    if (taken) names.set(name, `${name}${io === 'input' ? 'Input' : 'Output'}`);
  }
  for (const [name, definition] of Object.entries(definitions)) schemas[names.get(name)!] = relink(definition) as JsonSchema;
  return relink(payload) as JsonSchema;
}

/** The whole frame: the payload's fields (of each of its forms) with `type` and `id`. */
function withEnvelope(payload: z.ZodObject | z.ZodUnion<readonly z.ZodObject[]>, envelope: z.core.$ZodLooseShape): z.ZodType {
  if (payload instanceof z.ZodObject) return payload.safeExtend(envelope);
  const [first, ...rest] = payload.options.map((option) => option.safeExtend(envelope));
  if (!first) throw new Error('A frame union has no forms');
  return z.union([first, ...rest]);
}

/**
 * The socket protocol as an AsyncAPI 3.1 document, generated from the schemas in src/contract/socketProtocol.ts: what the server
 * receives (client frames, with the rate-limit policy each is charged to) and what it sends, plus close codes
 * and limits. Served at `/asyncapi.json`. A client frame and a server frame may share a type (`typing`,
 * `call.signal`: the client's names whom it is for, the server's whom it is from), so messages are keyed by direction:
 * `client.<type>` and `server.<type>`, each named by its type.
 */
export function asyncApiDocument(policies: readonly RateLimitPolicy[], version: string): Record<string, unknown> {
  const messages: Record<string, unknown> = {};
  const schemas: Record<string, JsonSchema> = {};
  const operations: Record<string, unknown> = {};
  const policyOf = (name: string | null) => policies.find((policy) => policy.name === name);
  const frameId = z.string().regex(FRAME_ID).optional();
  const inChannel = (key: string) => ({ $ref: `#/channels/socket/messages/${key}` });

  const serverMessage = (type: string, schema: z.ZodType, summary?: string) => {
    messages[`server.${type}`] = {
      name: type,
      title: `${type} (server to client)`,
      ...(summary ? { summary } : {}),
      payload: payloadSchema(schema, 'output', schemas),
    };
    return `server.${type}`;
  };
  for (const [type, spec] of Object.entries(CLIENT_FRAMES)) {
    const policy = policyOf(spec.policy);
    messages[`client.${type}`] = {
      name: type,
      title: `${type} (client to server)`,
      summary: spec.description,
      payload: payloadSchema(withEnvelope(spec.payload, { type: z.literal(type), id: frameId }), 'input', schemas),
      ...(policy ? { 'x-rate-limit-policy': { name: policy.name, burst: policy.burst, windowSeconds: windowSeconds(policy) } } : {}),
    };
    // `ai.send` is acked by a frame of its own (`ai.send.ok`, among the server frames), sent while the reply streams.
    const reply = spec.reply
      ? serverMessage(`${type}.ok`, spec.reply.extend({ type: z.literal(`${type}.ok`), id: frameId }), `The answer to \`${type}\``)
      : `${type}.ok` in SERVER_FRAMES
        ? `server.${type}.ok`
        : null;
    operations[`receive.${type}`] = {
      action: 'receive',
      channel: { $ref: '#/channels/socket' },
      messages: [inChannel(`client.${type}`)],
      ...(reply ? { reply: { channel: { $ref: '#/channels/socket' }, messages: [inChannel(reply)] } } : {}),
    };
  }
  for (const [type, schema] of Object.entries(SERVER_FRAMES)) {
    operations[`send.${type}`] = {
      action: 'send',
      channel: { $ref: '#/channels/socket' },
      messages: [inChannel(serverMessage(type, schema))],
    };
  }

  return {
    asyncapi: '3.1.0',
    info: {
      title: 'LetsApp socket protocol',
      version,
      description:
        `Connect to \`${WS_PATH}\` with \`?token=<access token>\` or \`Authorization: Bearer\`. Every frame is a JSON ` +
        'object with a `type`; a client frame may carry an `id`, echoed in its reply (`<type>.ok`) or `error` frame. ' +
        'Live updates carry a `position`: resume with `sync` from the last one seen.',
    },
    servers: {
      local: { host: 'localhost:5002', protocol: 'ws', pathname: WS_PATH, security: [{ $ref: '#/components/securitySchemes/token' }] },
    },
    channels: {
      socket: {
        address: WS_PATH,
        messages: Object.fromEntries(Object.keys(messages).map((key) => [key, { $ref: `#/components/messages/${key}` }])),
      },
    },
    operations,
    components: {
      messages,
      schemas,
      securitySchemes: { token: { type: 'httpApiKey', name: 'token', in: 'query', description: 'The access token from /auth/login' } },
    },
    'x-close-codes': CLOSE,
    'x-limits': LIMITS,
  };
}
