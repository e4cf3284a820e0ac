import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { promisify } from 'node:util';
import { registerUser, request, tempDir } from '../helpers/app.ts';
import { spawnServer } from '../helpers/process.ts';
import { connect } from '../helpers/socket.ts';

/**
 * The compiled build: `npm run build` (the Dockerfile's build stage runs the same), then `node dist/main.js` as
 * `npm run start:prod`, the Dockerfile and deploy/letsapp.service do: plain Node, no TypeScript loader, the projection
 * and checkpoint workers running from dist/.
 */
test.before(async () => {
  await promisify(execFile)('npm', ['run', 'build'], { timeout: 120_000 });
});

/** The packages and built-ins a built file imports: statically, and (unless `staticOnly`) with import(). */
const packagesImportedBy = (file: string, staticOnly = false) =>
  [
    ...readFileSync(file, 'utf8').matchAll(
      /(?:^|[\s;])(?:import|export)[^'"]*?from\s*["']([^"'.][^"']*)["']|^import\s+["']([^"'.][^"']*)["']|import\(["']([^"'.][^"']*)["']\)/gm,
    ),
  ].flatMap((match) => (staticOnly ? [match[1] ?? match[2]] : [match[1] ?? match[2] ?? match[3]]).filter((name) => name !== undefined));

const chunks = () => readdirSync('dist/chunks').filter((name) => name.endsWith('.js'));

test('the bundle imports only Node built-ins and runtime dependencies (the Dockerfile prunes devDependencies)', (t) => {
  const { dependencies } = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
  const entries = ['dist/main.js', 'dist/projectionWorker.mjs', 'dist/checkpointWorker.mjs'];
  for (const file of [...entries, ...chunks().map((chunk) => `dist/chunks/${chunk}`)]) {
    const specifiers = packagesImportedBy(file);
    // Every entry imports something; a chunk may import only other chunks.
    if (entries.includes(file)) t.true(specifiers.length > 0, file);
    for (const specifier of specifiers) {
      const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
      t.true(specifier.startsWith('node:') || builtinModules.includes(name) || name in dependencies, `${file} imports ${specifier}`);
    }
  }
});

test("a start on the embedded default loads no other engine's driver and no trace exporter: they sit in chunks loaded with import()", (t) => {
  // The files main.js loads before it runs: itself and the chunks it imports statically, transitively.
  const loaded = new Set<string>();
  const visit = (file: string) => {
    if (loaded.has(file)) return;
    loaded.add(file);
    const source = readFileSync(file, 'utf8');
    for (const [, fromClause, bare] of source.matchAll(
      /^(?:import|export)\s[^;]*?["'](\.{1,2}\/[^"']+\.js)["'];?$|^import\s+["'](\.{1,2}\/[^"']+\.js)["'];?$/gms,
    )) {
      const target = fromClause ?? bare;
      if (target) visit(new URL(target, `file://${process.cwd()}/${file}`).pathname.slice(process.cwd().length + 1));
    }
  };
  visit('dist/main.js');
  t.true(loaded.size > 1, 'main.js imports chunks');
  const packages = new Set([...loaded].flatMap((file) => packagesImportedBy(file, true)));
  for (const driver of ['mongodb', '@eventstore/db-client', 'pg', '@opentelemetry/exporter-trace-otlp-http'])
    t.false(packages.has(driver), `${driver} is not loaded at start`);
  t.true(
    chunks().some((chunk) => packagesImportedBy(`dist/chunks/${chunk}`).includes('mongodb')),
    'the MongoDB read store is still built, in a chunk of its own',
  );
});

test("the built server runs without tsx: register, send over REST, the other user's socket receives it, and the demo is served compiled", async (t) => {
  t.true(existsSync('dist/main.js') && existsSync('dist/projectionWorker.mjs') && existsSync('dist/checkpointWorker.mjs'));
  for (const file of ['dist/main.js', 'dist/projectionWorker.mjs'])
    t.false(/from ["']tsx/.test(readFileSync(file, 'utf8')), `${file} loads no tsx`);
  const server = await spawnServer(tempDir(), { DEMO_ENABLED: 'true' }, ['dist/main.js']);
  t.teardown(() => server.stop());
  t.is((await request(server.url, 'GET', '/health/ready')).status, 200);

  const [alice, bob] = [await registerUser(server.url), await registerUser(server.url)];
  const socket = await connect(server.wsUrl, bob.accessToken);
  t.teardown(() => socket.close());
  await socket.next((f) => f.type === 'welcome');
  socket.send({ type: 'sync', since: 0 });
  await socket.next((f) => f.type === 'sync.ok');
  const sent = await request(server.url, 'POST', '/api/messages', {
    token: alice.accessToken,
    body: { recipientId: bob.user.id, text: 'from the build' },
  });
  t.is(sent.status, 201);
  const created = await socket.next((f) => f.type === 'message.created', 10_000);
  t.is(created.message.id, sent.body.message.id);

  const module = await fetch(`${server.url}/client/client.ts`);
  t.is(module.status, 200);
  t.regex(module.headers.get('content-type') ?? '', /javascript/);
  t.false((await module.text()).includes('private readonly'), 'compiled at build time, types stripped');
});
