import { randomUUID } from 'node:crypto';
import { messageStream } from '../../commands/messages.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { postgresTest } from '../helpers/postgres.ts';

const HOUR = 3_600_000;

/**
 * Two instances on one PostgreSQL schema: a disappearing message is expired once whichever instance's pass reaches it,
 * both running at the same moment; and the work list survives a restart of both.
 */
postgresTest(
  'two instances on PostgreSQL passing at once expire a message once: one MessageExpired, one key destroyed, one MessageContentShredded',
  async (t, settings) => {
    const env = { DATABASE_URL: settings.url, DATABASE_SCHEMA: settings.schema!, DATABASE_POOL_MAX: '2' };
    const apps: TestApp[] = [];
    for (let i = 0; i < 2; i++) {
      const app = await startTestApp({ env });
      t.teardown(() => app.dispose());
      apps.push(app);
    }
    const [one, two] = apps as [TestApp, TestApp];
    const [a, b] = [await registerUser(one.url), await registerUser(one.url)];
    const set = await request(two.url, 'PUT', '/api/conversations/timer', {
      token: b.accessToken,
      body: { with: a.user.id, timer: '24h' },
    });
    t.is(set.status, 200);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const sent = await request(one.url, 'POST', '/api/messages', {
        token: a.accessToken,
        body: { recipientId: b.user.id, text: `shared-${i}-${randomUUID()}` },
      });
      t.is(sent.status, 201);
      ids.push(sent.body.message.id as string);
    }
    const now = new Date(Date.now() + 25 * HOUR);
    const passes = await Promise.all([one.messageExpiry.sweep(now), two.messageExpiry.sweep(now)]);
    // Both may report a message whose append they raced for (the same event id is stored once): the log is the judge.
    t.true(passes.every((pass) => pass.expired <= 6) && passes.some((pass) => pass.expired > 0));
    for (const id of ids) {
      t.deepEqual(
        (await one.eventStore.readStream(messageStream(id))).map((event) => event.type),
        ['MessageSent', 'MessageExpired', 'MessageContentShredded'],
      );
    }
    for (const app of [one, two]) {
      const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
      t.deepEqual(page.body.messages, []);
    }
    t.deepEqual(await one.messageExpiry.sweep(now), { expired: 0, shredded: 0 }, 'nothing left for a later pass');
  },
  { serial: true },
);
