/**
 * The HTTP API against its own description, property-based, in the spirit of Schemathesis: a real server on ephemeral
 * ports, its `GET /openapi.json`, and requests generated from that document's JSON Schemas
 * (test/helpers/schemaArbitraries.ts). Nothing below lists the operations: they are read from `doc.paths`, so a new
 * route is swept as soon as it is documented.
 *
 * The document
 *   - is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator), every `$ref` resolves, operation ids are unique,
 *     every `{param}` of a path is a documented required path parameter;
 *   - every operation documents a 2xx, and every error status answers the shared `Error` schema (a HEAD: no body);
 *   - a request body is JSON, or a file (multipart with one required part, or raw).
 *
 * Every response to every request below (positive, negative, wrong token, stateful) passes these checks:
 *   not_a_server_error            never a 5xx;
 *   status_code_conformance       the status is one the operation documents;
 *   content_type_conformance      the Content-Type is one documented for that status, or in a documented range (any
 *                                 type, `image/*`); a status without content has no body;
 *   response_schema_conformance   a JSON body validates (ajv, draft 2020-12, with formats) against that status's schema;
 *                                 an event stream (`text/event-stream`) is well-formed: `event:` and JSON `data:`, the
 *                                 events its description names, an `error` event's data an Error; any other body (a
 *                                 downloaded file, a page) is binary: status and Content-Type only;
 *   error_code_conformance        an error's `code` is one the operation's documentation names for that status;
 *   header_conformance            every header documented as required is there (`X-Request-Id` on every answer, the
 *                                 rate-limit headers on a 2xx or 429); where present, `RateLimit:
 *                                 "<policy>";r=<int>;t=<int>;pk=:<base64>:` and `RateLimit-Policy: "<policy>";q=<int>;w=<int>`,
 *                                 naming the operation's policy.
 *
 * Positive cases: path, query and body generated valid by the document, ids mostly real (users registered for the
 *   test, a group they are in, messages they sent, files they uploaded: a sender's own as attachments) and sometimes
 *   random, sent by one of those users: they pass the checks above, a 4xx appends no event, and at least one run
 *   reaches a 2xx (the generators do reach the success path). A file body is a real small file (text, PNG) in each
 *   documented encoding; where 206/416/304 are documented, `Range` and `If-None-Match` are sent too; where a query
 *   credential is the alternative to the bearer (`?token=` media tokens), half the runs use one issued to the caller;
 *   where a 2xx streams (`text/event-stream`), `Accept` asks for it or for JSON.
 *   Operations that need more than ids get more fixtures, by tag: Leta (`ai`) a Gemini key for alice and bob (carol
 *   has none: 409) and a personality each, answered by a fake Gemini on loopback (GEMINI_API_BASE_URL); calls
 *   (`calls`) an open socket per user (`connectionId`, from its `welcome` frame) and calls ringing from a fourth user;
 *   scheduled messages, invite links and a pending join request, finished data exports, a voice-note message to
 *   transcribe, push subscriptions at a loopback stand-in push service (nothing leaves the machine), and three bots per
 *   user (`bots`), each only for the operations that use them. Refinements the document cannot say are taught by name (one RGI emoji, `sendAt` a
 *   minute to a month ahead, a waveform, real push keys) or as CROSS_FIELD_RULES; voice notes are sent real audio.
 * Negative cases (negative_data_rejection): one mutation of the body, the query or a path parameter that the document
 *   still rejects once it went through the URL (`"1"` for an integer does not count), plus hostile path segments
 *   (`%24gt`, `..%2F`, `%00`, 3,000 × `x`, `__proto__`, ...): a documented 400 (404 or 413 where documented), never
 *   acted upon, and **no stray events**: the event store's head does not move. A file body is replaced by one an
 *   upload must refuse (HTML named .png, SVG, NUL, bad UTF-8, a misnamed or broken PNG, empty, a wrong Content-Type,
 *   broken multipart): its documented 400, 415 or 422.
 * Wrong tokens on every secured operation (missing, garbage, alg none, bad signature, expired, other key, HS512,
 *   unknown user, revoked): a documented 401, and no event. Query credentials: the issued one works; none is a 401; a
 *   wrong one (garbage, an access token, another file's, expired, forged) a documented 401 or 404; a bad bearer beside
 *   the right one a 401.
 * Stateful: hand-written chains (a direct conversation from send to delete; group membership; blocks; a file from
 *   upload to tombstone; a profile picture) and an fc.commands model of three users, a direct conversation and a
 *   group, compared with the API after every step.
 *
 * Budget and reproduction: FC_SEED (default 20261125), FC_RUNS (default 25 per operation for positives and for
 * negatives; 4 for operations without input) and FC_STATEFUL_RUNS (default 15 command sequences) are read from the
 * environment; a failure prints fast-check's seed, path, shrunk counterexample and the failed check. About 30 s.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { auditorDecider, AUDITORS_STREAM } from '../../commands/auditors.ts';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { CommandHandler } from '../../src/commandHandler.ts';
import { createECDH, createHash } from 'node:crypto';
import { createServer } from 'node:http';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import jwt from 'jsonwebtoken';
import sharp from 'sharp';
// Named/`.default` imports: CommonJS modules under NodeNext (as in schemaArbitraries.ts).
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { Validator } from '@seriousme/openapi-schema-validator';
import { isValid, mutations, valid, type JsonSchema, type Mutation } from '../helpers/schemaArbitraries.ts';
import { registerUser, startTestApp, testEnv } from '../helpers/app.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';
import { mp3, oggOpus, waveform } from '../helpers/audio.ts';

const SEED = Number(process.env.FC_SEED ?? 20261125);
const RUNS = Number(process.env.FC_RUNS ?? 25);
/** Operations without any input only vary by caller: a few runs say all there is to say. */
const RUNS_WITHOUT_INPUT = 4;
const STATEFUL_RUNS = Number(process.env.FC_STATEFUL_RUNS ?? 15);
const settings = (numRuns: number) => ({ seed: SEED, numRuns, includeErrorInReport: true });

// ---------------------------------------------------------------------------------------------- the document

type Json = { [key: string]: unknown };
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema: JsonSchema;
}
interface MediaType {
  schema?: JsonSchema;
}
interface ResponseObject {
  description: string;
  headers?: Json;
  content?: Record<string, MediaType>;
}
interface OperationObject {
  operationId: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, MediaType> };
  responses: Record<string, ResponseObject>;
  'x-rate-limit-policy'?: string;
  tags?: string[];
  description?: string;
}
interface Document {
  openapi: string;
  paths: Record<string, Json>;
  components: Json;
  security?: Array<Record<string, string[]>>;
}

interface Operation {
  method: string;
  /** OpenAPI form: `/api/messages/{id}`. */
  template: string;
  op: OperationObject;
  label: string;
  secured: boolean;
  params: Record<string, Parameter>;
  /** The path and query parameters as one object schema each, as generators and mutators take them. */
  pathSchema?: JsonSchema;
  querySchema?: JsonSchema;
  bodySchema?: JsonSchema;
  /** A request body that is not JSON (a file: `multipart/form-data`, a raw type): its documented content types. */
  fileBody?: string[];
  /** The part a multipart body carries the file in: its schema's required property. */
  filePart?: string;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

/** A local JSON pointer (`#/components/schemas/Error`) in the document, or undefined. */
function pointer(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  let node = root;
  for (const part of ref.slice(2).split('/').filter(Boolean)) {
    const key = decodeURIComponent(part).replaceAll('~1', '/').replaceAll('~0', '~');
    node = isObj(node) || Array.isArray(node) ? (node as Json)[key] : undefined;
  }
  return node;
}
const deref = <T>(root: unknown, node: T): T =>
  isObj(node) && typeof node.$ref === 'string' ? deref(root, pointer(root, node.$ref) as T) : node;

function objectSchemaOf(params: Parameter[], allRequired: boolean): JsonSchema | undefined {
  if (params.length === 0) return undefined;
  // No `additionalProperties: false`: OpenAPI cannot say "no other query parameter", so an extra one is not invalid.
  return {
    type: 'object',
    properties: Object.fromEntries(params.map((p) => [p.name, p.schema])),
    required: params.filter((p) => allRequired || p.required).map((p) => p.name),
  };
}

function operationsOf(doc: Document): Operation[] {
  return Object.entries(doc.paths).flatMap(([template, item]) =>
    METHODS.filter((method) => isObj(item[method])).map((method) => {
      const op = item[method] as OperationObject;
      const params = [...(Array.isArray(item.parameters) ? item.parameters : []), ...(op.parameters ?? [])].map((p) =>
        deref<Parameter>(doc, p),
      );
      const content = op.requestBody ? deref(doc, op.requestBody).content : undefined;
      const form = deref(doc, content?.['multipart/form-data']?.schema);
      return {
        method: method.toUpperCase(),
        template,
        op,
        label: `${method.toUpperCase()} ${template} (${op.operationId})`,
        secured: (op.security ?? doc.security ?? []).some((requirement) => Object.keys(requirement).length > 0),
        params: Object.fromEntries(params.map((p) => [p.name, p])),
        pathSchema: objectSchemaOf(
          params.filter((p) => p.in === 'path'),
          true,
        ),
        querySchema: objectSchemaOf(
          params.filter((p) => p.in === 'query'),
          false,
        ),
        bodySchema: content?.['application/json']?.schema,
        fileBody: content && !content['application/json'] ? Object.keys(content) : undefined,
        filePart: isObj(form) && Array.isArray(form.required) ? String(form.required[0]) : undefined,
      };
    }),
  );
}

const hasInput = (operation: Operation) =>
  Boolean(operation.pathSchema ?? operation.querySchema ?? operation.bodySchema ?? operation.fileBody);
const statusesOf = (operation: Operation) => Object.keys(operation.op.responses);

// ---------------------------------------------------------------------------------------------- the server

/**
 * Gemini, faked on loopback (the server runs in this process, but a server is simpler than interceptors for hundreds
 * of calls): a key is checked with `GET /v1beta/models/{model}` and replies stream from `:streamGenerateContent?alt=sse`.
 * Keys ending in a digit are refused as Gemini refuses unknown ones (400 API_KEY_INVALID), so that setting a key also
 * meets its 422; every other key works, and every reply is the same two chunks.
 */
const GEMINI_KEY = 'AIzaSy-property-suite-key-abcdefghijk';
const geminiRefuses = (key: string) => key === '' || /\d$/.test(key);
const gemini = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (geminiRefuses(String(req.headers['x-goog-api-key'] ?? ''))) {
      res.writeHead(400, { 'Content-Type': 'application/json' });
      return void res.end(
        JSON.stringify({
          error: {
            code: 400,
            status: 'INVALID_ARGUMENT',
            message: 'API key not valid. Please pass a valid API key.',
            details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }],
          },
        }),
      );
    }
    if (req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return void res.end(JSON.stringify({ name: 'models/gemini-2.5-flash' }));
    }
    const chunk = (text: string, finishReason?: string) =>
      `data: ${JSON.stringify({
        candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...(finishReason ? { finishReason } : {}) }],
        ...(finishReason ? { usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 5, totalTokenCount: 17 } } : {}),
      })}\r\n\r\n`;
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.end(chunk('Hi, ') + chunk('I am Leta.', 'STOP'));
  });
});
await new Promise<void>((resolve) => gemini.listen(0, '127.0.0.1', resolve));

// The server starts while the module loads, so that one test per documented operation can be declared. No call rings
// out while the file runs (a timer's CallEnded would land in another test's request: a stray event); each test that
// makes calls ends them anyway (hangUp).
/**
 * A stand-in push service on loopback: subscriptions point at it (PUSH_ALLOW_PRIVATE_ENDPOINTS, for tests only, lets
 * the server take a loopback endpoint), so that no notification leaves the machine. It accepts every push (201).
 */
const pushService = createServer((request, response) => {
  request.resume();
  request.on('end', () => response.writeHead(201).end());
});
await new Promise<void>((resolve) => pushService.listen(0, '127.0.0.1', resolve));
const PUSH_ENDPOINT = `http://127.0.0.1:${(pushService.address() as { port: number }).port}/push/`;

const app = await startTestApp({
  env: {
    GEMINI_API_BASE_URL: `http://127.0.0.1:${(gemini.address() as { port: number }).port}`,
    CALL_RING_TIMEOUT_MS: '600000',
    PUSH_ALLOW_PRIVATE_ENDPOINTS: 'true',
    // Webhook URLs point at the same stand-in on loopback (test-only).
    WEBHOOK_ALLOW_PRIVATE: 'true',
  },
});
const doc = (await (await fetch(`${app.url}/openapi.json`)).json()) as Document;
const operations = operationsOf(doc);
/** An 8×8 PNG for uploads (see "files"), made here: once a test is declared, ava takes no more awaits before the next. */
const PNG = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } })
  .png()
  .toBuffer();
/** The sockets of the calls fixtures: open until the end, so that no offline or dropped-call event follows their test. */
const sockets: TestSocket[] = [];
test.after.always(async () => {
  pushService.close();
  for (const socket of sockets) socket.close();
  await app.dispose();
  gemini.closeAllConnections();
  gemini.close();
});

const byId = (operationId: string): Operation => {
  const found = operations.find((operation) => operation.op.operationId === operationId);
  if (!found) throw new Error(`no operation ${operationId} in /openapi.json`);
  return found;
};

/** A body that is not JSON (a file), as sent: its bytes, its Content-Type (none when undefined), what it is for reports. */
interface RawBody {
  label: string;
  contentType: string | undefined;
  bytes: Buffer;
}
const isRawBody = (value: unknown): value is RawBody => isObj(value) && Buffer.isBuffer(value.bytes) && typeof value.label === 'string';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}
interface Wire {
  method: string;
  path: string;
  token?: string | undefined;
  body?: string | RawBody | undefined;
  headers?: Record<string, string> | undefined;
}

