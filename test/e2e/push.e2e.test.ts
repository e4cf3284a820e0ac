import test from 'ava';
import { registerUser, request, startTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { FakePushService, type ReceivedPush, type TestDevice } from '../helpers/fakePushService.ts';
import { connect } from '../helpers/socket.ts';

/** Web Push: subscriptions, and what a push service on loopback receives (decrypted with the device's own key). */
const PUSH_ENV = {
  // The stand-in listens on loopback over http: test-only.
  PUSH_ALLOW_PRIVATE_ENDPOINTS: 'true',
  PUSH_RETRY_BASE_MS: '100',
  PUSH_MAX_RETRY_DELAY_MS: '3000',
  CALL_RING_TIMEOUT_MS: '1500',
};

let app: TestApp;
let pushService: FakePushService;
test.before(async () => {
  pushService = await FakePushService.start();
  app = await startTestApp({ env: PUSH_ENV });
});
test.after.always(async () => {
  await app.dispose();
  await pushService.close();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const api = (who: User, method: string, path: string, body?: unknown, base = app.url) =>
  request(base, method, path, { token: who.accessToken, ...(body === undefined ? {} : { body }) });
const pushEvents = async (who: User, base = app) => (await base.eventStore.readStream(`push-${who.user.id}`)).map((event) => event);

async function subscribe(who: User, device: TestDevice, base = app.url) {
  const response = await api(who, 'POST', '/api/push/subscriptions', { endpoint: device.endpoint, keys: device.keys }, base);
  if (response.status !== 201) throw new Error(`subscribe: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.subscription as { id: string; origin: string };
}
const send = async (from: User, to: { recipientId: string } | { groupId: string }, text: string, base = app.url) => {
  const response = await api(from, 'POST', '/api/messages', { ...to, text }, base);
  if (response.status !== 201) throw new Error(`send: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.message as { id: string; conversationId: string };
};
const payloadOf = (push: ReceivedPush) => push.payload as Record<string, any>;
const withMessage = (device: TestDevice, messageId: string) => (received: ReceivedPush[]) =>
  received.some((push) => push.path === new URL(device.endpoint).pathname && payloadOf(push)?.messageId === messageId);

test('a direct message to a recipient without a socket reaches each device encrypted (RFC 8291): sender and text, Topic per conversation, TTL, normal urgency', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const [phone, laptop] = [pushService.device(), pushService.device()];
  const subscription = await subscribe(bob, phone);
  await subscribe(bob, laptop);
  t.is(subscription.origin, pushService.url);
  // The event holds the endpoint and keys sealed under Bob's data key, never in clear.
  const added = (await pushEvents(bob)).filter((event) => event.type === 'PushSubscriptionAdded');
  t.is(added.length, 2);
  t.false(JSON.stringify(added).includes(phone.endpoint));
  t.false(JSON.stringify(added).includes(phone.keys.auth));
  t.like(added[0]!.data, { userId: bob.user.id, subscriptionId: subscription.id, subscription: { kid: `user:${bob.user.id}` } });
  const listed = await api(bob, 'GET', '/api/push/subscriptions');
  t.is(listed.status, 200);
  t.is(listed.body.subscriptions.length, 2);
  t.false(JSON.stringify(listed.body).includes(phone.endpoint));

  const message = await send(alice, { recipientId: bob.user.id }, 'Dinner at 8?');
  await pushService.waitFor((received) => withMessage(phone, message.id)(received) && withMessage(laptop, message.id)(received));
  const push = pushService.for(phone).find((received) => payloadOf(received).messageId === message.id)!;
  t.like(payloadOf(push), {
    type: 'message',
    conversationId: message.conversationId,
    title: alice.user.username,
    body: 'Dinner at 8?',
    sender: { id: alice.user.id, username: alice.user.username },
    preview: true,
  });
  t.is(push.headers['content-encoding'], 'aes128gcm');
  t.is(push.headers.urgency, 'normal');
  t.regex(String(push.headers.topic), /^[A-Za-z0-9_-]{32}$/);
  t.true(Number(push.headers.ttl) > 80_000 && Number(push.headers.ttl) <= 86_400);
  const { body: vapid } = await api(bob, 'GET', '/api/push/vapid-public-key');
  t.true(String(push.headers.authorization).startsWith('vapid t=') && String(push.headers.authorization).endsWith(`k=${vapid.publicKey}`));
  // The next message of the same conversation carries the same Topic (the push service keeps only the newest).
  const next = await send(alice, { recipientId: bob.user.id }, 'Or 9');
  await pushService.waitFor(withMessage(phone, next.id));
  t.is(pushService.for(phone).find((received) => payloadOf(received).messageId === next.id)!.headers.topic, push.headers.topic);
  t.is(pushService.for(phone).filter((received) => payloadOf(received).messageId === message.id).length, 1);
});

test('a recipient with a synced socket gets no push; once the socket is gone the next message is pushed', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const phone = pushService.device();
  await subscribe(bob, phone);
  const socket = await connect(app.wsUrl, bob.accessToken);
  await socket.next((frame) => frame.type === 'welcome');
  socket.send({ type: 'sync', id: 'sync' });
  await socket.next((frame) => frame.id === 'sync');
  const live = await send(alice, { recipientId: bob.user.id }, 'you are here');
  await socket.next((frame) => frame.type === 'message.created' && frame.message?.id === live.id);
  socket.close();
  await socket.closed;
  await new Promise((resolve) => setTimeout(resolve, 200));
  const later = await send(alice, { recipientId: bob.user.id }, 'you left');
  await pushService.waitFor(withMessage(phone, later.id));
  t.deepEqual(
    pushService.for(phone).map((push) => payloadOf(push).messageId),
    [later.id],
  );
});

test('with pushPreview off a push says "New message": no sender, no text', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const phone = pushService.device();
  await subscribe(bob, phone);
  const changed = await api(bob, 'PUT', '/api/push/settings', { pushPreview: false });
  t.is(changed.status, 200);
  t.false(changed.body.settings.pushPreview);
  t.like((await pushEvents(bob)).at(-1), { type: 'PushPreviewChanged', data: { userId: bob.user.id, pushPreview: false } });
  const message = await send(alice, { recipientId: bob.user.id }, 'secret plans');
  await pushService.waitFor(withMessage(phone, message.id));
  const payload = payloadOf(pushService.for(phone)[0]!);
  t.deepEqual(payload, {
    type: 'message',
    conversationId: message.conversationId,
    messageId: message.id,
    title: 'New message',
    body: '',
    preview: false,
    at: payload.at,
  });
  t.false(JSON.stringify(payload).includes('secret'));
  t.false(JSON.stringify(payload).includes(alice.user.username));
});

test('a muted conversation sends nothing until unmuted; muting is for members, and only into the future', async (t) => {
  const [alice, bob, mallory] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const phone = pushService.device();
  await subscribe(bob, phone);
  const first = await send(alice, { recipientId: bob.user.id }, 'one');
  await pushService.waitFor(withMessage(phone, first.id));
  const path = `/api/conversations/${encodeURIComponent(first.conversationId)}/mute`;
  const muted = await api(bob, 'PUT', path, { until: null });
  t.is(muted.status, 200);
  t.deepEqual(muted.body.settings.mutes, [{ conversationId: first.conversationId, until: null }]);
  t.like((await pushEvents(bob)).at(-1), { type: 'ConversationMuted', data: { conversationId: first.conversationId, until: null } });
  const silent = await send(alice, { recipientId: bob.user.id }, 'two');
  t.is((await api(bob, 'DELETE', path)).status, 200);
  t.like((await pushEvents(bob)).at(-1), { type: 'ConversationUnmuted' });
  const third = await send(alice, { recipientId: bob.user.id }, 'three');
  await pushService.waitFor(withMessage(phone, third.id));
  // Deliveries follow the log's order: the third pushed means the second was passed over.
  t.deepEqual(
    pushService.for(phone).map((push) => payloadOf(push).messageId),
    [first.id, third.id],
  );
  t.false(pushService.received.some((push) => payloadOf(push)?.messageId === silent.id));

  const before = (await pushEvents(mallory)).length;
  const notMember = await api(mallory, 'PUT', path, { until: null });
  t.is(notMember.status, 404);
  t.is(notMember.body.error.code, 'not_found');
  const past = await api(bob, 'PUT', path, { until: '2000-01-01T00:00:00Z' });
  t.is(past.status, 400);
  t.is((await api(bob, 'PUT', '/api/conversations/nonsense/mute', { until: null })).status, 400);
  t.is((await pushEvents(mallory)).length, before);
});

test('a 404 or 410 from the push service deletes the subscription', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const phone = pushService.device();
  const { id } = await subscribe(bob, phone);
  pushService.script(phone, { status: 410 });
  const message = await send(alice, { recipientId: bob.user.id }, 'anyone?');
  await pushService.waitFor((received) => received.some((push) => push.path === new URL(phone.endpoint).pathname));
  const deadline = Date.now() + 5_000;
  while ((await pushEvents(bob)).at(-1)?.type !== 'PushSubscriptionRemoved' && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  t.like((await pushEvents(bob)).at(-1), { type: 'PushSubscriptionRemoved', data: { subscriptionId: id, reason: 'expired' } });
  t.deepEqual((await api(bob, 'GET', '/api/push/subscriptions')).body.subscriptions, []);
  t.is(pushService.for(phone).length, 1);
  t.truthy(message);
});

test('429 is retried after its Retry-After, 5xx with backoff, then delivered once', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const phone = pushService.device();
  await subscribe(bob, phone);
  pushService.script(phone, { status: 429, headers: { 'Retry-After': '1' } }, { status: 503 });
  const message = await send(alice, { recipientId: bob.user.id }, 'persist');
  await pushService.waitFor(withMessage(phone, message.id));
  const tries = pushService.for(phone);
  t.deepEqual(
    tries.map((push) => push.status),
    [429, 503, 201],
  );
  t.true(tries[1]!.at - tries[0]!.at >= 950, `waited ${tries[1]!.at - tries[0]!.at} ms after 429`);
  t.true(tries[2]!.at - tries[1]!.at >= 90);
});

