import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Parser } from '@asyncapi/parser';
import test from 'ava';
import { koaPath } from '../../src/http/routeTable.ts';
import { CLIENT_FRAMES, SERVER_FRAMES, serverFrame } from '../../src/contract/socketProtocol.ts';
import { request, startTestApp, tempDir, type TestApp } from '../helpers/app.ts';

/**
 * One description of the API: the route table registers the handlers and writes /openapi.json, so what is served and
 * what is documented are the same set of operations; the socket protocol's schemas are published at /asyncapi.json.
 * (Document validity and the responses' conformance are checked by apiProperties.e2e.test.ts.)
 */
let app: TestApp;
// The default policies, as a server without RATE_LIMITS has them.
test.before(async () => {
  app = await startTestApp({ env: { RATE_LIMITS: '' } });
});
test.after.always(async () => {
  await app.dispose();
});

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

test('every registered route is documented in /openapi.json and every documented operation is registered', async (t) => {
  const doc = (await request(app.url, 'GET', '/openapi.json')).body;
  t.is(doc.openapi, '3.1.0');
  const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => METHODS.includes(key))
        .map((method) => `${method.toUpperCase()} ${koaPath(path)}`),
    )
    .sort();
  const registered = app.router.stack
    .flatMap((layer) => layer.methods.filter((method) => method !== 'HEAD').map((method) => `${method} ${layer.path}`))
    .sort();
  t.deepEqual(registered, documented);
  const documentedHeads = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .filter(([, item]) => item.head)
    .map(([path]) => koaPath(path));
  const registeredHeads = app.router.stack.filter((layer) => layer.methods.includes('HEAD')).map((layer) => layer.path);
  t.true(documentedHeads.length > 0 && documentedHeads.every((path) => registeredHeads.includes(path)), 'a documented HEAD is served');
  t.true(documented.length >= 19, 'auth, messages, groups and system operations');
  t.deepEqual(new Set(app.routes.map((route) => route.operationId)).size, app.routes.length, 'operation ids are unique');
});

test('the document names the bearer scheme, the shared error schema with every code, and the rate-limit headers', async (t) => {
  const doc = (await request(app.url, 'GET', '/openapi.json')).body;
  t.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  t.true(doc.components.schemas.Error.properties.error.properties.code.enum.includes('rate_limited'));
  const send = doc.paths['/api/messages'].post;
  t.deepEqual(send.security, [{ bearer: [] }]);
  t.is(send['x-rate-limit-policy'], 'msg');
  t.deepEqual(Object.keys(send.responses['201'].headers).sort(), ['RateLimit', 'RateLimit-Policy', 'X-Correlation-Id', 'X-Request-Id']);
  t.truthy(send.responses['429'].headers['Retry-After']);
  t.regex(send.responses['404'].description, /`not_found`/);
  t.deepEqual(doc.paths['/auth/login'].post.security, [], 'login needs no token');
  t.regex(doc.info.description, /`msg` 30 per 3 s by user/, 'the policies are listed');
});

test('/asyncapi.json describes every client frame with its policy and every server frame, from the protocol module', async (t) => {
  const doc = (await request(app.url, 'GET', '/asyncapi.json')).body;
  t.is(doc.asyncapi, '3.1.0');
  for (const type of Object.keys(CLIENT_FRAMES)) {
    t.truthy(doc.operations[`receive.${type}`], type);
    const payload = doc.components.messages[`client.${type}`].payload;
    for (const form of payload.anyOf ?? [payload]) t.is(form.properties.type.const, type);
  }
  t.like(doc.components.messages['client.message.send'], { 'x-rate-limit-policy': { name: 'msg', burst: 30, windowSeconds: 3 } });
  for (const type of Object.keys(SERVER_FRAMES)) t.truthy(doc.operations[`send.${type}`], type);
  t.is(doc['x-close-codes'].RATE_LIMITED, 4429);
});

test('the protocol refuses frames outside it: a live update passing a domain event through would not validate', (t) => {
  t.true(serverFrame.safeParse({ type: 'sync.ok', position: 3 }).success);
  t.false(
    serverFrame.safeParse({
      type: 'group.updated',
      position: 1,
      groupId: '6fa01314-a1b6-4c4c-8ece-9e678133e26e',
      conversationId: 'group:x',
      change: 'MemberAdded',
      data: { userId: 'u' },
    }).success,
  );
  t.false(
    serverFrame.safeParse({ type: 'welcome', userId: '6fa01314-a1b6-4c4c-8ece-9e678133e26e', connectionId: 1, email: 'a@b.c' }).success,
    'no field the schema does not name',
  );
});

