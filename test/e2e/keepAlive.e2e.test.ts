import test from 'ava';
import { request as httpRequest } from 'node:http';
import { startTestApp } from '../helpers/app.ts';

test('an idle keep-alive connection is kept 65 s, longer than a load balancer idle timeout of 60 s: the answer says so', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const header = await new Promise<string | undefined>((resolve, reject) => {
    const outgoing = httpRequest(`${app.url}/health/live`, { headers: { connection: 'keep-alive' }, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(String(response.headers['keep-alive'])));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
  t.is(header, 'timeout=65');
});