test('a group message is pushed to the other members; the one @mentioned gets a mention with high urgency', async (t) => {
  const [alice, bob, carol] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const group = await api(alice, 'POST', '/api/groups', { name: 'Climbing', memberIds: [bob.user.id, carol.user.id] });
  t.is(group.status, 201);
  const [bobs, carols, alices] = [pushService.device(), pushService.device(), pushService.device()];
  await subscribe(bob, bobs);
  await subscribe(carol, carols);
  await subscribe(alice, alices);
  const message = await send(alice, { groupId: group.body.group.id }, `rope for @${bob.user.username}?`);
  await pushService.waitFor((received) => withMessage(bobs, message.id)(received) && withMessage(carols, message.id)(received));
  t.like(payloadOf(pushService.for(bobs)[0]!), { type: 'mention', conversationId: `group:${group.body.group.id}` });
  t.is(pushService.for(bobs)[0]!.headers.urgency, 'high');
  t.like(payloadOf(pushService.for(carols)[0]!), { type: 'message', body: `rope for @${bob.user.username}?` });
  t.is(pushService.for(alices).length, 0);
});

test('an incoming call is pushed with high urgency and a TTL within the ring; unanswered, a missed call follows', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const phone = pushService.device();
  await subscribe(bob, phone);
  const initiated = await api(alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' });
  t.is(initiated.status, 201);
  const callId = initiated.body.call.id as string;
  await pushService.waitFor((received) =>
    received.some((push) => payloadOf(push)?.callId === callId && payloadOf(push)?.type === 'missed_call'),
  );
  const [ring, missed] = pushService.for(phone);
  t.like(payloadOf(ring!), { type: 'call', callId, title: alice.user.username, body: 'Incoming audio call' });
  t.is(ring!.headers.urgency, 'high');
  t.true(Number(ring!.headers.ttl) <= 2);
  t.like(payloadOf(missed!), { type: 'missed_call', callId, title: 'Missed call' });
  t.is(missed!.headers.topic, ring!.headers.topic);
});