async function send(wire: Wire): Promise<Answer> {
  const headers: Record<string, string> = { ...wire.headers };
  if (wire.token !== undefined) headers.authorization = `Bearer ${wire.token}`;
  if (typeof wire.body === 'string') headers['content-type'] = 'application/json';
  else if (wire.body?.contentType !== undefined) headers['content-type'] = wire.body.contentType;
  const body = typeof wire.body === 'string' ? wire.body : wire.body?.bytes;
  const response = await fetch(`${app.url}${wire.path}`, { method: wire.method, headers, body });
  // Bytes first: a binary body (a downloaded file) is never parsed, only its status and Content-Type are checked.
  const text = Buffer.from(await response.arrayBuffer()).toString('utf8');
  let json: unknown;
  if (/[/+]json\b/.test(response.headers.get('content-type') ?? '')) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: response.status, headers: response.headers, text, json };
}

const head = () => app.eventStore.headPosition();
/**
 * How many events the request behind `answer` appended since `before`: those carrying its correlation id (the answer's
 * `X-Correlation-Id`). What earlier fixtures set off in the background (a presence grace running out, a scheduled
 * send) appends under ids of its own and is not the request's doing. An answer without the header counts every event.
 */
async function appendedBy(answer: Answer, before: number): Promise<number> {
  const correlationId = answer.headers.get('x-correlation-id');
  const events = await app.eventStore.readAll({ after: before });
  return events.filter((event) => correlationId === null || event.metadata.correlationId === correlationId).length;
}
const describe = (wire: Wire) =>
  `${wire.method} ${wire.path.slice(0, 300)}` +
  `${wire.headers && Object.keys(wire.headers).length > 0 ? ` ${JSON.stringify(wire.headers)}` : ''}` +
  `${
    wire.body === undefined
      ? ''
      : typeof wire.body === 'string'
        ? ` ${wire.body.slice(0, 300)}`
        : ` [${wire.body.label}: ${wire.body.bytes.length} bytes as ${wire.body.contentType ?? 'no Content-Type'}]`
  }`;
const snippet = (answer: Answer) => `${answer.status} ${answer.text.slice(0, 300)}`;

// ---------------------------------------------------------------------------------------------- the checks

// allErrors: a failure names every mismatch. The graft of `components` lets `#/components/...` refs resolve.
const ajv = new Ajv2020({ strict: false, allErrors: true, logger: false });
ajvFormats.default(ajv);
ajv.addFormat('base64', /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
const validators = new Map<JsonSchema, ValidateFunction>();
function schemaErrors(schema: JsonSchema, value: unknown): string | undefined {
  if (typeof schema === 'boolean') return schema ? undefined : 'schema `false`';
  let validate = validators.get(schema);
  if (!validate) {
    const { $schema: _ignored, ...rest } = schema;
    validate = ajv.compile({ components: doc.components, ...rest, $id: `urn:api-properties:${validators.size}` });
    validators.set(schema, validate);
  }
  return validate(value) ? undefined : ajv.errorsText(validate.errors, { separator: '; ', dataVar: 'body' });
}

const essence = (type: string | null) => (type ?? '').split(';')[0]!.trim().toLowerCase();
/** The documented media type or range (any type, `image/*`, `text/css`) that a response's Content-Type falls in. */
function documentedTypeOf(mediaTypes: string[], contentType: string | null): string | undefined {
  const actual = essence(contentType);
  if (actual === '') return undefined;
  return (
    mediaTypes.find((type) => essence(type) === actual) ??
    mediaTypes.find((type) => essence(type) === '*/*' || (essence(type).endsWith('/*') && actual.startsWith(essence(type).slice(0, -1))))
  );
}
const isJsonType = (type: string) => /^application\/([\w.-]+\+)?json$/.test(essence(type));
const ERROR_REF = '#/components/schemas/Error';
/** The codes an error status's description names: "`validation_failed`: ...; `not_found`: ...". */
const documentedCodes = (response: ResponseObject) => [...response.description.matchAll(/`([a-z_]+)`:/g)].map((m) => m[1]!);
const RATE_LIMIT = /^"([a-z][a-z0-9-]*)";r=(\d+);t=(\d+);pk=:([A-Za-z0-9+/]+={0,2}):$/;
const RATE_LIMIT_POLICY = /^"([a-z][a-z0-9-]*)";q=(\d+);w=(\d+)$/;

/** Every check that applies to any response of `operation`; the problems found, empty when it conforms. */
function conformance(operation: Operation, answer: Answer): string[] {
  const problems: string[] = [];
  const { status } = answer;
  if (status >= 500) problems.push(`not_a_server_error: answered ${snippet(answer)}`);
  const documented =
    operation.op.responses[String(status)] ?? operation.op.responses[`${String(status)[0]}XX`] ?? operation.op.responses.default;
  if (!documented) {
    problems.push(
      `status_code_conformance: ${status} is not documented (documented: ${statusesOf(operation).join(', ')}); got ${snippet(answer)}`,
    );
    return problems;
  }
  const contentType = answer.headers.get('content-type');
  const content = documented.content ?? {};
  const mediaTypes = Object.keys(content);
  if (mediaTypes.length === 0) {
    if (answer.text !== '')
      problems.push(`content_type_conformance: ${status} documents no content, got ${contentType}: ${answer.text.slice(0, 200)}`);
  } else {
    const mediaType = documentedTypeOf(mediaTypes, contentType);
    if (!mediaType) {
      problems.push(`content_type_conformance: ${status} answered ${contentType}, documented ${mediaTypes.join(' | ')}`);
    } else if (isJsonType(mediaType)) {
      // anything else (`*/*`, text/html, ...) is binary here: status and type only
      if (answer.json === undefined) problems.push(`response_schema_conformance: ${status} body is not JSON: ${answer.text.slice(0, 200)}`);
      else {
        const errors = schemaErrors(content[mediaType]!.schema ?? true, answer.json);
        if (errors)
          problems.push(`response_schema_conformance: ${status} body does not match its schema (${errors}): ${answer.text.slice(0, 500)}`);
      }
    } else if (essence(mediaType) === 'text/event-stream') {
      problems.push(...eventStreamProblems(operation, status, answer.text));
    }
  }
  if (status >= 400 && isObj(answer.json) && isObj(answer.json.error)) {
    const codes = documentedCodes(documented);
    const code = answer.json.error.code;
    if (codes.length > 0 && !codes.includes(code as string))
      problems.push(`error_code_conformance: ${status} \`${String(code)}\` is not among the documented ${codes.join(', ')}`);
  }
  // A header documented as required is on the answer; a documented one that is optional is well-formed when present.
  const headers = Object.entries(documented.headers ?? {}).map(
    ([name, header]) => [name, deref(doc, header as { required?: boolean })] as const,
  );
  for (const [name, header] of headers) {
    if (header.required === true && answer.headers.get(name) === null) problems.push(`header ${name} is required on ${status} and missing`);
  }
  const policy = operation.op['x-rate-limit-policy'];
  for (const [name, format] of [
    ['RateLimit', RATE_LIMIT],
    ['RateLimit-Policy', RATE_LIMIT_POLICY],
  ] as const) {
    if (!headers.some(([documentedName]) => documentedName === name)) continue;
    const value = answer.headers.get(name);
    const match = value === null ? null : format.exec(value);
    if (value !== null && !match) problems.push(`${name} header malformed on ${status}: ${value}`);
    else if (match && policy !== undefined && match[1] !== policy)
      problems.push(`${name} names policy ${match[1]}, the operation documents ${policy}`);
  }
  return problems;
}

/**
 * An event stream as the server writes it: events separated by a blank line, each an `event:` line naming one of the
 * events the operation's description names in backticks ("SSE events: `prompt` {prompt} once stored, ...") and one
 * `data:` line of JSON; an `error` event carries an Error, like an error status would.
 */
const ERROR_SCHEMA: JsonSchema = { $ref: ERROR_REF };
function eventStreamProblems(operation: Operation, status: number, text: string): string[] {
  const named = new Set([...(operation.op.description ?? '').matchAll(/`([a-z][\w.-]*)`/g)].map((m) => m[1]!));
  const problems: string[] = [];
  if (!text.endsWith('\n\n'))
    problems.push(`event_stream_conformance: ${status} stream does not end with a complete event: ${JSON.stringify(text.slice(-200))}`);
  for (const block of text.split('\n\n').slice(0, -1)) {
    const [, name, data] = /^event: ([^\n]+)\ndata: ([^\n]*)$/.exec(block) ?? [];
    let parsed: unknown;
    try {
      parsed = data === undefined ? undefined : JSON.parse(data);
    } catch {
      parsed = undefined;
    }
    if (name === undefined || parsed === undefined)
      problems.push(`event_stream_conformance: not an event with JSON data: ${JSON.stringify(block.slice(0, 200))}`);
    else if (!named.has(name))
      problems.push(`event_stream_conformance: event \`${name}\` is not among those the description names (${[...named].join(', ')})`);
    else if (name === 'error') {
      const errors = schemaErrors(ERROR_SCHEMA, parsed);
      if (errors) problems.push(`event_stream_conformance: an \`error\` event's data is not an Error (${errors}): ${data!.slice(0, 300)}`);
    }
  }
  return problems;
}

class NonConformance extends Error {}
const fail = (operation: Operation, wire: Wire, problems: string[]): never => {
  throw new NonConformance(`${operation.label}\n  request: ${describe(wire)}\n  ${problems.join('\n  ')}`);
};

// ---------------------------------------------------------------------------------------------- the wire

/** A generated value as text in a URL: strings as they are, other scalars printed, objects and arrays as JSON. */
const asText = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : value === null
      ? ''
      : typeof value === 'object'
        ? JSON.stringify(value)
        : (value as number | boolean | bigint).toString();

/** A path segment. `toWellFormed`: a lone surrogate cannot be percent-encoded; U+FFFD keeps the value invalid. */
const segment = (value: unknown) => encodeURIComponent(asText(value).toWellFormed());

/** OpenAPI's default query style (form, exploded): arrays as repeated keys, objects as `name[key]=value` (qs-style). */
function queryString(values: Json): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) params.append(name, asText(item).toWellFormed());
    else if (isObj(value)) for (const [key, inner] of Object.entries(value)) params.append(`${name}[${key}]`, asText(inner).toWellFormed());
    else params.append(name, asText(value).toWellFormed());
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

const typesOf = (schema: JsonSchema): string[] =>
  !isObj(schema)
    ? []
    : typeof schema.type === 'string'
      ? [schema.type]
      : Array.isArray(schema.type)
        ? (schema.type as string[])
        : Array.isArray(schema.anyOf)
          ? (schema.anyOf as JsonSchema[]).flatMap(typesOf)
          : [];