test('/docs serves Swagger UI pointed at /openapi.json, with its assets, no build step', async (t) => {
  const page = await fetch(`${app.url}/docs`);
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type') ?? '', /text\/html/);
  t.regex(await page.text(), /url: '\/openapi.json'/);
  const script = await fetch(`${app.url}/docs/swagger-ui-bundle.js`);
  t.is(script.status, 200);
  t.regex(script.headers.get('content-type') ?? '', /javascript/);
  t.true((await script.text()).length > 100_000);
  const other = await request(app.url, 'GET', '/docs/..%2Fpackage.json');
  t.is(other.status, 400, 'only the named assets');
});

test("with DEMO_ENABLED=false the demo page and the client's modules are not served, and not documented", async (t) => {
  const app = await startTestApp({ env: { DEMO_ENABLED: 'false' } });
  t.teardown(() => app.dispose());
  for (const path of ['/demo', '/demo/config', '/client/client.ts', '/client/demo/main.ts']) {
    t.is((await request(app.url, 'GET', path)).status, 404, path);
  }
  const document = (await request(app.url, 'GET', '/openapi.json')).body;
  t.false(Object.keys(document.paths).some((path) => path === '/demo' || path.startsWith('/client/')));
});

// ---------------------------------------------------------------------------------------------- third-party validators

const REDOCLY = join(import.meta.dirname, '../../node_modules/@redocly/cli/bin/cli.js');
const REDOCLY_CONFIG = join(import.meta.dirname, '../../redocly.yaml');
const SEVERITY = ['error', 'warning', 'info', 'hint'];

test('/asyncapi.json is valid AsyncAPI: @asyncapi/parser reports no error and no warning', async (t) => {
  const text = await (await fetch(`${app.url}/asyncapi.json`)).text();
  const { document, diagnostics } = await new Parser().parse(text);
  const problems = diagnostics
    .filter((diagnostic) => Number(diagnostic.severity) <= 1)
    .map((diagnostic) => `${SEVERITY[diagnostic.severity]} ${diagnostic.code} at ${diagnostic.path.join('/')}: ${diagnostic.message}`);
  t.deepEqual(problems, []);
  t.truthy(document, 'the parser builds a document from it');
});

test("/openapi.json passes Redocly's recommended ruleset with no error and no warning (exceptions, with why, in redocly.yaml)", async (t) => {
  const file = join(tempDir('letsapp-openapi-'), 'openapi.json');
  await writeFile(file, await (await fetch(`${app.url}/openapi.json`)).text());
  const run = await promisify(execFile)(process.execPath, [REDOCLY, 'lint', '--config', REDOCLY_CONFIG, '--format', 'json', file], {
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    maxBuffer: 64 * 1024 * 1024,
  }).catch((failed: { stdout: string }) => failed);
  const report = JSON.parse(run.stdout) as {
    totals: Record<string, number>;
    problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }>;
  };
  t.deepEqual(
    report.problems.map((problem) => `${problem.severity} ${problem.ruleId} at ${problem.location[0]?.pointer}: ${problem.message}`),
    [],
  );
  t.like(report.totals, { errors: 0, warnings: 0 });
});

test('a client frame and a server frame of the same type are two messages: each keeps its own fields (typing, call.signal)', async (t) => {
  const doc = (await request(app.url, 'GET', '/asyncapi.json')).body;
  const messageOf = (operation: string) => {
    const ref: string = doc.operations[operation].messages[0].$ref;
    const inChannel = ref.split('/').at(-1)!;
    return doc.components.messages[doc.channels.socket.messages[inChannel].$ref.split('/').at(-1)];
  };
  const fieldsOf = (payload: any): string[] =>
    [
      ...new Set([payload, ...(payload.anyOf ?? payload.oneOf ?? [])].flatMap((schema: any) => Object.keys(schema.properties ?? {}))),
    ].sort();
  t.deepEqual(fieldsOf(messageOf('receive.typing').payload), ['groupId', 'id', 'type', 'with']);
  t.false(fieldsOf(messageOf('receive.typing').payload).includes('expiresInMs'));
  t.true(fieldsOf(messageOf('send.typing').payload).includes('expiresInMs'));
  t.true(fieldsOf(messageOf('receive.call.signal').payload).includes('toConnectionId'));
  t.false(fieldsOf(messageOf('send.call.signal').payload).includes('toConnectionId'));
  t.true(fieldsOf(messageOf('send.call.signal').payload).includes('fromConnectionId'));
  for (const [
    operation,
    {
      messages: [message],
    },
  ] of Object.entries(doc.operations as Record<string, { messages: [{ $ref: string }] }>)) {
    const type = operation.replace(/^(receive|send)\./, '');
    t.is(messageOf(operation).name, type, `${operation} carries the ${type} frame`);
    t.truthy(message.$ref);
  }
});

const schemaOf = (doc: any, schema: any): any =>
  schema?.$ref ? schemaOf(doc, doc.components.schemas[schema.$ref.split('/').at(-1)]) : schema;
