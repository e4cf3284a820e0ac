import test from 'ava';
import { koaPath } from '../../src/http/routeTable.ts';
import { CLIENT_FRAMES, SERVER_FRAMES, serverFrame } from '../../src/realtime/protocol.ts';
import { request, startTestApp, type TestApp } from '../helpers/app.ts';

/**
 * One description of the API: the route table registers the handlers and writes /openapi.json, so what is served and
 * what is documented are the same set of operations; the socket protocol's schemas are published at /asyncapi.json.
 * (Document validity and the responses' conformance are checked by apiProperties.e2e.test.ts.)
 */
let app: TestApp;
// The default policies, as a server without RATE_LIMITS has them.
test.before(async () => { app = await startTestApp({ env: { RATE_LIMITS: '' } }); });
test.after.always(async () => { await app.dispose(); });

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

test('every registered route is documented in /openapi.json and every documented operation is registered', async (t) => {
  const doc = (await request(app.url, 'GET', '/openapi.json')).body;
  t.is(doc.openapi, '3.1.0');
  const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, item]) => Object.keys(item).filter((key) => METHODS.includes(key)).map((method) => `${method.toUpperCase()} ${koaPath(path)}`))
    .sort();
  const registered = app.router.stack
    .flatMap((layer) => layer.methods.filter((method) => method !== 'HEAD').map((method) => `${method} ${layer.path}`))
    .sort();
  t.deepEqual(registered, documented);
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
  t.deepEqual(Object.keys(send.responses['201'].headers).sort(), ['RateLimit', 'RateLimit-Policy']);
  t.truthy(send.responses['429'].headers['Retry-After']);
  t.regex(send.responses['404'].description, /`not_found`/);
  t.deepEqual(doc.paths['/auth/login'].post.security, [], 'login needs no token');
  t.regex(doc.info.description, /`msg` 30 per 3 s by user/, 'the policies are listed');
});

test('/asyncapi.json describes every client frame with its policy and every server frame, from the protocol module', async (t) => {
  const doc = (await request(app.url, 'GET', '/asyncapi.json')).body;
  t.is(doc.asyncapi, '3.0.0');
  for (const type of Object.keys(CLIENT_FRAMES)) {
    t.truthy(doc.operations[`receive.${type}`], type);
    t.is(doc.components.messages[type].payload.properties.type.const, type);
  }
  t.like(doc.components.messages['message.send'], { 'x-rate-limit-policy': { name: 'msg', burst: 30, windowSeconds: 3 } });
  for (const type of Object.keys(SERVER_FRAMES)) t.truthy(doc.operations[`send.${type}`], type);
  t.is(doc['x-close-codes'].RATE_LIMITED, 4429);
});

test('the protocol refuses frames outside it: a live update passing a domain event through would not validate', (t) => {
  t.true(serverFrame.safeParse({ type: 'sync.ok', position: 3 }).success);
  t.false(serverFrame.safeParse({ type: 'group.updated', position: 1, groupId: '6fa01314-a1b6-4c4c-8ece-9e678133e26e',
    conversationId: 'group:x', change: 'MemberAdded', data: { userId: 'u' } }).success);
  t.false(serverFrame.safeParse({ type: 'welcome', userId: '6fa01314-a1b6-4c4c-8ece-9e678133e26e', connectionId: 1, email: 'a@b.c' }).success,
    'no field the schema does not name');
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

test('with DEMO_ENABLED=false the demo page and the client\'s modules are not served, and not documented', async (t) => {
  const app = await startTestApp({ env: { DEMO_ENABLED: 'false' } });
  t.teardown(() => app.dispose());
  for (const path of ['/demo', '/demo/config', '/client/client.ts', '/client/demo/main.ts']) {
    t.is((await request(app.url, 'GET', path)).status, 404, path);
  }
  const document = (await request(app.url, 'GET', '/openapi.json')).body;
  t.false(Object.keys(document.paths).some((path) => path === '/demo' || path.startsWith('/client/')));
});