/** Text read back as the parameter's schema types it (what a strict server may make of it): numbers, booleans, else text. */
function fromText(text: string, schema: JsonSchema): unknown {
  const types = typesOf(deref(doc, schema));
  if ((types.includes('integer') || types.includes('number')) && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) return Number(text);
  if (types.includes('boolean') && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

/** The query as it arrives: parsed back from the query string we send. */
function queryOnTheWire(operation: Operation, query: Json): Json {
  const read: Json = {};
  for (const [key, text] of new URLSearchParams(queryString(query).slice(1))) {
    const bracket = /^([^[]+)\[([^\]]*)\]$/.exec(key);
    const name = bracket ? bracket[1]! : key;
    const schema = operation.params[name]?.schema ?? true;
    if (bracket) read[name] = { ...(isObj(read[name]) ? read[name] : {}), [bracket[2]!]: text };
    else if (name in read) read[name] = [...[read[name]].flat(), fromText(text, schema)];
    else read[name] = fromText(text, schema);
  }
  return read;
}

/** The path parameters as they arrive; undefined when a value cannot be a segment (empty, `.` or `..` change the path). */
function pathOnTheWire(operation: Operation, path: Json): Json | undefined {
  const read: Json = {};
  for (const [name, value] of Object.entries(path)) {
    const text = decodeURIComponent(segment(value));
    if (text === '' || text === '.' || text === '..') return undefined;
    read[name] = fromText(text, operation.params[name]?.schema ?? true);
  }
  return read;
}

// ---------------------------------------------------------------------------------------------- files and other credentials

/**
 * A request body that is not JSON (`fileBody`: `multipart/form-data`, `application/octet-stream`) is a file, and its
 * schema (`{type: string, contentMediaType: application/octet-stream}`) says nothing a generator could aim at: valid
 * bodies are real small files (text, and a PNG made with sharp), invalid ones are files an upload must refuse.
 */
interface FileSpec {
  name: string;
  type: string;
  kind: 'text' | 'image' | 'audio';
  bytes: Buffer;
}
const FILES: FileSpec[] = [
  { name: 'notes.txt', type: 'text/plain', kind: 'text', bytes: Buffer.from('Notes from the property suite.\n') },
  { name: 'grüße.md', type: 'text/markdown', kind: 'text', bytes: Buffer.from('# Grüße ✓\n\nUTF-8 text.\n') },
  { name: 'pixel.png', type: 'image/png', kind: 'image', bytes: PNG },
];
const IMAGE = FILES.find((file) => file.kind === 'image')!,
  TEXT = FILES.find((file) => file.kind === 'text')!;
/** Operations that take an image only (their summary says so, their schema cannot): positives are mostly the PNG. */
const IMAGE_ONLY = new Set(['setProfilePicture']);
/** Voice notes are audio only (any other file is a 415): positives are short hand-made recordings (test/helpers/audio.ts). */
const AUDIO_ONLY = new Set(['uploadVoiceNote']);
const AUDIO: FileSpec[] = [
  { name: 'note.ogg', type: 'audio/ogg', kind: 'audio', bytes: oggOpus(2) },
  { name: 'note.mp3', type: 'audio/mpeg', kind: 'audio', bytes: mp3(2) },
];

const BOUNDARY = 'api-properties-7d1f0c';
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;
interface Part {
  name: string;
  filename?: string;
  type?: string;
  bytes: Buffer;
}
/** A multipart/form-data body, written out by hand so that broken ones can be sent too. */
function multipart(parts: Part[]): Buffer {
  return Buffer.concat([
    ...parts.flatMap((part) => [
      Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}\r\n` +
          `${part.type === undefined ? '' : `Content-Type: ${part.type}\r\n`}\r\n`,
      ),
      part.bytes,
      Buffer.from('\r\n'),
    ]),
    Buffer.from(`--${BOUNDARY}--\r\n`),
  ]);
}
const isMultipart = (type: string) => essence(type) === 'multipart/form-data';

/**
 * A file as each documented content type carries it: `multipart/form-data` as its one part (`file`) with its name, a
 * raw type as the body itself (named by `?filename=` where that is documented: see `filename` in overridesFor); and
 * the raw body with the file's own type, which the description allows ("the raw body with its Content-Type").
 */
function encodings(operation: Operation, file: FileSpec): RawBody[] {
  const part = operation.filePart ?? 'file';
  return [...new Set([...(operation.fileBody ?? []), file.type])].map((type) =>
    isMultipart(type)
      ? {
          label: `multipart ${file.name}`,
          contentType: MULTIPART,
          bytes: multipart([{ name: part, filename: file.name, type: file.type, bytes: file.bytes }]),
        }
      : { label: `raw ${file.name}`, contentType: type, bytes: file.bytes },
  );
}

/** A body an upload must refuse, the statuses it may answer, and the name a raw one goes by (`?filename=`). */
interface BadBody extends RawBody {
  expect: number[];
  filename?: string;
}
const HTML = Buffer.from('<!doctype html><html><body><script>alert(1)</script></body></html>');
const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="8" height="8"/></svg>');
/**
 * Markup (HTML named .png, SVG) and text that is not text (NUL, Latin-1) are refused by their bytes whatever they are
 * called: 415; a PNG named .txt: 415 (the name is of another kind than the bytes); a PNG cut short: 422 (cannot be
 * decoded); an empty file: 400; an image-only operation refuses text: 415. Sent in each documented encoding. Then
 * wrong content types: JSON (415; 400 when it does not even parse as JSON), a form, none at all; and broken
 * multipart bodies (no part `file`, two files, a field, no boundary): 400.
 */
function badBodies(operation: Operation): BadBody[] {
  // [file, statuses, whether only its name makes it bad]: a raw body has no name where `?filename=` is not documented.
  const bad: Array<[FileSpec, number[], boolean?]> = [
    [{ name: 'cat.png', type: 'image/png', kind: 'image', bytes: HTML }, [415]],
    [{ name: 'logo.svg', type: 'image/svg+xml', kind: 'image', bytes: SVG }, [415]],
    [{ name: 'nul.txt', type: 'text/plain', kind: 'text', bytes: Buffer.from('a\u0000b') }, [415]],
    [{ name: 'latin1.txt', type: 'text/plain', kind: 'text', bytes: Buffer.from('caf\xe9!', 'latin1') }, [415]],
    [{ name: 'report.txt', type: 'text/plain', kind: 'text', bytes: PNG }, [415], true],
    // A broken PNG is not audio either: a voice note refuses it as a 415.
    [
      { name: 'broken.png', type: 'image/png', kind: 'image', bytes: PNG.subarray(0, 40) },
      AUDIO_ONLY.has(operation.op.operationId) ? [415] : [422],
    ],
    [{ name: 'empty.txt', type: 'text/plain', kind: 'text', bytes: Buffer.alloc(0) }, [400]],
    ...(IMAGE_ONLY.has(operation.op.operationId) ? [[TEXT, [415]] as [FileSpec, number[]]] : []),
    ...(AUDIO_ONLY.has(operation.op.operationId) ? [[TEXT, [415]] as [FileSpec, number[]], [IMAGE, [415]] as [FileSpec, number[]]] : []),
  ];
  const takesName = operation.params.filename?.in === 'query';
  const bodies: BadBody[] = bad.flatMap(([file, expect, byName]) =>
    encodings(operation, file)
      .filter((body) => !byName || takesName || isMultipart(body.contentType ?? ''))
      .map((body) => ({ ...body, expect, ...(isMultipart(body.contentType ?? '') ? {} : { filename: file.name }) })),
  );
  bodies.push(
    {
      label: 'a JSON document',
      contentType: 'application/json',
      bytes: Buffer.from(JSON.stringify({ file: PNG.toString('base64') })),
      expect: [415],
    },
    { label: 'PNG bytes as JSON', contentType: 'application/json', bytes: PNG, expect: [400, 415] },
    { label: 'a form', contentType: 'application/x-www-form-urlencoded', bytes: Buffer.from('file=x'), expect: [415] },
    { label: 'PNG bytes without a Content-Type', contentType: undefined, bytes: PNG, expect: [415] },
  );
  if (operation.fileBody?.some(isMultipart)) {
    const file = { name: operation.filePart ?? 'file', filename: TEXT.name, type: TEXT.type, bytes: TEXT.bytes };
    bodies.push(
      {
        label: 'multipart, the file in another part',
        contentType: MULTIPART,
        bytes: multipart([{ ...file, name: `${file.name}2` }]),
        expect: [400],
      },
      { label: 'multipart, two files', contentType: MULTIPART, bytes: multipart([file, file]), expect: [400] },
      {
        label: 'multipart, a field and the file',
        contentType: MULTIPART,
        bytes: multipart([{ name: 'note', bytes: Buffer.from('hi') }, file]),
        expect: [400],
      },
      { label: 'multipart, no part', contentType: MULTIPART, bytes: multipart([]), expect: [400] },
      { label: 'multipart without a boundary', contentType: 'multipart/form-data', bytes: multipart([file]), expect: [400] },
    );
  }
  return bodies;
}

/** The query without `filename`, or with this one where the operation documents it. */
function named(operation: Operation, query: Json, filename: string | undefined): Json {
  const { filename: _dropped, ...rest } = query;
  return filename !== undefined && operation.params.filename?.in === 'query' ? { ...rest, filename } : rest;
}

/**
 * Request headers that the document describes in prose, not as parameters, while it documents their answers:
 * `Range` where 206 or 416 is documented, `If-None-Match` where 304 is ("Supports `Range` (206, 416), `If-None-Match` (304)"),
 * `Accept` where a 2xx is an event stream ("streams as server-sent events (`Accept: text/event-stream`)"), or JSON.
 */
function conditionalHeaders(operation: Operation): fc.Arbitrary<Record<string, string>> {
  const model: Record<string, fc.Arbitrary<string>> = {};
  const { responses } = operation.op;
  if (responses['206'] ?? responses['416'])
    model.range = fc.constantFrom('bytes=0-3', 'bytes=2-', 'bytes=-3', 'bytes=0-0,2-3', 'bytes=1000000-', 'bytes=9-2', 'lines=1-2');
  if (responses['304']) model['if-none-match'] = fc.constantFrom('*', '"not-this-one"', 'W/"nor-this"');
  const streams = Object.entries(responses).some(
    ([status, response]) => /^2/.test(status) && Object.keys(response.content ?? {}).some((type) => essence(type) === 'text/event-stream'),
  );
  if (streams) model.accept = fc.constantFrom('text/event-stream', 'application/json', 'text/event-stream, application/json;q=0.5');
  return Object.keys(model).length === 0
    ? fc.constant({})
    : (fc.record(model, { requiredKeys: [] }) as fc.Arbitrary<Record<string, string>>);
}

/**
 * A credential in the query, the alternative to the bearer on some operations (`apiKey` `in: query`: the media token
 * `?token=`), and the operation that issues it, as its scheme's description names it ("From POST /api/media/{id}/token: ...").
 */
interface QueryCredential {
  scheme: string;
  param: string;
  issuer: Operation;
}
function queryCredentialOf(operation: Operation): QueryCredential | undefined {
  const schemes = (doc.components.securitySchemes ?? {}) as Record<string, Json>;
  for (const scheme of (operation.op.security ?? []).flatMap((requirement) => Object.keys(requirement))) {
    const definition = schemes[scheme];
    if (definition?.type !== 'apiKey' || definition.in !== 'query') continue;
    const [, method, template] = /\bFrom (GET|POST|PUT|PATCH) (\/[^\s:]+)/.exec(String(definition.description)) ?? [];
    const issuer = operations.find((o) => o.method === method && o.template === template);
    if (!issuer) throw new Error(`${operation.label}: the description of scheme ${scheme} names no operation that issues it`);
    return { scheme, param: String(definition.name), issuer };
  }
  return undefined;
}
const queryCredentials = new Map(
  operations.flatMap((operation) => {
    const credential = queryCredentialOf(operation);
    return credential ? [[operation, credential] as const] : [];
  }),
);

/** What the issuer gives `caller` for these path parameters (its answer's `token`), or undefined when it refuses. */
async function issued(credential: QueryCredential, caller: User, path: Json): Promise<string | undefined> {
  const answer = await api(credential.issuer.op.operationId, caller, { path });
  return answer.status === 200 && isObj(answer.json) && typeof answer.json.token === 'string' ? answer.json.token : undefined;
}

// ---------------------------------------------------------------------------------------------- fixtures

type User = Awaited<ReturnType<typeof registerUser>>;
type Person = 'alice' | 'bob' | 'carol';
type CallerName = Person | 'fresh' | 'anonymous';
const PASSWORD = 'correct horse battery';

/**
 * What the ids of generated requests point at: three users registered for each test (so that a block, a revoked
 * token or a transferred group does not leak into the next one), a group alice owns with bob in it (carol is not),
 * messages between alice and bob and in the group, and bob among alice's contacts when the API has contacts. When the
 * API has uploads: each user's files (two texts and the PNG; the PNG is also an image, for group icons), one of alice's
 * attached to her message to bob (so bob may read it), and alice's profile picture. Leta's and the calls' operations
 * get theirs too (see Leta and Calls).
 */
interface Fixture {
  users: Record<Person, User>;
  userIds: string[];
  groupIds: string[];
  messageIds: string[];
  media: Record<Person, Uploads>;
  mediaIds: string[];
  ai: Leta;
  calls: Calls;
  /** Invite links (tag `groups`, invite and join-request routes): alice's to her group, and carol's pending request. */
  invites: Invites;
  /** Exports each user asked for (finished: a download is a 200). */
  exportIds: Record<Person, string[]>;
  /** Push subscriptions each user registered (tag `push`), at the stand-in push service. */
  pushSubscriptionIds: Record<Person, string[]>;
  /** Webhooks each user registered (tag `webhooks`), at the stand-in on loopback. */
  webhookIds: Record<Person, string[]>;
  /** Messages each user scheduled (a minute ahead of the sweep's end at least: editing and cancelling them is a 200). */
  scheduledIds: Record<Person, string[]>;
  /** End-to-end encryption keys each user published (retiring one is a 200, an unknown id a 404). */
  keyIds: Record<Person, string[]>;
  /** Bot accounts each user made (tag `bots`: rotating, revoking and deleting one of yours is a 2xx). */
  botIds: Record<Person, string[]>;
}
interface Invites {
  inviteIds: string[];
  tokens: string[];
  /** Join requests waiting in alice's second group, which approves joins (its id is among `groupIds`). */
  requestIds: string[];
  /** Alice's open and approving groups. */
  groupIds: string[];
}
const NO_INVITES: Invites = { inviteIds: [], tokens: [], requestIds: [], groupIds: [] };
interface Uploads {
  files: string[];
  images: string[];
}
/** Leta (tag `ai`): alice and bob set a Gemini key (carol did not: her prompts are a 409), each has a personality. */
interface Leta {
  personalities: Record<Person, string[]>;
}
/**
 * Calls (tag `calls`): each user's open socket (a call is answered on one: `connectionId`), and dave (a fourth user,
 * so that the pairs of the three stay free to call each other) ringing each of them and the three in a group of his.
 * `parties`: everyone who may have started a call, to hang up after the test.
 */
interface Calls {
  connections: Partial<Record<Person, number>>;
  own: Record<Person, string[]>;
  callIds: string[];
  parties: User[];
}

interface Generated {
  caller: CallerName;
  path: Json;
  query: Json;
  body: unknown;
  rawPath?: Record<string, string>;
  /** Request headers the document describes in prose (see conditionalHeaders). */
  headers?: Record<string, string>;
  /** `query`: the caller authenticates with a query credential it was issued (see QueryCredential), not its bearer. */
  credential?: 'bearer' | 'query';
}

function wireOf(operation: Operation, input: Generated, token: string | undefined): Wire {
  const path = operation.template.replace(/\{([^}]+)\}/g, (_, name: string) => input.rawPath?.[name] ?? segment(input.path[name]));
  return {
    method: operation.method,
    path: path + queryString(input.query),
    token,
    headers: input.headers,
    body:
      operation.bodySchema !== undefined && input.body !== undefined
        ? JSON.stringify(input.body)
        : operation.fileBody && isRawBody(input.body)
          ? input.body
          : undefined,
  };
}

/** The wire of a generated input, with the caller's bearer, or with a query credential issued to the caller for that path. */
async function wireFor(operation: Operation, input: Generated, fixture: Fixture): Promise<Wire> {
  const credential = queryCredentials.get(operation);
  if (input.credential !== 'query' || !credential || !(input.caller in fixture.users))
    return wireOf(operation, input, await tokenOf(input.caller, fixture));
  // Refused (a file the caller may not read): no credential at all, a documented 401.
  const token = await issued(credential, fixture.users[input.caller as Person], input.path);
  return wireOf(operation, { ...input, query: { ...input.query, [credential.param]: token } }, undefined);
}

async function tokenOf(caller: CallerName, fixture: Fixture): Promise<string | undefined> {
  if (caller === 'anonymous') return undefined;
  if (caller === 'fresh') return (await registerUser(app.url)).accessToken;
  return fixture.users[caller].accessToken;
}

/** One request by operation id, checked like every generated one: the fixtures and chains speak the documented API too. */
async function api(
  operationId: string,
  caller: User | null,
  input: { path?: Json; query?: Json; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const operation = byId(operationId);
  const generated = {
    caller: 'anonymous' as const,
    path: input.path ?? {},
    query: input.query ?? {},
    body: input.body,
    headers: input.headers,
  };
  const wire = wireOf(operation, generated, caller?.accessToken);
  const answer = await send(wire);
  const problems = conformance(operation, answer);
  if (problems.length > 0) fail(operation, wire, problems);
  return answer;
}

/** `api`, expecting one status; the body (a parsed JSON object) on success. */
async function expectStatus(
  t: ExecutionContext,
  status: number,
  operationId: string,
  caller: User | null,
  input: Parameters<typeof api>[2] = {},
): Promise<any> {
  const answer = await api(operationId, caller, input);
  t.is(answer.status, status, `${operationId} ${JSON.stringify(input).slice(0, 200)}: ${snippet(answer)}`);
  return answer.json;
}

const documents = (operationId: string) => operations.some((operation) => operation.op.operationId === operationId);

/** Two texts and the PNG, in turn as each documented encoding carries them (multipart, raw octet-stream, raw own type). */
async function uploadsOf(user: User): Promise<Uploads> {
  if (!documents('uploadMedia')) return { files: [], images: [] };
  const operation = byId('uploadMedia');
  const stored = await Promise.all(
    FILES.map(async (file, i) => {
      const bodies = encodings(operation, file);
      const { media } = await must(201, 'uploadMedia', user, { query: named(operation, {}, file.name), body: bodies[i % bodies.length] });
      return { id: media.id as string, kind: file.kind };
    }),
  );
  return { files: stored.map((m) => m.id), images: stored.filter((m) => m.kind === 'image').map((m) => m.id) };
}

/** The fixture of one test; `operation` says which of the more costly parts it needs (Leta, calls), by its tag. */
async function freshFixture(operation?: Operation): Promise<Fixture> {
  const [alice, bob, carol] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const users = { alice, bob, carol };
  const tags = operation?.op.tags ?? [];
  const group = (await api('createGroup', alice, { body: { name: 'Fixture', memberIds: [bob.user.id] } })).json as any;
  const [aliceMedia, bobMedia, carolMedia] = await Promise.all([uploadsOf(alice), uploadsOf(bob), uploadsOf(carol)]);
  const avatar = documents('setProfilePicture')
    ? [
        (await must(200, 'setProfilePicture', alice, { body: encodings(byId('setProfilePicture'), IMAGE)[0] })).profile
          .avatarMediaId as string,
      ]
    : [];
  const sent = await Promise.all([
    api('sendMessage', alice, {
      body: {
        recipientId: bob.user.id,
        text: 'alice to bob',
        ...(aliceMedia.files.length > 0 ? { attachments: aliceMedia.files.slice(0, 1) } : {}),
      },
    }),
    api('sendMessage', bob, { body: { recipientId: alice.user.id, text: 'bob to alice' } }),
    api('sendMessage', alice, { body: { groupId: group.group.id, text: 'alice to the group' } }),
  ]);
  if (documents('addContact')) await api('addContact', alice, { body: { userId: bob.user.id } });
  const keyIds = { alice: [] as string[], bob: [] as string[], carol: [] as string[] };
  if (documents('publishEncryptionKey')) {
    for (const [person, user] of Object.entries(users) as Array<[Person, User]>) {
      const keyId = `fixture-${person}`;
      await must(200, 'publishEncryptionKey', user, { body: { keyId, publicKey: randomBytes(32).toString('base64') } });
      keyIds[person].push(keyId);
    }
  }
  const scheduledIds = { alice: [] as string[], bob: [] as string[], carol: [] as string[] };
  if (operation?.template.includes('/scheduled-messages/')) {
    for (const [person, user] of Object.entries(users) as Array<[Person, User]>) {
      const sendAt = new Date(Date.now() + 86_400_000).toISOString();
      const answer = (
        await api('sendMessage', user, {
          body: { recipientId: alice.user.id === user.user.id ? bob.user.id : alice.user.id, text: 'later', sendAt },
        })
      ).json as any;
      if (answer?.scheduled?.id) scheduledIds[person].push(answer.scheduled.id);
    }
  }
  const invites = /invites|join-requests/.test(operation?.template ?? '') ? await invitesFixture(users) : NO_INVITES;
  const exportIds = { alice: [] as string[], bob: [] as string[], carol: [] as string[] };
  if (/\/export\/\{id\}/.test(operation?.template ?? '')) {
    for (const [person, user] of Object.entries(users) as Array<[Person, User]>) exportIds[person].push(await finishedExport(user));
  }
  const pushSubscriptionIds = { alice: [] as string[], bob: [] as string[], carol: [] as string[] };
  if (tags.includes('push') && documents('addPushSubscription')) {
    for (const [person, user] of Object.entries(users) as Array<[Person, User]>) {
      const body = { endpoint: `${PUSH_ENDPOINT}${randomUUID()}`, keys: pushKeys() };
      pushSubscriptionIds[person].push((await must(201, 'addPushSubscription', user, { body })).subscription.id);
    }
  }
  const webhookIds = { alice: [] as string[], bob: [] as string[], carol: [] as string[] };
  if (tags.includes('webhooks') && documents('registerWebhook')) {
    for (const [person, user] of Object.entries(users) as Array<[Person, User]>) {
      const body = { url: `${PUSH_ENDPOINT}${randomUUID()}`, events: ['message.created'] };
      for (let i = 0; i < 2; i++) webhookIds[person].push((await must(201, 'registerWebhook', user, { body })).webhook.id);
    }
  }
  // Transcribing needs a voice note (alice's, to bob) and a Gemini key (Leta's fixture: the fake Gemini answers).
  const transcribing = operation?.op.operationId === 'transcribeMessage';
  if (transcribing) {
    const upload = byId('uploadVoiceNote');
    const body = encodings(upload, AUDIO[0]!)[0];
    const { media } = await must(201, 'uploadVoiceNote', alice, { query: { waveform: waveform().join(',') }, body });
    sent.push(await api('sendMessage', alice, { body: { recipientId: bob.user.id, text: '🎤', attachments: [media.id] } }));
  }
  const botIds = { alice: [] as string[], bob: [] as string[], carol: [] as string[] };
  if (tags.includes('bots') && documents('createBot')) {
    for (const [person, user] of Object.entries(users) as Array<[Person, User]>) {
      for (let index = 0; index < 3; index++) {
        const body = { username: `fbot${randomBytes(6).toString('hex')}` };
        botIds[person].push((await must(201, 'createBot', user, { body })).bot.id);
      }
    }
  }
  // The audit routes exist only for auditors: alice is one (as an operator's grant-auditor makes her), bob and carol not.
  if (tags.includes('audit')) await grantAuditor(alice);
  return {
    users,
    userIds: [alice, bob, carol].map((u) => u.user.id),
    groupIds: [group.group.id, ...invites.groupIds],
    messageIds: sent.map((answer) => (answer.json as any).message.id),
    media: { alice: aliceMedia, bob: bobMedia, carol: carolMedia },
    mediaIds: [aliceMedia, bobMedia, carolMedia].flatMap((uploads) => uploads.files).concat(avatar),
    ai: tags.includes('ai') || transcribing ? await letaFixture(users) : { personalities: { alice: [], bob: [], carol: [] } },
    calls: tags.includes('calls')
      ? await callsFixture(users, { ringing: operation?.op.operationId !== 'initiateCall' })
      : { connections: {}, own: { alice: [], bob: [], carol: [] }, callIds: [], parties: [] },
    scheduledIds,
    pushSubscriptionIds,
    webhookIds,
    invites,
    exportIds,
    keyIds,
    botIds,
  };
}

/**
 * The fixture of a negative test. Each negative test asserts that it appended nothing, so it leaves its fixture as it
 * found it: operations that need the same parts share one, built by the first of them. Calls (their ringing times out)
 * and exports (they expire) are made fresh for each test, as for the positive ones, which change what they are given.
 */
const negativeFixtures = new Map<string, Promise<Fixture>>();
function negativeFixture(operation: Operation): { fixture: Promise<Fixture>; shared: boolean } {
  const tags = operation.op.tags ?? [];
  if (tags.includes('calls') || /\/export\/\{id\}/.test(operation.template)) return { fixture: freshFixture(operation), shared: false };
  const parts = JSON.stringify([
    tags.includes('ai'),
    tags.includes('push'),
    tags.includes('audit'),
    operation.template.includes('/scheduled-messages/'),
    /invites|join-requests/.test(operation.template),
    operation.op.operationId === 'transcribeMessage',
  ]);
  let fixture = negativeFixtures.get(parts);
  if (!fixture) negativeFixtures.set(parts, (fixture = freshFixture(operation)));
  return { fixture, shared: true };
}

/**
 * Alice's invite link to a new group of hers (bob and carol may join through it), and a second group of hers that
 * approves joins, with carol's request waiting (approving or declining it is a 200 once).
 */
async function invitesFixture(users: Record<Person, User>): Promise<Invites> {
  const { alice, carol } = users;
  const open = (await must(201, 'createGroup', alice, { body: { name: 'Open', memberIds: [] } })).group.id as string;
  const invite = (await must(201, 'createGroupInvite', alice, { path: { id: open }, body: {} })).invite;
  const gated = (await must(201, 'createGroup', alice, { body: { name: 'Gated', memberIds: [] } })).group.id as string;
  await must(200, 'changeGroupSettings', alice, { path: { id: gated }, body: { approveJoins: true } });
  const gatedInvite = (await must(201, 'createGroupInvite', alice, { path: { id: gated }, body: {} })).invite;
  const asked = await must(202, 'joinGroupByInvite', carol, { path: { token: gatedInvite.token } });
  await settled();
  return {
    inviteIds: [invite.id, gatedInvite.id],
    tokens: [invite.token, gatedInvite.token],
    requestIds: [asked.request.id],
    groupIds: [open, gated],
  };
}

/** A browser subscription's keys (RFC 8291): an uncompressed P-256 public key and a 16-byte auth secret. */
const pushKeys = () => ({
  p256dh: createECDH('prime256v1').generateKeys().toString('base64url'),
  auth: randomBytes(16).toString('base64url'),
});

/** Until the event store's head stops moving: what a fixture set off (a join request's follow-ups) is not a test's stray event. */
async function settled(): Promise<void> {
  let last = await head();
  for (let attempt = 0; attempt < 40; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = await head();
    if (now === last && attempt >= 3) return;
    last = now;
  }
}

/** An export of the user's data, waited for until it is ready (a few hundred ms for a fixture's data). */
async function finishedExport(user: User): Promise<string> {
  const id = (await must(202, 'requestDataExport', user, {})).export.id as string;
  for (let attempt = 0; attempt < 100; attempt++) {
    if ((await must(200, 'getDataExport', user, { path: { id } })).export.status !== 'pending') return id;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the fixture export did not finish');
}

async function grantAuditor(user: User): Promise<void> {
  const correlationId = `test:grant-auditor:${randomUUID()}`;
  const result = await new CommandHandler(app.eventStore, eventUpcaster).handle(auditorDecider, AUDITORS_STREAM, {
    type: 'GrantAuditor',
    data: { userId: user.user.id, userExists: true },
    metadata: { commandId: randomUUID(), correlationId, causationId: correlationId, userId: null, now: new Date().toISOString() },
  });
  if (result.position !== null) await app.projections.waitFor(result.position);
}

async function letaFixture(users: Record<Person, User>): Promise<Leta> {
  for (const person of ['alice', 'bob'] as const) {
    await must(200, 'setApiKey', users[person], {
      path: { userId: users[person].user.id },
      body: { apiKey: GEMINI_KEY, provider: 'gemini' },
    });
  }
  const personalities = { alice: [] as string[], bob: [] as string[], carol: [] as string[] };
  for (const person of Object.keys(users) as Person[]) {
    const body = { name: `${person}'s pirate`, instructions: 'Talk like a pirate.', temperature: 1.2 };
    personalities[person].push((await must(201, 'createPersonality', users[person], { body })).personality.id);
  }
  return { personalities };
}

/**
 * Sockets for everyone, and (with `ringing`) a direct call to each person and a group call. A person is in one call at
 * a time, so the fixture for starting calls leaves everyone free.
 */
async function callsFixture(users: Record<Person, User>, { ringing }: { ringing: boolean }): Promise<Calls> {
  const before = await head();
  const opened = await Promise.all(Object.values(users).map((user) => connect(app.wsUrl, user.accessToken)));
  sockets.push(...opened);
  const welcomes = await Promise.all(opened.map((socket) => socket.next((frame) => frame.type === 'welcome')));
  // A user's first socket records that they came online, in the background: waited for, so that it is not taken for
  // a stray event of the first generated request.
  const online = (events: Array<{ type: string; data: unknown }>) =>
    Object.values(users).every((user) =>
      events.some((event) => event.type === 'UserCameOnline' && (event.data as Json).userId === user.user.id),
    );
  if (!online(await eventually(() => app.eventStore.readAll({ after: before }), online)))
    throw new Error("the fixture's sockets did not come online");
  const persons = Object.keys(users) as Person[];
  const dave = await registerUser(app.url);
  const group = (await must(201, 'createGroup', dave, { body: { name: 'Calls', memberIds: persons.map((p) => users[p].user.id) } })).group;
  const own = { alice: [] as string[], bob: [] as string[], carol: [] as string[] };
  // A person is in one call at a time, so each direct call has a caller of its own.
  const callers: User[] = [];
  for (const person of ringing ? persons : []) {
    const caller = await registerUser(app.url);
    callers.push(caller);
    own[person].push((await must(201, 'initiateCall', caller, { body: { calleeId: users[person].user.id, media: 'audio' } })).call.id);
  }
  if (ringing) {
    const groupCall = (await must(201, 'initiateCall', dave, { body: { groupId: group.id, media: 'video' } })).call.id as string;
    for (const person of persons) own[person].push(groupCall);
  }
  return {
    connections: Object.fromEntries(persons.map((person, i) => [person, welcomes[i].connectionId as number])),
    own,
    callIds: [...new Set(Object.values(own).flat())],
    parties: [...Object.values(users), dave, ...callers],
  };
}

/** Ends every call of the fixture still ringing or on, as its caller (who alone ends a group call for everyone). */
async function hangUp(fixture: Fixture): Promise<void> {
  for (const party of fixture.calls.parties) {
    for (const call of (await must(200, 'listCalls', party, { query: { limit: 100 } })).calls) {
      if (call.state !== 'ended' && call.callerId === party.user.id) await must(200, 'endCall', party, { path: { id: call.id }, body: {} });
    }
  }
}

test.before((t) => {
  t.log(`fast-check seed ${SEED} (FC_SEED), ${RUNS} runs per operation (FC_RUNS), ${operations.length} documented operations`);
});

// ---------------------------------------------------------------------------------------------- generators

const uuid = fc.uuid({ version: 4 });
/** Real ids most of the time (so calls succeed, or meet 403/409), random ones otherwise (404). */
const realOrRandom = (ids: string[]) =>
  ids.length === 0 ? uuid : fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ids) }, { weight: 1, arbitrary: uuid });
const freshName = fc.stringMatching(/^[a-z][a-z0-9_]{5,20}$/);
const NO_UPLOADS: Uploads = { files: [], images: [] };

/**
 * Arbitraries for properties by name, at any depth: ids of the fixtures, and identities that can register or log in.
 * `{id}` names a resource of the collection before it in the path (`/api/groups/{id}` → a group). Files depend on the
 * caller (its own it may read, delete and attach; others' are 404 or 422) and a file's name on the file being sent.
 * Leta's personalities and calls likewise: mostly the caller's own, sometimes anyone's, sometimes random.
 */
function overridesFor(operation: Operation, fixture: Fixture, caller: CallerName, file?: FileSpec): Record<string, fc.Arbitrary<unknown>> {
  const users = realOrRandom(fixture.userIds),
    groups = realOrRandom(fixture.groupIds),
    messages = realOrRandom(fixture.messageIds);
  const person = caller in fixture.users ? (caller as Person) : undefined;
  const own = person ? fixture.media[person] : NO_UPLOADS;
  const anyMedia = fixture.mediaIds.length > 0 ? realOrRandom(fixture.mediaIds) : uuid;
  const media =
    own.files.length > 0 ? fc.oneof({ weight: 1, arbitrary: fc.constantFrom(...own.files) }, { weight: 1, arbitrary: anyMedia }) : anyMedia;
  const mostlyOwn = (mine: string[], all: string[]) =>
    all.length === 0
      ? uuid
      : mine.length === 0
        ? realOrRandom(all)
        : fc.oneof({ weight: 1, arbitrary: fc.constantFrom(...mine) }, { weight: 1, arbitrary: realOrRandom(all) });
  // A personality: the caller's own, anyone's (404), or Leta's built-in one (read-only: updating or deleting it, 400).
  const personalities = fc.oneof(
    { weight: 3, arbitrary: mostlyOwn(person ? fixture.ai.personalities[person] : [], Object.values(fixture.ai.personalities).flat()) },
    { weight: 1, arbitrary: fc.constant('leta') },
  );
  const calls = mostlyOwn(person ? fixture.calls.own[person] : [], fixture.calls.callIds);
  // Leta's routes under /{userId} are the caller's own (another id is a 404, by design): mostly the caller's id there.
  const self =
    person && operation.op.tags?.includes('ai') && operation.params.userId?.in === 'path'
      ? fc.oneof({ weight: 3, arbitrary: fc.constant(fixture.users[person].user.id) }, { weight: 1, arbitrary: users })
      : users;
  // The socket that answers a call: mostly one of the caller's, else another user's (400: not one of yours).
  const connections = Object.values(fixture.calls.connections);
  const mine = person ? fixture.calls.connections[person] : undefined;
  const connectionId: Record<string, fc.Arbitrary<number>> = connections.length === 0
    ? {}
    : mine === undefined
      ? { connectionId: fc.constantFrom(...connections) }
      : { connectionId: fc.oneof({ weight: 3, arbitrary: fc.constant(mine) }, { weight: 1, arbitrary: fc.constantFrom(...connections) }) };
  const collection = /\/([\w-]+)\/\{id\}/.exec(operation.template)?.[1];
  const emails = Object.values(fixture.users).map((u) => u.email);
  return {
    recipientId: users,
    userId: self,
    with: users,
    groupId: groups,
    messageId: messages,
    replyTo: messages,
    calleeId: users,
    personalityId: personalities,
    ...connectionId,
    keyId: mostlyOwn(person ? fixture.keyIds[person] : [], Object.values(fixture.keyIds).flat()),
    memberIds: fc.array(users, { maxLength: 3 }),
    userIds: fc.array(users, { minLength: 1, maxLength: 5 }).map((ids) => ids.join(',')), // a comma-separated query parameter
    ...(collection === 'groups'
      ? { id: groups }
      : collection === 'messages'
        ? { id: messages }
        : collection === 'users'
          ? { id: users }
          : collection === 'media'
            ? { id: media }
            : collection === 'personalities'
              ? { id: personalities }
              : collection === 'calls'
                ? { id: calls }
                : collection === 'threads'
                  ? { id: messages } // a thread is named by its root message
                  : collection === 'export'
                    ? { id: realOrRandom(fixture.exportIds[person ?? 'alice']) }
                    : collection === 'scheduled-messages'
                      ? { id: realOrRandom(fixture.scheduledIds[person ?? 'alice']) }
                      : collection === 'bots'
                        ? { id: realOrRandom(fixture.botIds[person ?? 'alice']) }
                        : {}),
    // A message attaches its sender's own live files (anyone else's, or a random id: 422 invalid_attachment); a group
    // icon is an image its setter uploaded (likewise).
    attachments: fc.oneof(
      { weight: 3, arbitrary: fc.subarray(own.files) },
      { weight: 1, arbitrary: fc.array(media, { minLength: 1, maxLength: 3 }) },
    ),
    iconMediaId: fc.oneof(fc.constant(null), own.images.length > 0 ? realOrRandom(own.images) : uuid),
    // An upload goes by its file's name mostly (a random name may be of another kind: 415 extension_mismatch); a
    // few upload ids, so that retries (200, the first upload) happen.
    ...(file
      ? { filename: fc.oneof({ weight: 3, arbitrary: fc.constant(file.name) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) }) }
      : {}),
    clientUploadId: fc.constantFrom('upload-1', 'upload-2', 'upload-3'),
    // Fresh identities register; the fixtures' are taken (409) or log in; a random string is refused (400 or 401).
    email: fc.oneof(
      freshName.map((n) => `${n}@example.test`),
      fc.constantFrom(...emails),
      fc.string({ maxLength: 20 }),
    ),
    username: fc.oneof(
      { weight: 2, arbitrary: freshName },
      { weight: 1, arbitrary: fc.constantFrom(...Object.values(fixture.users).map((u) => u.user.username)) },
      { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
    ),
    password: fc.oneof({ weight: 2, arbitrary: fc.constant(PASSWORD) }, { weight: 1, arbitrary: fc.string({ maxLength: 80 }) }),
    // Push subscriptions point at the stand-in push service (see pushService), with real keys (refinements).
    endpoint: fc.uuid().map((id) => `${PUSH_ENDPOINT}${id}`),
    p256dh: fc.constant(null).map(() => pushKeys().p256dh),
    auth: fc.constant(null).map(() => pushKeys().auth),
    subscriptionId: realOrRandom(fixture.pushSubscriptionIds[person ?? 'alice']),
    // Webhooks point at the stand-in on loopback too (WEBHOOK_ALLOW_PRIVATE).
    url: fc.uuid().map((id) => `${PUSH_ENDPOINT}${id}`),
    webhookId: realOrRandom(fixture.webhookIds[person ?? 'alice']),
    inviteId: realOrRandom(fixture.invites.inviteIds),
    ...(fixture.invites.tokens.length > 0 ? { token: fc.constantFrom(...fixture.invites.tokens) } : {}),
    requestId: realOrRandom(fixture.invites.requestIds),
    // A conversation: alice and bob's, or the fixture's first group.
    conversationId: fc.constantFrom(`dm:${[...fixture.userIds.slice(0, 2)].sort().join(':')}`, `group:${fixture.groupIds[0]}`),
    // A reaction is one RGI emoji (a refinement the document cannot say): a random string is mostly a 400, an empty one no route.
    emoji: fc.constantFrom('👍', '👍🏽', '👩‍💻', '❤️', '😂'),
    // A scheduled send is 10 s to 1 year ahead of the server's clock (a refinement): a minute to a month from now.
    sendAt: fc.integer({ min: 60, max: 30 * 86_400 }).map((seconds) => new Date(Date.now() + seconds * 1000).toISOString()),
    // A voice note's peaks travel as a comma-separated query parameter, 16 to 128 of them.
    waveform: fc.constant(waveform().join(',')),
  };
}

/**
 * Cross-field rules zod checks with `.refine`, which the document cannot express (zod-openapi renders no refinement).
 * Three in four positive inputs are steered to respect them so that the success paths are reached; the others are
 * left as generated, and the server answers them with a documented 400.
 */
const exactlyOne = (o: unknown, a: string, b: string) => isObj(o) && (o[a] === undefined) !== (o[b] === undefined);
const CROSS_FIELD_RULES: Record<string, (input: Generated) => boolean> = {
  sendMessage: ({ body }) => exactlyOne(body, 'recipientId', 'groupId') && exactlyOne(body, 'text', 'encrypted'),
  editMessage: ({ body }) => exactlyOne(body, 'text', 'encrypted'),
  markRead: ({ body }) => exactlyOne(body, 'with', 'groupId'),
  setDisappearingTimer: ({ body }) => exactlyOne(body, 'with', 'groupId'),
  listMessages: ({ query }) => exactlyOne(query, 'with', 'groupId') && (query.before === undefined || query.after === undefined),
  updateGroup: ({ body }) => isObj(body) && Object.values(body).some((v) => v !== undefined),
  addContact: ({ body }) => exactlyOne(body, 'userId', 'username'),
  initiateCall: ({ body }) => exactlyOne(body, 'calleeId', 'groupId'),
};

/**
 * Operations that would spoil the fixture for the runs after them: each run of these gets a throwaway caller.
 * `logout` revokes the caller's token (every later call as that user would be a 401).
 */
const THROWAWAY_CALLER = new Set(['logout']);

function callers(operation: Operation): fc.Arbitrary<CallerName> {
  if (!operation.secured) return fc.constant('anonymous');
  if (THROWAWAY_CALLER.has(operation.op.operationId)) return fc.constant('fresh');
  return fc.constantFrom('alice', 'bob', 'carol');
}

/** The files a positive input sends: any of them, or mostly the image where only an image is taken. */
function filesFor(operation: Operation): fc.Arbitrary<FileSpec | undefined> {
  if (!operation.fileBody) return fc.constant(undefined);
  if (AUDIO_ONLY.has(operation.op.operationId)) return fc.constantFrom(...AUDIO);
  if (!IMAGE_ONLY.has(operation.op.operationId)) return fc.constantFrom(...FILES);
  return fc.oneof({ weight: 3, arbitrary: fc.constant(IMAGE) }, { weight: 1, arbitrary: fc.constantFrom(...FILES) });
}

/** Path, query and body generated valid for this caller and file (a file body: the file in one of its encodings). */
function inputsOf(operation: Operation, fixture: Fixture, caller: CallerName, file: FileSpec | undefined): fc.Arbitrary<Generated> {
  const options = { rootDocument: doc, overrides: overridesFor(operation, fixture, caller, file) };
  return fc.record({
    caller: fc.constant(caller),
    path: operation.pathSchema ? (valid(operation.pathSchema, options) as fc.Arbitrary<Json>) : fc.constant({}),
    query: operation.querySchema ? (valid(operation.querySchema, options) as fc.Arbitrary<Json>) : fc.constant({}),
    body: operation.bodySchema
      ? valid(operation.bodySchema, options)
      : file
        ? fc.constantFrom(...encodings(operation, file))
        : fc.constant(undefined),
  });
}

function validInputs(operation: Operation, fixture: Fixture): fc.Arbitrary<Generated> {
  const built = new Map<string, fc.Arbitrary<Generated>>(); // once per caller and file: building arbitraries is not free
  const extras = fc.record({
    headers: conditionalHeaders(operation),
    credential: queryCredentials.has(operation) ? fc.constantFrom<'bearer' | 'query'>('bearer', 'query') : fc.constant(undefined),
  });
  const generated: fc.Arbitrary<Generated> = fc.tuple(callers(operation), filesFor(operation)).chain(([caller, file]) => {
    const key = `${caller}:${file?.name}`;
    if (!built.has(key))
      built.set(
        key,
        fc.tuple(inputsOf(operation, fixture, caller, file), extras).map(([input, more]) => ({ ...input, ...more })),
      );
    return built.get(key)!;
  });
  const rule = CROSS_FIELD_RULES[operation.op.operationId];
  return rule ? fc.oneof({ weight: 1, arbitrary: generated }, { weight: 3, arbitrary: generated.filter(rule) }) : generated;
}

const tally = (counts: Map<number, number>) =>
  [...counts]
    .sort(([a], [b]) => a - b)
    .map(([status, n]) => `${status}×${n}`)
    .join(' ');

// ---------------------------------------------------------------------------------------------- the document's validity

test.serial(
  'the document is valid OpenAPI 3.1, its $refs resolve, and each operation documents a 2xx and its errors as Error',
  async (t) => {
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(JSON.stringify(doc)) as Json);
    t.true(result.valid, JSON.stringify(result.errors, null, 2)?.slice(0, 3000));
    t.is(validator.version, '3.1');

    const unresolved: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) node.forEach((item, i) => walk(item, `${at}/${i}`));
      else if (isObj(node)) {
        if (typeof node.$ref === 'string' && pointer(doc, node.$ref) === undefined) unresolved.push(`${at}: ${node.$ref}`);
        for (const [key, value] of Object.entries(node)) walk(value, `${at}/${key}`);
      }
    };
    walk(doc, '#');
    t.deepEqual(unresolved, [], 'every $ref resolves');

    t.true(operations.length > 0);
    t.is(new Set(operations.map((o) => o.op.operationId)).size, operations.length, 'operation ids are unique');
    const schemes = Object.keys(doc.components.securitySchemes ?? {});
    for (const operation of operations) {
      const statuses = statusesOf(operation);
      t.true(
        statuses.some((s) => /^2/.test(s)),
        `${operation.label} documents a 2xx`,
      );
      for (const status of statuses.filter((s) => /^[45]/.test(s))) {
        const content = operation.op.responses[status]!.content ?? {};
        if (operation.method === 'HEAD') {
          t.deepEqual(content, {}, `${operation.label} ${status} has no body`);
          t.true(documentedCodes(operation.op.responses[status]!).length > 0, `${operation.label} ${status} names its error codes`);
          continue;
        }
        t.deepEqual(Object.keys(content), ['application/json'], `${operation.label} ${status} is JSON`);
        t.is((content['application/json']?.schema as Json | undefined)?.$ref, ERROR_REF, `${operation.label} ${status} answers Error`);
        t.true(documentedCodes(operation.op.responses[status]!).length > 0, `${operation.label} ${status} names its error codes`);
      }
      for (const requirement of operation.op.security ?? [])
        for (const name of Object.keys(requirement)) t.true(schemes.includes(name), `${operation.label}: scheme ${name}`);
      if (operation.op.requestBody)
        t.true(operation.bodySchema !== undefined || operation.fileBody !== undefined, `${operation.label}: a JSON or a file body`);
      if (operation.fileBody?.some(isMultipart))
        t.truthy(operation.filePart, `${operation.label}: its multipart body names the part of the file`);
      const templated = [...operation.template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!).sort();
      const inPath = Object.values(operation.params).filter((p) => p.in === 'path');
      t.deepEqual(inPath.map((p) => p.name).sort(), templated, `${operation.label}: path parameters match the template`);
      t.true(
        inPath.every((p) => p.required === true),
        `${operation.label}: path parameters are required`,
      );
      if (operation.op['x-rate-limit-policy'] !== undefined) {
        for (const status of statuses.filter((s) => /^2/.test(s) || s === '429')) {
          t.truthy(operation.op.responses[status]!.headers?.RateLimit, `${operation.label} ${status} documents RateLimit`);
          t.truthy(
            operation.op.responses[status]!.headers?.['RateLimit-Policy'],
            `${operation.label} ${status} documents RateLimit-Policy`,
          );
        }
      }
    }
  },
);

