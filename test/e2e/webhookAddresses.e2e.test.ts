import test from 'ava';
import type { LookupAddress } from 'node:dns';
import { loadConfig } from '../../src/config.ts';
import { registerUser, request, startTestApp, tempDir, testEnv, type TestApp } from '../helpers/app.ts';
import { WebhookReceiver } from '../helpers/webhookReceiver.ts';

/**
 * Webhook URLs and SSRF, without WEBHOOK_ALLOW_PRIVATE: names are resolved by a stand-in resolver (no DNS is asked),
 * `flip.test` first to a public address, then to loopback (a DNS rebind between registration and delivery).
 */
const names = new Map<string, string>([
  ['loopback.test', '127.0.0.1'],
  ['metadata.test', '169.254.169.254'],
  ['public.test', '93.184.216.34'],
  ['flip.test', '93.184.216.34'],
]);
const resolve = (hostname: string): Promise<LookupAddress[]> => {
  const address = names.get(hostname);
  if (!address) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
  return Promise.resolve([{ address, family: address.includes(':') ? 6 : 4 }]);
};

let app: TestApp;
let receiver: WebhookReceiver;
test.before(async () => {
  receiver = await WebhookReceiver.start();
  app = await startTestApp({ webhooks: { resolve, settings: { pollIntervalMs: 50 } } });
});
test.after.always(async () => {
  await app.dispose();
  await receiver.close();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const api = (who: User, method: string, path: string, body?: unknown) =>
  request(app.url, method, path, { token: who.accessToken, ...(body === undefined ? {} : { body }) });
const eventsOf = async (who: User) => {
  const found = [];
  let after = 0;
  for (;;) {
    const page = await app.eventStore.readAll({ after, maxCount: 1_000 });
    if (page.length === 0) return found;
    found.push(...page.filter((event) => event.type.startsWith('Webhook') && (event.data as { ownerId?: string }).ownerId === who.user.id));
    after = page.at(-1)!.position;
  }
};

test('URLs on loopback, private, link-local and metadata addresses, or names resolving to them, are refused at registration (400, nothing appended)', async (t) => {
  const owner = await registerUser(app.url);
  const refused = [
    'https://127.0.0.1/hook',
    'https://10.1.2.3/hook',
    'https://192.168.0.10/hook',
    'https://169.254.169.254/latest/meta-data/',
    'https://[::1]/hook',
    'https://[::ffff:127.0.0.1]/hook',
    'https://[fd00:ec2::254]/hook',
    'https://localhost/hook',
    'https://loopback.test/hook',
    'https://metadata.test/hook',
    'https://unknown.test/hook',
    // Plain http only with WEBHOOK_ALLOW_PRIVATE.
    'http://public.test/hook',
    `${receiver.url}/hook`,
  ];
  for (const url of refused) {
    const response = await api(owner, 'POST', '/api/webhooks', { url, events: ['message.created'] });
    t.is(response.status, 400, url);
    t.is(response.body.error.code, 'validation_failed', url);
  }
  t.deepEqual(await eventsOf(owner), []);
  // A public https name is accepted.
  const accepted = await api(owner, 'POST', '/api/webhooks', { url: 'https://public.test/hook', events: ['message.created'] });
  t.is(accepted.status, 201);
  // So is a change to a private one refused, with nothing appended.
  const before = (await eventsOf(owner)).length;
  const changed = await api(owner, 'PATCH', `/api/webhooks/${accepted.body.webhook.id}`, { url: 'https://loopback.test/hook' });
  t.is(changed.status, 400);
  t.is((await eventsOf(owner)).length, before);
});

test('a name that resolved to a public address at registration and to loopback at delivery (DNS rebind) is not connected to: the attempt fails as refused', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const port = new URL(receiver.url).port;
  const registered = await api(bob, 'POST', '/api/webhooks', { url: `https://flip.test:${port}/hook`, events: ['message.created'] });
  t.is(registered.status, 201);
  names.set('flip.test', '127.0.0.1');
  const sent = await api(alice, 'POST', '/api/messages', { recipientId: bob.user.id, text: 'rebind' });
  t.is(sent.status, 201);
  const log = async () =>
    (await api(bob, 'GET', `/api/webhooks/${registered.body.webhook.id}/deliveries`)).body.deliveries as Array<{
      attempts: number;
      lastError: string | null;
      lastStatus: number | null;
    }>;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && ((await log())[0]?.attempts ?? 0) === 0) await new Promise((resolve) => setTimeout(resolve, 100));
  const [delivery] = await log();
  t.truthy(delivery);
  t.true(delivery!.attempts > 0);
  t.is(delivery!.lastStatus, null);
  t.regex(delivery!.lastError ?? '', /loopback, private or link-local/);
  t.is(receiver.connections, 0);
});

test('WEBHOOK_ALLOW_PRIVATE is refused with NODE_ENV=production', (t) => {
  t.throws(
    () =>
      loadConfig(
        {
          ...testEnv(tempDir()),
          NODE_ENV: 'production',
          BCRYPT_COST: '10',
          AUDIT_ANCHOR_KEY: 'k'.repeat(32),
          WEBHOOK_ALLOW_PRIVATE: 'true',
        },
        () => undefined,
      ),
    {
      message: /WEBHOOK_ALLOW_PRIVATE is for tests only/,
    },
  );
});
