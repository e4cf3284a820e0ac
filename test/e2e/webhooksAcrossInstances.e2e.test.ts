import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { postgresTest } from '../helpers/postgres.ts';
import { WebhookReceiver } from '../helpers/webhookReceiver.ts';

/** Outgoing webhooks with two instances on one PostgreSQL: one holds the lease and delivers; each event once. */
postgresTest(
  'two instances on one PostgreSQL deliver each message to a webhook exactly once, whichever instance it was sent through',
  async (t, settings) => {
    const receiver = await WebhookReceiver.start();
    t.teardown(() => receiver.close());
    const apps: TestApp[] = [];
    for (let i = 0; i < 2; i++) {
      const app = await startTestApp({
        env: {
          DATABASE_URL: settings.url,
          DATABASE_SCHEMA: settings.schema!,
          DATABASE_POOL_MAX: '2',
          WEBHOOK_ALLOW_PRIVATE: 'true',
          WEBHOOK_RETRY_BASE_MS: '50',
          WEBHOOK_MAX_RETRY_DELAY_MS: '200',
        },
        webhooks: { settings: { pollIntervalMs: 50 } },
      });
      t.teardown(() => app.dispose());
      apps.push(app);
    }
    const [first, second] = apps as [TestApp, TestApp];
    const [alice, bob] = [await registerUser(first.url), await registerUser(first.url)];
    // The first answer is a 500: the retry is made once too, by the lease holder only.
    receiver.answer('/hook', (count) => (count === 1 ? { status: 500 } : { status: 200 }));
    const registered = await request(second.url, 'POST', '/api/webhooks', {
      token: bob.accessToken,
      body: { url: `${receiver.url}/hook`, events: ['message.created'] },
    });
    t.is(registered.status, 201);
    const sent: string[] = [];
    for (let i = 0; i < 6; i++) {
      const through = i % 2 === 0 ? first : second;
      const response = await request(through.url, 'POST', '/api/messages', {
        token: alice.accessToken,
        body: { recipientId: bob.user.id, text: `message ${i}` },
      });
      t.is(response.status, 201);
      sent.push(response.body.message.id as string);
    }
    const deliveredIds = () => new Set(receiver.for('/hook').map((hook) => hook.json.data.message.id as string));
    await receiver.waitFor(() => sent.every((id) => deliveredIds().has(id)), 60_000);
    // Time for a second instance's copy, were there one.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const keys = receiver.for('/hook').map((hook) => String(hook.headers['x-letsapp-delivery']));
    // Six deliveries, seven requests: the one 500 was retried under the same key, nothing else twice.
    t.is(new Set(keys).size, 6);
    t.is(keys.length, 7);
  },
  { serial: true },
);