// ---------------------------------------------------------------------------------------------- positive cases

/**
 * Answers that may append events although they are 4xx: registration claims the email before the username, and a
 * taken username releases the email claim again (AuthService.register), so its 409 leaves two events by design.
 */
const COMPENSATING_CONFLICTS = new Set(['register']);

for (const operation of operations) {
  const runs = hasInput(operation) ? RUNS : RUNS_WITHOUT_INPUT;
  test.serial(`positive: ${operation.label} answers documented statuses, content types, bodies and headers`, async (t) => {
    t.timeout(120_000);
    const fixture = await freshFixture(operation);
    t.teardown(() => hangUp(fixture));
    const seen = new Map<number, number>(),
      viaQuery = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(validInputs(operation, fixture), async (input) => {
        const wire = await wireFor(operation, input, fixture);
        const before = await head();
        const answer = await send(wire);
        seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
        if (wire.token === undefined && input.credential === 'query') viaQuery.set(answer.status, (viaQuery.get(answer.status) ?? 0) + 1);
        const problems = conformance(operation, answer);
        if (
          answer.status >= 400 &&
          answer.status < 500 &&
          !(answer.status === 409 && COMPENSATING_CONFLICTS.has(operation.op.operationId))
        ) {
          const appended = await appendedBy(answer, before);
          if (appended > 0) problems.push(`no stray events: ${snippet(answer)} but ${appended} event(s) appended`);
        }
        if (problems.length > 0) fail(operation, wire, problems);
      }),
      settings(runs),
    );
    t.log(`${runs} runs: ${tally(seen)}${viaQuery.size > 0 ? ` (with a query credential: ${tally(viaQuery)})` : ''}`);
    // positive_data_acceptance, loosely: the generators reach the success path at least once.
    t.true(
      [...seen.keys()].some((status) => status >= 200 && status < 300),
      `no 2xx in ${runs} runs: ${tally(seen)}`,
    );
  });
}

