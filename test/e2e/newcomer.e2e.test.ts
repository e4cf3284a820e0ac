import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { frameUsers, rateLimitTable, routeUsers, tableInReadme } from '../../scripts/lib/rateLimitTable.ts';
import { CLIENT_FRAMES } from '../../src/contract/socketProtocol.ts';
import { DEFAULT_POLICIES } from '../../src/rateLimit/policies.ts';
import { startTestApp } from '../helpers/app.ts';

test('GET / points a browser at the demo, the API docs and the descriptions, and appends nothing', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const head = await app.eventStore.headPosition();
  const response = await fetch(`${app.url}/`, { headers: { accept: 'text/html' } });
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^text\/html/);
  const page = await response.text();
  for (const link of ['/demo', '/docs', '/openapi.json', '/asyncapi.json', '/ping']) t.true(page.includes(`href="${link}"`), link);
  // Every link it offers answers.
  for (const [, link] of page.matchAll(/href="([^"]+)"/g)) t.is((await fetch(`${app.url}${link}`)).status, 200, link);
  t.is(await app.eventStore.headPosition(), head);

  const withoutDemo = await startTestApp({ env: { DEMO_ENABLED: 'false' } });
  t.teardown(() => withoutDemo.dispose());
  const plain = await (await fetch(`${withoutDemo.url}/`)).text();
  t.false(plain.includes('href="/demo"'), 'no link to a demo that is not served');
  t.true(plain.includes('href="/docs"'));
});

test("the README's rate-limit table is the policies' own list with every route and frame that charges each", async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const users = [...routeUsers(app.routes), ...frameUsers(CLIENT_FRAMES)];
  const table = rateLimitTable(DEFAULT_POLICIES, users);
  t.is(tableInReadme(readFileSync('README.md', 'utf8')), table, 'regenerate it: npx tsx scripts/rate-limit-table.ts --write');
  // Every policy has its row, and every operation that names a policy is in that row (profile: ten, not one).
  for (const policy of DEFAULT_POLICIES) {
    const row = table.split('\n').find((line) => line.startsWith(`| \`${policy.name}\` |`));
    t.truthy(row, policy.name);
    for (const user of users.filter((candidate) => candidate.policy === policy.name))
      t.true(row!.includes(`\`${user.operation}\``), user.operation);
  }
  t.true(users.filter((user) => user.policy === 'profile').length >= 10);
});

test("the README's curl quick start runs as written against a real server: two users, a message sent and read, a socket", async (t) => {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start with curl'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  t.truthy(block, 'the quick start has a ```sh block');
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const script = block!.replaceAll('localhost:5001', `127.0.0.1:${app.httpPort}`).replaceAll('localhost:5002', `127.0.0.1:${app.wsPort}`);
  const { stdout } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script], { timeout: 60_000 });
  const lines = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  const [ana, ben, sent, page, ...frames] = lines;
  t.like(ana, { user: { username: 'ana', email: 'ana@example.com' } });
  t.like(ben, { user: { username: 'ben' } });
  t.like(sent, { message: { senderId: ana.user.id, recipientId: ben.user.id, content: { kind: 'text', text: 'Hello Ben' } } });
  t.is(page.messages[0].id, sent.message.id);
  t.deepEqual(
    frames.map((frame) => frame.type),
    ['welcome', 'sync.snapshot'],
  );
  t.is(frames[0].userId, ben.user.id);
  t.is(frames[1].conversations[0].lastMessage.id, sent.message.id);
  // What it appended: two registrations, two logins, one message.
  const events = await app.eventStore.readAll();
  t.deepEqual(
    events.filter((event) => event.type === 'UserRegistered').map((event) => (event.data as { userId: string }).userId),
    [ana.user.id, ben.user.id],
  );
  t.deepEqual(
    events.filter((event) => event.type === 'MessageSent').map((event) => event.stream),
    [`message-${sent.message.id}`],
  );
});
