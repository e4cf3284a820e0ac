import type { ExecutionContext } from 'ava';
import type { PostgresSettings } from '../../src/postgres/connection.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { until } from '../helpers/cluster.ts';
import { FakePushService, type ReceivedPush, type TestDevice } from '../helpers/fakePushService.ts';
import { postgresTest } from '../helpers/postgres.ts';
import { connect } from '../helpers/socket.ts';

/** Web Push with two instances on one PostgreSQL: one delivers (the lease), and a socket on any instance means no push. */
type User = Awaited<ReturnType<typeof registerUser>>;

async function instances(t: ExecutionContext, settings: PostgresSettings): Promise<[TestApp, TestApp]> {
  const apps: TestApp[] = [];
  for (let i = 0; i < 2; i++) {
    const app = await startTestApp({
      env: { DATABASE_URL: settings.url, DATABASE_SCHEMA: settings.schema!, DATABASE_POOL_MAX: '2', PUSH_ALLOW_PRIVATE_ENDPOINTS: 'true' },
    });
    t.teardown(() => app.dispose());
    apps.push(app);
  }
  return apps as [TestApp, TestApp];
}

const api = (app: TestApp, who: User, method: string, path: string, body?: unknown) =>
  request(app.url, method, path, { token: who.accessToken, ...(body === undefined ? {} : { body }) });
const messageIdOf = (push: ReceivedPush) => (push.payload as { messageId?: string } | null)?.messageId;
const pushedTo = (device: TestDevice, messageId: string) => (received: ReceivedPush[]) =>
  received.some((push) => push.path === new URL(device.endpoint).pathname && messageIdOf(push) === messageId);

postgresTest(
  'a recipient whose socket is on another instance gets no push; once it closes, the next message is pushed exactly once',
  async (t, settings) => {
    const pushService = await FakePushService.start();
    t.teardown(() => pushService.close());
    const [first, second] = await instances(t, settings);
    const [alice, bob] = [await registerUser(first.url), await registerUser(first.url)];
    const phone = pushService.device();
    t.is((await api(first, bob, 'POST', '/api/push/subscriptions', { endpoint: phone.endpoint, keys: phone.keys })).status, 201);
    const socket = await connect(second.wsUrl, bob.accessToken);
    await socket.next((frame) => frame.type === 'welcome');
    socket.send({ type: 'sync', id: 'sync' });
    await socket.next((frame) => frame.id === 'sync');
    const live = (await api(first, alice, 'POST', '/api/messages', { recipientId: bob.user.id, text: 'on the other instance' })).body
      .message;
    await socket.next((frame) => frame.type === 'message.created' && frame.message?.id === live.id);
    // Bob stays connected until whichever instance delivers pushes has decided on that message (it is behind the live
    // frame, and a socket gone by then would rightly get a push).
    const sent = await first.eventStore.headPosition();
    await until(
      async () => [first, second].some((app) => (app.pushDeliveries?.decidedThrough() ?? 0) >= sent),
      15_000,
      'the pushes of the live message are decided',
    );
    socket.close();
    await socket.closed;
    // The closed socket's presence session is removed by its instance as the socket goes, in the background. The
    // first instance, which has no socket of bob's, answers presence from those shared sessions (as the push decision
    // does): the next message is sent once it shows bob offline.
    await until(
      async () => (await api(first, alice, 'GET', `/api/presence?userIds=${bob.user.id}`)).body.users[0].status === 'offline',
      15_000,
      "bob's presence session is gone once his only socket closed",
    );
    const later = (await api(second, alice, 'POST', '/api/messages', { recipientId: bob.user.id, text: 'gone now' })).body.message;
    await pushService.waitFor(pushedTo(phone, later.id), 20_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    t.deepEqual(pushService.for(phone).map(messageIdOf), [later.id]);
  },
  { serial: true },
);