// ---------------------------------------------------------------------------------------------- negative cases

/**
 * Path segments no id or name accepts; sent as they are (already percent-encoded where needed). Not `%2e`: URL
 * parsing (fetch's too) reads it as `.` and removes the segment, so it never reaches a server as a parameter.
 */
const HOSTILE_SEGMENTS = [
  '%24gt',
  '..%2F..%2Fetc',
  '..%2F',
  '%00',
  'x'.repeat(3_000),
  '__proto__',
  'constructor',
  '%',
  '%E0%A4%A',
  'null',
  '1',
];

/** `expect`: the statuses this one may answer, when they are not the usual NEGATIVE_STATUSES (a refused file: 415, 422). */
interface Negative extends Generated {
  mutation: string;
  expect?: number[];
}

/**
 * Mutations that the document still rejects once they went through the URL (`"1"` for an integer does not). A file
 * body is not mutated but replaced by one an upload must refuse (badBodies); the other families send the image.
 */
function negativeInputs(operation: Operation, fixture: Fixture): fc.Arbitrary<Negative> | undefined {
  const caller: CallerName = operation.secured ? 'alice' : 'anonymous';
  const file = operation.fileBody ? IMAGE : undefined;
  const options = { rootDocument: doc, overrides: overridesFor(operation, fixture, caller, file) };
  const base = inputsOf(operation, fixture, caller, file);
  const families: fc.Arbitrary<Negative>[] = [];
  const label = (where: string, m: Mutation) => `${where} ${m.mutation} (${m.kind})`;
  if (operation.bodySchema) {
    families.push(
      fc
        .tuple(base, mutations(operation.bodySchema, options))
        .map(([input, m]) => ({ ...input, body: m.value, mutation: label('body', m) })),
    );
  }
  if (operation.fileBody) {
    families.push(
      fc.tuple(base, fc.constantFrom(...badBodies(operation))).map(([input, bad]) => ({
        ...input,
        body: bad,
        query: named(operation, input.query, bad.filename),
        mutation: `body: ${bad.label}`,
        expect: bad.expect,
      })),
    );
  }
  if (operation.querySchema) {
    const schema = operation.querySchema;
    families.push(
      fc
        .tuple(base, mutations(schema, options))
        .filter(([, m]) => isObj(m.value) && !isValid(schema, queryOnTheWire(operation, m.value), doc))
        .map(([input, m]) => ({ ...input, query: m.value as Json, mutation: label('query', m) })),
    );
  }
  if (operation.pathSchema) {
    const schema = operation.pathSchema;
    // A path parameter cannot be left out or added: those mutations change the route, not the input.
    families.push(
      fc
        .tuple(base, mutations(schema, options))
        .filter(([, m]) => m.kind !== 'drop-required' && m.kind !== 'extra-property' && isObj(m.value))
        .filter(([, m]) => {
          const read = pathOnTheWire(operation, m.value as Json);
          return read !== undefined && !isValid(schema, read, doc);
        })
        .map(([input, m]) => ({ ...input, path: m.value as Json, mutation: label('path', m) })),
    );
    // Only those the parameter's schema rejects (`1` is a fine name where any short word is).
    const hostile = Object.values(operation.params)
      .filter((p) => p.in === 'path')
      .flatMap((p) =>
        HOSTILE_SEGMENTS.filter((raw) => {
          try {
            return !isValid(p.schema, fromText(decodeURIComponent(raw), p.schema), doc);
          } catch {
            return true;
          } // not even text
        }).map((raw) => [p.name, raw] as const),
      );
    if (hostile.length > 0) {
      families.push(
        fc.tuple(base, fc.constantFrom(...hostile)).map(([input, [name, raw]]) => ({
          ...input,
          rawPath: { [name]: raw },
          mutation: `path ${name} = ${raw.slice(0, 20)} (hostile segment)`,
        })),
      );
    }
  }
  // Mostly on inputs that keep the cross-field rules, so that the mutation is what the server has to reject.
  const rule = CROSS_FIELD_RULES[operation.op.operationId];
  const steered = rule
    ? families.map((family) => fc.oneof({ weight: 3, arbitrary: family.filter(rule) }, { weight: 1, arbitrary: family }))
    : families;
  return steered.length === 0 ? undefined : fc.oneof(...steered);
}