test("denials: someone else's subscription is not found, endpoints must be https on a public host, keys of the right lengths", async (t) => {
  const [bob, mallory] = [await registerUser(app.url), await registerUser(app.url)];
  const phone = pushService.device();
  const { id } = await subscribe(bob, phone);
  const before = (await pushEvents(bob)).length;
  const foreign = await api(mallory, 'DELETE', `/api/push/subscriptions/${id}`);
  t.is(foreign.status, 404);
  t.is(foreign.body.error.code, 'not_found');
  t.is((await pushEvents(bob)).length, before);
  const bad = async (body: unknown) => {
    const response = await api(mallory, 'POST', '/api/push/subscriptions', body);
    t.is(response.status, 400, JSON.stringify(body));
    t.is(response.body.error.code, 'validation_failed');
  };
  await bad({ endpoint: 'http://push.example.com/abc', keys: phone.keys });
  await bad({ endpoint: 'ftp://push.example.com/abc', keys: phone.keys });
  await bad({ endpoint: 'https://user:pw@push.example.com/abc', keys: phone.keys });
  await bad({ endpoint: 'https://push.example.com/abc', keys: { p256dh: phone.keys.p256dh.slice(0, 40), auth: phone.keys.auth } });
  await bad({ endpoint: 'https://push.example.com/abc', keys: { p256dh: phone.keys.p256dh, auth: phone.keys.p256dh } });
  await bad({ endpoint: 'https://push.example.com/abc' });
  t.deepEqual(await pushEvents(mallory), []);
  // Bob removes his own.
  t.is((await api(bob, 'DELETE', `/api/push/subscriptions/${id}`)).status, 204);
  t.like((await pushEvents(bob)).at(-1), { type: 'PushSubscriptionRemoved', data: { subscriptionId: id, reason: 'removed' } });
});

