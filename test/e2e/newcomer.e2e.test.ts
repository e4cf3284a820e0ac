import test from 'ava';
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