const secret = testEnv('').JWT_SECRET_KEY!;
function wrongTokens(owner: User, revoked: string): Array<[string, string | undefined]> {
  const header = (alg: string) => Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
  const claims = Buffer.from(JSON.stringify({ sub: owner.user.id, jti: 'x', exp: Math.floor(Date.now() / 1000) + 600 })).toString(
    'base64url',
  );
  return [
    ['missing', undefined],
    ['garbage', 'not.a.token'],
    ['alg none', `${header('none')}.${claims}.`],
    ['bad signature', `${owner.accessToken.slice(0, -6)}AAAAAA`],
    ['expired', jwt.sign({ sub: owner.user.id, jti: 'expired' }, secret, { algorithm: 'HS256', expiresIn: -10 })],
    [
      'other secret',
      jwt.sign({ sub: owner.user.id, jti: 'forged' }, 'another-secret-that-is-long-enough-0123456789', {
        algorithm: 'HS256',
        expiresIn: 600,
      }),
    ],
    ['HS512', jwt.sign({ sub: owner.user.id, jti: 'alg' }, secret, { algorithm: 'HS512', expiresIn: 600 })],
    [
      'unknown user',
      jwt.sign({ sub: '00000000-0000-4000-8000-000000000000', jti: 'ghost' }, secret, { algorithm: 'HS256', expiresIn: 600 }),
    ],
    ['revoked', revoked],
  ];
}

/**
 * Query credentials (`?token=`), without a bearer, on alice's PNG (which every media operation can serve) and an
 * otherwise valid query: the one issued for it is accepted (so the refusals are the credential's doing); none at all
 * is a 401; a wrong one is refused with a documented 401 or 404 (a wrong media token finds nothing); a wrong bearer
 * beside the right one is a 401 (a bearer, when sent, is what counts).
 */
async function queryCredentialCases(operation: Operation, credential: QueryCredential, fixture: Fixture, revoked: string) {
  const alice = fixture.users.alice;
  const [mine, other] = [fixture.media.alice.images[0], fixture.media.alice.files.find((id) => !fixture.media.alice.images.includes(id))];
  const on = (id: string | undefined): Json =>
    Object.fromEntries(
      Object.values(operation.params)
        .filter((p) => p.in === 'path')
        .map((p) => [p.name, id]),
    );
  const right = await issued(credential, alice, on(mine)),
    forOther = await issued(credential, alice, on(other));
  // To forge an expired one: the key the server derives from the JWT secret for media tokens (src/media/mediaTokens.ts).
  const mediaKey = createHash('sha256').update(`media-token:${secret}`).digest();
  const claims = { sub: alice.user.id, mid: mine };
  const [{ query }] = fc.sample(inputsOf(operation, fixture, 'alice', undefined), { seed: SEED, numRuns: 1 }) as [Generated];
  const cases: Array<{ name: string; bearer?: string; token?: string | undefined; expected: number[] }> = [
    { name: 'the issued query credential', token: right, expected: [200] },
    { name: 'no credential at all', expected: [401] },
    { name: 'a garbage query credential', token: 'not.a.token', expected: [401, 404] },
    { name: 'an access token as the query credential', token: alice.accessToken, expected: [401, 404] },
    { name: 'a query credential issued for another file', token: forOther, expected: [401, 404] },
    {
      name: 'a query credential signed with the access-token key',
      token: jwt.sign(claims, secret, { algorithm: 'HS256', expiresIn: 600 }),
      expected: [401, 404],
    },
    {
      name: 'an expired query credential',
      token: jwt.sign(claims, mediaKey, { algorithm: 'HS256', expiresIn: -10 }),
      expected: [401, 404],
    },
    { name: 'a garbage bearer beside the issued query credential', bearer: 'not.a.token', token: right, expected: [401] },
    { name: 'a revoked bearer beside the issued query credential', bearer: revoked, token: right, expected: [401] },
  ];
  return cases.map(({ token, ...c }) => ({ ...c, path: on(mine), query: { ...query, [credential.param]: token } }));
}

/** A negative answer: a documented 400 (validation), 404 (no such route or resource) or 413, as Error, with nothing appended. */
const NEGATIVE_STATUSES = [400, 404, 413];