const bodyOf = (doc: any, path: string, method: string) =>
  schemaOf(doc, doc.paths[path][method].requestBody.content['application/json'].schema);

test('the schemas state what the server enforces on usernames, passwords, emails, display names and search queries', async (t) => {
  const doc = (await request(app.url, 'GET', '/openapi.json')).body;
  const register = bodyOf(doc, '/auth/register', 'post').properties;
  const login = bodyOf(doc, '/auth/login', 'post').properties;
  const profile = bodyOf(doc, '/api/users/profile', 'put').properties;
  const search = doc.paths['/api/users/search'].get.parameters.find((p: any) => p.name === 'q').schema;
  t.truthy(register.username.pattern, 'what a username may be, spaces around it ignored');
  t.like(register.email, { format: 'email', maxLength: 254 });
  t.like(login.email, { format: 'email', maxLength: 254 });
  t.like(register.password, { minLength: 8 });
  t.truthy(register.password.pattern, 'no control characters');
  t.like(login.password, { minLength: 1, maxLength: 128 });
  for (const displayName of [register.displayName, profile.displayName]) {
    t.like(displayName, { minLength: 1, maxLength: 64 });
    t.truthy(displayName.pattern, 'no control characters');
  }
  t.is(search.pattern, register.username.pattern, 'a username prefix');

  // What the document refuses, the server refuses (and the reverse is swept by apiProperties.e2e.test.ts).
  const matches = (schema: any, value: string) =>
    new RegExp(schema.pattern, 'u').test(value) &&
    [...value].length >= (schema.minLength ?? 0) &&
    [...value].length <= (schema.maxLength ?? Infinity);
  const registration = { email: 'rules@example.test', username: 'rules_ok', password: 'correct horse battery' };
  for (const [field, value] of [
    ['username', 'ab'],
    ['username', 'ada lovelace'],
    ['username', '\u212Aate'],
    ['password', 'tab\there!'],
    ['displayName', 'Ada\u0007'],
    ['displayName', 'x'.repeat(65)],
  ] as const) {
    t.false(matches(register[field], value), `the document refuses ${field} ${JSON.stringify(value)}`);
    const answer = await request(app.url, 'POST', '/auth/register', { body: { ...registration, [field]: value } });
    t.is(answer.status, 400, `the server refuses ${field} ${JSON.stringify(value)}`);
  }
  for (const [field, value] of [
    ['username', ' Rules_Ok2 '],
    ['displayName', ' Ada '],
  ] as const)
    t.true(matches(register[field], value), `${field} ${JSON.stringify(value)}`);
  t.is(
    (await request(app.url, 'POST', '/auth/register', { body: { ...registration, username: ' Rules_Ok2 ', displayName: ' Ada ' } })).status,
    201,
  );
});

test('the document declares the headers every answer carries, HEAD on downloads, the raw upload types and the optional body of /end', async (t) => {
  const doc = (await request(app.url, 'GET', '/openapi.json')).body;
  const header = (ref: any) => (ref.$ref ? doc.components.headers[ref.$ref.split('/').at(-1)] : ref);
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, operation] of Object.entries(item)) {
      for (const [status, response] of Object.entries(operation.responses as Record<string, any>)) {
        const where = `${method} ${path} ${status}`;
        t.true(header(response.headers?.['X-Request-Id'] ?? {}).required === true, `${where}: X-Request-Id`);
        if (operation['x-rate-limit-policy'] && status.startsWith('4'))
          t.truthy(response.headers?.RateLimit && response.headers['RateLimit-Policy'], `${where}: RateLimit`);
      }
    }
  }
  const send = doc.paths['/api/messages'].post;
  t.true(header(send.responses['201'].headers.RateLimit).required, 'a 2xx of a rate-limited operation always has them');
  t.falsy(header(send.responses['401'].headers.RateLimit).required, 'a refused token is answered before the policy is charged');
  for (const path of ['/api/media/{id}', '/api/media/{id}/thumbnail']) {
    const head = doc.paths[path].head;
    t.truthy(head, `HEAD ${path}`);
    t.deepEqual(head.parameters, doc.paths[path].get.parameters);
    for (const response of Object.values(head.responses as Record<string, any>))
      t.is(response.content, undefined, 'HEAD answers have no body');
  }
  const upload = Object.keys(doc.paths['/api/media/upload'].post.requestBody.content);
  for (const type of ['multipart/form-data', 'application/octet-stream', 'image/*', 'video/*', 'audio/*', 'text/plain'])
    t.true(upload.includes(type), type);
  t.false(doc.paths['/api/calls/{id}/end'].post.requestBody.required, 'no body means a hangup');
  t.is(doc.paths['/api/calls/{id}/reject'].post.requestBody, undefined);
});