test('a push in flight when the server stops is sent after the restart (the checkpoint stays before it)', async (t) => {
  const storageDir = tempDir();
  let server = await startTestApp({ storageDir, env: { ...PUSH_ENV, PUSH_RETRY_BASE_MS: '10000', PUSH_MAX_RETRY_DELAY_MS: '10000' } });
  t.teardown(() => server.dispose());
  const [alice, bob] = [await registerUser(server.url), await registerUser(server.url)];
  const phone = pushService.device();
  await subscribe(bob, phone, server.url);
  pushService.script(phone, { status: 500 });
  const message = await send(alice, { recipientId: bob.user.id }, 'after the restart', server.url);
  // Refused once; the retry waits 10 s, and the server stops meanwhile.
  await pushService.waitFor((received) => received.some((push) => push.path === new URL(phone.endpoint).pathname));
  await server.stop();
  server = await startTestApp({ storageDir, env: PUSH_ENV });
  await pushService.waitFor(withMessage(phone, message.id));
  t.deepEqual(
    pushService.for(phone).map((push) => push.status),
    [500, 201],
  );
});

test("the demo serves its service worker for the page's scope, showing each push as a notification", async (t) => {
  const response = await fetch(`${app.url}/demo/sw.js`);
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /javascript/);
  t.is(response.headers.get('service-worker-allowed'), '/demo');
  const source = await response.text();
  t.true(source.includes('showNotification'));
  t.false(source.includes('interface PushPayload'));
});

test('deleting an account removes its push subscriptions and settings from the read store (their fields in the log are sealed under its destroyed data key)', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const phone = pushService.device();
  await subscribe(bob, phone);
  t.is((await api(bob, 'PUT', '/api/push/settings', { pushPreview: false })).status, 200);
  const subscriptions = app.readStore.collection('push_subscriptions');
  t.is(await subscriptions.countDocuments({ userId: bob.user.id }), 1);
  const deleted = await request(app.url, 'DELETE', '/api/users/me', { token: bob.accessToken, body: { password: bob.password } });
  t.is(deleted.status, 204);
  // Another user's request waits for the projections to reach every acknowledged write.
  await api(alice, 'GET', '/api/push/subscriptions');
  t.is(await subscriptions.countDocuments({ userId: bob.user.id }), 0);
  t.is(await subscriptions.countDocuments({ endpoint: phone.endpoint }), 0);
  t.is(await app.readStore.collection('push_settings').countDocuments({ _id: bob.user.id }), 0);
});

test('a socket that is open but not synced hears nothing live, so the push still goes', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const phone = pushService.device();
  await subscribe(bob, phone);
  const socket = await connect(app.wsUrl, bob.accessToken);
  t.teardown(() => socket.close());
  await socket.next((frame) => frame.type === 'welcome');
  const message = await send(alice, { recipientId: bob.user.id }, 'are you there?');
  await pushService.waitFor(withMessage(phone, message.id));
  t.deepEqual(
    pushService.for(phone).map((push) => payloadOf(push).messageId),
    [message.id],
  );
});