for (const operation of operations.filter((o) => hasInput(o) || o.secured)) {
  test.serial(
    `negative: ${operation.label} rejects invalid input and wrong tokens with a documented 4xx and appends nothing`,
    async (t) => {
      t.timeout(120_000);
      const { fixture: made, shared } = negativeFixture(operation);
      const fixture = await made;
      if (!shared) t.teardown(() => hangUp(fixture));
      const seen = new Map<number, number>();
      const arbitrary = negativeInputs(operation, fixture);
      if (arbitrary) {
        await fc.assert(
          fc.asyncProperty(arbitrary, async (input) => {
            const wire = wireOf(operation, input, await tokenOf(input.caller, fixture));
            const before = await head();
            const answer = await send(wire);
            seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
            const problems = conformance(operation, answer);
            const allowed = input.expect ?? NEGATIVE_STATUSES.filter((status) => operation.op.responses[status] !== undefined);
            if (!allowed.includes(answer.status))
              problems.push(
                `negative_data_rejection: ${input.mutation} answered ${snippet(answer)}, expected one of ${allowed.join(', ')}`,
              );
            const appended = await appendedBy(answer, before);
            if (appended > 0) problems.push(`no stray events: ${input.mutation} appended ${appended} event(s)`);
            if (problems.length > 0) fail(operation, wire, [`mutation: ${input.mutation}`, ...problems]);
          }),
          settings(RUNS),
        );
      }
      if (operation.secured) {
        const victim = await registerUser(app.url);
        await api('logout', victim);
        const tokens = wrongTokens(fixture.users.alice, victim.accessToken);
        const inputs = fc.sample(validInputs(operation, fixture), { seed: SEED, numRuns: tokens.length });
        const credential = queryCredentials.get(operation);
        for (const [[name, token], input] of tokens.map((entry, i) => [entry, inputs[i]!] as const)) {
          // Without a query credential, which would be tried instead of a missing bearer (see queryCredentialCases).
          const { [credential?.param ?? '']: _dropped, ...query } = input.query;
          const wire = wireOf(operation, { ...input, query }, token);
          const before = await head();
          const answer = await send(wire);
          seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
          const problems = conformance(operation, answer);
          if (answer.status !== 401) problems.push(`a ${name} token answered ${snippet(answer)}, expected 401`);
          if ((await appendedBy(answer, before)) > 0) problems.push(`no stray events: a ${name} token appended events`);
          if (problems.length > 0) fail(operation, wire, problems);
        }
        for (const { name, path, query, bearer, expected } of credential
          ? await queryCredentialCases(operation, credential, fixture, victim.accessToken)
          : []) {
          const wire = wireOf(operation, { caller: 'anonymous', path, query, body: undefined }, bearer);
          const before = await head();
          const answer = await send(wire);
          seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
          const problems = conformance(operation, answer);
          if (!expected.includes(answer.status)) problems.push(`${name} answered ${snippet(answer)}, expected ${expected.join(' or ')}`);
          if ((await appendedBy(answer, before)) > 0) problems.push(`no stray events: ${name} appended events`);
          if (problems.length > 0) fail(operation, wire, problems);
        }
      }
      const credentials = `${operation.secured ? ' + 9 wrong tokens' : ''}${queryCredentials.has(operation) ? ' + 9 query credentials' : ''}`;
      t.log(`${arbitrary ? RUNS : 0} mutations${credentials}: ${tally(seen)}`);
      t.pass();
    },
  );
}

// ---------------------------------------------------------------------------------------------- stateful: hand-written chains

const textOf = (m: any): string | null => (m.content === null ? null : m.content.text);

/** Polls `read` until `done` holds (or 3 s pass), for effects that are recorded without waiting for the projections. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 3_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test.serial('chain: register → send (direct, group) → list → read receipt → edit → history → delete (me, everyone) → list', async (t) => {
  const a = await registerUser(app.url),
    b = await registerUser(app.url);
  const { group } = await expectStatus(t, 201, 'createGroup', a, { body: { name: 'Chain', memberIds: [b.user.id] } });
  const first = (
    await expectStatus(t, 201, 'sendMessage', a, { body: { recipientId: b.user.id, text: 'hello', clientMessageId: 'chain-1' } })
  ).message;
  t.like(first, { senderId: a.user.id, recipientId: b.user.id, content: { kind: 'text', text: 'hello' }, editedAt: null, deletedAt: null });
  t.is(
    (await expectStatus(t, 200, 'sendMessage', a, { body: { recipientId: b.user.id, text: 'hello', clientMessageId: 'chain-1' } })).message
      .id,
    first.id,
    'a retry answers the first message',
  );
  const inGroup = (await expectStatus(t, 201, 'sendMessage', a, { body: { groupId: group.id, text: 'hello all' } })).message;
  t.is(inGroup.groupId, group.id);
  const statusOf = async (id: string) =>
    (await expectStatus(t, 200, 'listMessages', a, { query: { with: b.user.id } })).messages.find((m: any) => m.id === id).status;
  t.is(await statusOf(first.id), 'sent');

  t.deepEqual(
    (await expectStatus(t, 200, 'listMessages', b, { query: { with: a.user.id } })).messages.map((m: any) => m.id),
    [first.id],
  );
  // Listing records delivery without waiting for the projections (messagingService.list): a sees it shortly after.
  t.is(
    await eventually(
      () => statusOf(first.id),
      (status) => status === 'delivered',
    ),
    'delivered',
    'b listed it',
  );
  t.like(await expectStatus(t, 200, 'markRead', b, { body: { with: a.user.id, messageId: first.id } }), {
    messageId: first.id,
    upTo: first.position,
  });
  t.is(await statusOf(first.id), 'read', 'b read it');
  t.deepEqual(
    (await expectStatus(t, 200, 'listMessages', b, { query: { groupId: group.id } })).messages.map((m: any) => m.id),
    [inGroup.id],
  );
  const reply = (await expectStatus(t, 201, 'sendMessage', b, { body: { recipientId: a.user.id, text: 'hi', replyTo: first.id } })).message;
  t.is(reply.replyTo, first.id);
  t.deepEqual(
    (await expectStatus(t, 200, 'listMessages', b, { query: { with: a.user.id } })).messages.map((m: any) => m.id),
    [reply.id, first.id],
    'newest first',
  );

  const edited = (await expectStatus(t, 200, 'editMessage', a, { path: { id: first.id }, body: { text: 'hello, edited' } })).message;
  t.like(edited, { id: first.id, content: { kind: 'text', text: 'hello, edited' } });
  t.not(edited.editedAt, null);
  await expectStatus(t, 403, 'editMessage', b, { path: { id: first.id }, body: { text: 'not mine' } });
  const history = await expectStatus(t, 200, 'messageHistory', b, { path: { id: first.id } });
  t.false(history.deleted);
  t.deepEqual(
    history.versions.map((v: any) => v.content.text),
    ['hello', 'hello, edited'],
    'both versions, oldest first',
  );

  await expectStatus(t, 204, 'deleteMessage', b, { path: { id: first.id }, query: { scope: 'me' } });
  t.deepEqual(
    (await expectStatus(t, 200, 'listMessages', b, { query: { with: a.user.id } })).messages.map((m: any) => m.id),
    [reply.id],
    'hidden for b',
  );
  await expectStatus(t, 404, 'messageHistory', b, { path: { id: first.id } });
  await expectStatus(t, 403, 'deleteMessage', a, { path: { id: reply.id }, query: { scope: 'everyone' } });

  await expectStatus(t, 204, 'deleteMessage', a, { path: { id: first.id }, query: { scope: 'everyone' } });
  const after = (await expectStatus(t, 200, 'listMessages', a, { query: { with: b.user.id } })).messages.find(
    (m: any) => m.id === first.id,
  );
  t.is(after.content, null, 'deleted for everyone: no content');
  t.not(after.deletedAt, null);
  t.like(await expectStatus(t, 200, 'messageHistory', a, { path: { id: first.id } }), { deleted: true, versions: [] });
  t.is(
    (await expectStatus(t, 409, 'editMessage', a, { path: { id: first.id }, body: { text: 'too late' } })).error.code,
    'message_deleted',
  );
});

test.serial('chain: create group → add member → member sends → remove member → the removed member cannot read', async (t) => {
  const owner = await registerUser(app.url),
    member = await registerUser(app.url);
  const { group } = await expectStatus(t, 201, 'createGroup', owner, { body: { name: 'Members' } });
  t.deepEqual(
    group.members.map((m: any) => [m.userId, m.role]),
    [[owner.user.id, 'owner']],
  );
  await expectStatus(t, 404, 'getGroup', member, { path: { id: group.id } });
  const added = (await expectStatus(t, 200, 'addGroupMember', owner, { path: { id: group.id }, body: { userId: member.user.id } })).group;
  t.true(added.members.some((m: any) => m.userId === member.user.id && m.role === 'member'));
  const message = (await expectStatus(t, 201, 'sendMessage', member, { body: { groupId: group.id, text: 'hi from the member' } })).message;
  t.deepEqual((await expectStatus(t, 200, 'listMessages', owner, { query: { groupId: group.id } })).messages.map(textOf), [
    'hi from the member',
  ]);
  t.true((await expectStatus(t, 200, 'listGroups', member)).groups.some((g: any) => g.id === group.id));

  await expectStatus(t, 204, 'removeGroupMember', owner, { path: { id: group.id, userId: member.user.id } });
  await expectStatus(t, 404, 'getGroup', member, { path: { id: group.id } });
  await expectStatus(t, 404, 'listMessages', member, { query: { groupId: group.id } });
  await expectStatus(t, 404, 'messageHistory', member, { path: { id: message.id } });
  await expectStatus(t, 404, 'markRead', member, { body: { groupId: group.id, messageId: message.id } });
  await expectStatus(t, 403, 'sendMessage', member, { body: { groupId: group.id, text: 'still here?' } });
  t.false((await expectStatus(t, 200, 'listGroups', member)).groups.some((g: any) => g.id === group.id));
  t.deepEqual(
    (await expectStatus(t, 200, 'listMessages', owner, { query: { groupId: group.id } })).messages.map((m: any) => m.id),
    [message.id],
    'the owner still reads it',
  );
});

test.serial(
  "chain: block → the blocker's direct messages answer a documented 403, the blocked user's are accepted and never delivered → unblock → they go through again",
  async (t) => {
    if (!documents('blockUser')) return void t.pass('this API has no blocks');
    const a = await registerUser(app.url),
      b = await registerUser(app.url);
    const { group } = await expectStatus(t, 201, 'createGroup', a, { body: { name: 'Blocks', memberIds: [b.user.id] } });
    await expectStatus(t, 201, 'sendMessage', b, { body: { recipientId: a.user.id, text: 'before' } });
    await expectStatus(t, 204, 'blockUser', a, { path: { userId: b.user.id } });
    t.deepEqual(
      (await expectStatus(t, 200, 'listBlocks', a)).blocked.map((x: any) => x.userId),
      [b.user.id],
    );
    await expectStatus(t, 201, 'sendMessage', b, { body: { recipientId: a.user.id, text: 'blocked?' } });
    t.is((await expectStatus(t, 403, 'sendMessage', a, { body: { recipientId: b.user.id, text: 'blocked too?' } })).error.code, 'blocked');
    t.deepEqual(
      (await expectStatus(t, 200, 'listMessages', a, { query: { with: b.user.id } })).messages.map((m: any) => m.content.text),
      ['before'],
      'not delivered to the blocker',
    );
    await expectStatus(t, 201, 'sendMessage', b, { body: { groupId: group.id, text: 'group messages still flow' } });
    await expectStatus(t, 204, 'unblockUser', a, { path: { userId: b.user.id } });
    await expectStatus(t, 201, 'sendMessage', b, { body: { recipientId: a.user.id, text: 'after' } });
  },
);

test.serial(
  'chain: upload (multipart, raw) → retry → download (whole, range, 416, 304) → ?token= → attach → the recipient reads it → delete → a tombstone',
  async (t) => {
    if (!documents('uploadMedia')) return void t.pass('this API has no uploads');
    const a = await registerUser(app.url),
      b = await registerUser(app.url);
    const upload = byId('uploadMedia');
    const [text, image] = [TEXT, IMAGE];
    const [asMultipart, asOctets] = encodings(upload, text);
    const first = (await expectStatus(t, 201, 'uploadMedia', a, { query: { clientUploadId: 'chain-upload' }, body: asMultipart })).media;
    t.like(first, { kind: 'text', size: text.bytes.length, filename: text.name });
    const retry = await expectStatus(t, 200, 'uploadMedia', a, {
      query: { filename: text.name, clientUploadId: 'chain-upload' },
      body: asOctets,
    });
    t.is(retry.media.id, first.id, 'a retry answers the first upload');
    const picture = (
      await expectStatus(t, 201, 'uploadMedia', a, { query: { filename: image.name }, body: encodings(upload, image).at(-1) })
    ).media;
    t.like(picture, { kind: 'image', mime: 'image/png', width: 8, height: 8 });

    const whole = await api('downloadMedia', a, { path: { id: first.id } });
    t.is(whole.status, 200);
    t.is(whole.text, text.bytes.toString(), 'the bytes uploaded');
    t.is(essence(whole.headers.get('content-type')), 'text/plain', 'the type its bytes say');
    const part = await api('downloadMedia', a, { path: { id: first.id }, headers: { range: 'bytes=0-4' } });
    t.is(part.status, 206);
    t.is(part.text, whole.text.slice(0, 5));
    t.is(
      (await expectStatus(t, 416, 'downloadMedia', a, { path: { id: first.id }, headers: { range: `bytes=${first.size + 10}-` } })).error
        .code,
      'range_not_satisfiable',
    );
    t.is(
      (await api('downloadMedia', a, { path: { id: first.id }, headers: { 'if-none-match': whole.headers.get('etag') ?? '' } })).status,
      304,
    );

    // ?token= instead of the bearer (for <img> and <video>): for this file only.
    const { token } = await expectStatus(t, 200, 'mediaToken', a, { path: { id: first.id } });
    const viaToken = await api('downloadMedia', null, { path: { id: first.id }, query: { token } });
    t.is(viaToken.status, 200);
    t.is(viaToken.text, whole.text);
    t.true(
      [401, 404].includes((await api('downloadMedia', null, { path: { id: picture.id }, query: { token } })).status),
      'not for another file',
    );

    // b reads a's files once a message of a's attaches them, and cannot attach them himself.
    await expectStatus(t, 404, 'downloadMedia', b, { path: { id: first.id } });
    await expectStatus(t, 404, 'mediaToken', b, { path: { id: first.id } });
    t.is(
      (await expectStatus(t, 422, 'sendMessage', b, { body: { recipientId: a.user.id, text: 'not mine', attachments: [first.id] } })).error
        .code,
      'invalid_attachment',
    );
    const message = (
      await expectStatus(t, 201, 'sendMessage', a, {
        body: { recipientId: b.user.id, text: 'see attached', attachments: [first.id, picture.id] },
      })
    ).message;
    t.deepEqual(message.attachments, [first.id, picture.id]);
    const forB = await api('downloadMedia', b, { path: { id: picture.id } });
    t.is(forB.status, 200);
    t.is(essence(forB.headers.get('content-type')), 'image/png');

    // Only the uploader deletes; then the file is gone for everyone, and the message keeps a tombstone of it.
    await expectStatus(t, 404, 'deleteMedia', b, { path: { id: first.id } });
    await expectStatus(t, 204, 'deleteMedia', a, { path: { id: first.id } });
    await expectStatus(t, 404, 'downloadMedia', a, { path: { id: first.id } });
    await expectStatus(t, 404, 'downloadMedia', b, { path: { id: first.id } });
    const listed = (await expectStatus(t, 200, 'listMessages', b, { query: { with: a.user.id } })).messages.find(
      (m: any) => m.id === message.id,
    );
    t.like(
      listed.files.find((f: any) => f.id === first.id),
      { deleted: true },
    );
    const again = await expectStatus(t, 422, 'sendMessage', a, {
      body: { recipientId: b.user.id, text: 'again', attachments: [first.id] },
    });
    t.is(again.error.code, 'invalid_attachment', 'a deleted file cannot be attached');
  },
);

test.serial('chain: profile picture → its square variants, seen by others → text refused (415) → removed', async (t) => {
  if (!documents('setProfilePicture')) return void t.pass('this API has no profile pictures');
  const a = await registerUser(app.url),
    b = await registerUser(app.url);
  const operation = byId('setProfilePicture');
  const { profile } = await expectStatus(t, 200, 'setProfilePicture', a, { body: encodings(operation, IMAGE)[0] });
  t.truthy(profile.avatarMediaId);
  for (const size of ['48', '128', '512']) {
    const variant = await api('downloadMedia', b, { path: { id: profile.avatarMediaId }, query: { size } });
    t.is(variant.status, 200, `size ${size}`);
    t.is(essence(variant.headers.get('content-type')), 'image/webp');
  }
  const refused = await expectStatus(t, 415, 'setProfilePicture', a, { body: encodings(operation, TEXT)[0] });
  t.is(refused.error.code, 'unsupported_media_type');
  await expectStatus(t, 204, 'removeProfilePicture', a);
  t.is((await expectStatus(t, 200, 'getOwnProfile', a)).profile.avatarMediaId, null);
});

// ---------------------------------------------------------------------------------------------- stateful: a model

/**
 * Three users (0 owns the group, 1 starts in it, 2 does not) and the messages they exchange. Each command says what
 * the API must answer given the model, then updates the model; listings and histories are compared with it whole.
 */
/** `audience`: a group message's members when it was sent (a member reads only what was said while they were in). */
interface ModelMessage {
  id: string;
  sender: number;
  recipient: number | null;
  versions: string[];
  deleted: boolean;
  hiddenFor: Set<number>;
  audience: Set<number>;
}
interface ChatModel {
  members: Set<number>;
  messages: ModelMessage[];
}
interface ChatReal {
  users: User[];
  groupId: string;
}

const NAMES = ['u0', 'u1', 'u2'];
const participates = (m: ChatModel, msg: ModelMessage, u: number) =>
  msg.recipient === null ? m.members.has(u) && msg.audience.has(u) : msg.sender === u || msg.recipient === u;
const visible = (m: ChatModel, msg: ModelMessage, u: number) => participates(m, msg, u) && !msg.hiddenFor.has(u);
const shown = (msg: ModelMessage) => [msg.id, msg.deleted ? null : msg.versions.at(-1)!];

let stepsRun = 0;
class Step implements fc.AsyncCommand<ChatModel, ChatReal> {
  constructor(
    private readonly label: string,
    private readonly act: (m: ChatModel, r: ChatReal) => Promise<void>,
    private readonly needsMessages = false,
  ) {}
  check(m: Readonly<ChatModel>): boolean {
    return !this.needsMessages || m.messages.length > 0;
  }
  run(m: ChatModel, r: ChatReal): Promise<void> {
    stepsRun++;
    return this.act(m, r);
  }
  toString(): string {
    return this.label;
  }
}

/** `api` expecting a status; throws (fast-check shrinks the sequence) instead of asserting. */
async function must(status: number, operationId: string, caller: User, input: Parameters<typeof api>[2] = {}): Promise<any> {
  const answer = await api(operationId, caller, input);
  if (answer.status !== status)
    throw new Error(`${operationId} ${JSON.stringify(input).slice(0, 200)}: expected ${status}, got ${snippet(answer)}`);
  return answer.json;
}
function same(what: string, actual: unknown, expected: unknown): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected))
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

const who = fc.integer({ min: 0, max: 2 });
const words = fc.stringMatching(/^[a-z]{1,8}( [a-z]{1,8}){0,2}$/);
const chatCommands = [
  fc.tuple(who, who, words).map(
    ([from, to, text]) =>
      new Step(`${NAMES[from]} sends ${NAMES[to]} "${text}"`, async (m, r) => {
        if (from === to)
          return void (await must(400, 'sendMessage', r.users[from]!, { body: { recipientId: r.users[to]!.user.id, text } }));
        const { message } = await must(201, 'sendMessage', r.users[from]!, { body: { recipientId: r.users[to]!.user.id, text } });
        same('sent content', message.content, { kind: 'text', text });
        m.messages.push({
          id: message.id,
          sender: from,
          recipient: to,
          versions: [text],
          deleted: false,
          hiddenFor: new Set(),
          audience: new Set([from, to]),
        });
      }),
  ),
  fc.tuple(who, words).map(
    ([from, text]) =>
      new Step(`${NAMES[from]} sends the group "${text}"`, async (m, r) => {
        if (!m.members.has(from)) return void (await must(403, 'sendMessage', r.users[from]!, { body: { groupId: r.groupId, text } }));
        const { message } = await must(201, 'sendMessage', r.users[from]!, { body: { groupId: r.groupId, text } });
        m.messages.push({
          id: message.id,
          sender: from,
          recipient: null,
          versions: [text],
          deleted: false,
          hiddenFor: new Set(),
          audience: new Set(m.members),
        });
      }),
  ),
  fc.tuple(who, fc.nat(), words).map(
    ([by, pick, text]) =>
      new Step(
        `${NAMES[by]} edits message #${pick} to "${text}"`,
        async (m, r) => {
          const msg = m.messages[pick % m.messages.length]!;
          const expected = !visible(m, msg, by) ? 404 : msg.sender !== by ? 403 : msg.deleted ? 409 : 200;
          const answer = await must(expected, 'editMessage', r.users[by]!, { path: { id: msg.id }, body: { text } });
          if (expected === 200) {
            msg.versions.push(text);
            same('edited content', answer.message.content, { kind: 'text', text });
          }
        },
        true,
      ),
  ),
  fc.tuple(who, fc.nat(), fc.constantFrom('me', 'everyone')).map(
    ([by, pick, scope]) =>
      new Step(
        `${NAMES[by]} deletes message #${pick} for ${scope}`,
        async (m, r) => {
          const msg = m.messages[pick % m.messages.length]!;
          const expected = !visible(m, msg, by) ? 404 : scope === 'everyone' && msg.sender !== by ? 403 : 204;
          await must(expected, 'deleteMessage', r.users[by]!, { path: { id: msg.id }, query: { scope } });
          if (expected === 204 && scope === 'everyone') msg.deleted = true;
          if (expected === 204 && scope === 'me') msg.hiddenFor.add(by);
        },
        true,
      ),
  ),
  fc.tuple(who, fc.nat()).map(
    ([by, pick]) =>
      new Step(
        `${NAMES[by]} reads the history of message #${pick}`,
        async (m, r) => {
          const msg = m.messages[pick % m.messages.length]!;
          if (!visible(m, msg, by)) return void (await must(404, 'messageHistory', r.users[by]!, { path: { id: msg.id } }));
          const history = await must(200, 'messageHistory', r.users[by]!, { path: { id: msg.id } });
          same(
            'history',
            [history.deleted, history.versions.map((v: any) => v.content.text)],
            [msg.deleted, msg.deleted ? [] : msg.versions],
          );
        },
        true,
      ),
  ),
  fc.tuple(who, fc.nat()).map(
    ([by, pick]) =>
      new Step(
        `${NAMES[by]} marks message #${pick} read`,
        async (m, r) => {
          const msg = m.messages[pick % m.messages.length]!;
          const conversation =
            msg.recipient === null ? { groupId: r.groupId } : { with: r.users[msg.sender === by ? msg.recipient : msg.sender]!.user.id };
          if (!visible(m, msg, by))
            return void (await must(404, 'markRead', r.users[by]!, { body: { ...conversation, messageId: msg.id } }));
          same('receipt', (await must(200, 'markRead', r.users[by]!, { body: { ...conversation, messageId: msg.id } })).messageId, msg.id);
        },
        true,
      ),
  ),
  fc.tuple(who, fc.integer({ min: 1, max: 2 })).map(
    ([by, shift]) =>
      new Step(`${NAMES[by]} lists the conversation with ${NAMES[(by + shift) % 3]}`, async (m, r) => {
        const other = (by + shift) % 3;
        const page = await must(200, 'listMessages', r.users[by]!, { query: { with: r.users[other]!.user.id, limit: 100 } });
        const expected = m.messages.filter(
          (msg) =>
            msg.recipient !== null && [msg.sender, msg.recipient].sort().join() === [by, other].sort().join() && !msg.hiddenFor.has(by),
        );
        same(
          'direct page',
          page.messages.map((x: any) => [x.id, textOf(x)]),
          expected.reverse().map(shown),
        );
      }),
  ),
  who.map(
    (by) =>
      new Step(`${NAMES[by]} lists the group`, async (m, r) => {
        if (!m.members.has(by)) return void (await must(404, 'listMessages', r.users[by]!, { query: { groupId: r.groupId } }));
        const page = await must(200, 'listMessages', r.users[by]!, { query: { groupId: r.groupId, limit: 100 } });
        const expected = m.messages.filter((msg) => msg.recipient === null && !msg.hiddenFor.has(by));
        same(
          'group page',
          page.messages.map((x: any) => [x.id, textOf(x)]),
          expected.reverse().map(shown),
        );
      }),
  ),
  fc.tuple(who, fc.integer({ min: 1, max: 2 })).map(
    ([by, target]) =>
      new Step(`${NAMES[by]} adds ${NAMES[target]} to the group`, async (m, r) => {
        const expected = !m.members.has(by) ? 404 : by !== 0 ? 403 : 200;
        await must(expected, 'addGroupMember', r.users[by]!, { path: { id: r.groupId }, body: { userId: r.users[target]!.user.id } });
        if (expected === 200) m.members.add(target);
      }),
  ),
  fc.tuple(who, fc.integer({ min: 1, max: 2 })).map(
    ([by, target]) =>
      new Step(`${NAMES[by]} removes ${NAMES[target]} from the group`, async (m, r) => {
        // Non-members learn nothing (404); removing a non-member changes nothing; leaving is allowed; only admins remove others.
        const expected = !m.members.has(by) ? 404 : !m.members.has(target) || by === target || by === 0 ? 204 : 403;
        await must(expected, 'removeGroupMember', r.users[by]!, { path: { id: r.groupId, userId: r.users[target]!.user.id } });
        if (expected === 204) m.members.delete(target);
      }),
  ),
  who.map(
    (by) =>
      new Step(`${NAMES[by]} reads the group`, async (m, r) => {
        if (!m.members.has(by)) return void (await must(404, 'getGroup', r.users[by]!, { path: { id: r.groupId } }));
        const { group } = await must(200, 'getGroup', r.users[by]!, { path: { id: r.groupId } });
        same('members', group.members.map((x: any) => x.userId).sort(), [...m.members].map((i) => r.users[i]!.user.id).sort());
      }),
  ),
];

test.serial('model: any sequence of sends, edits, deletes, receipts, listings and membership changes agrees with a model', async (t) => {
  t.timeout(120_000);
  let sequences = 0;
  await fc.assert(
    fc.asyncProperty(fc.commands(chatCommands, { size: 'medium', maxCommands: 40 }), async (commands) => {
      sequences++;
      const users = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
      const { group } = await must(201, 'createGroup', users[0]!, { body: { name: 'Model', memberIds: [users[1]!.user.id] } });
      await fc.asyncModelRun(() => ({ model: { members: new Set([0, 1]), messages: [] }, real: { users, groupId: group.id } }), commands);
    }),
    settings(STATEFUL_RUNS),
  );
  t.log(`${sequences} command sequences, ${stepsRun} commands run (FC_STATEFUL_RUNS=${STATEFUL_RUNS})`);
  t.pass();
});
