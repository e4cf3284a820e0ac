import test from 'ava';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { WebhookReceiver, type ReceivedWebhook } from '../helpers/webhookReceiver.ts';
import { DEFAULT_WEBHOOK_SETTINGS } from '../../src/webhooks/webhookSettings.ts';

/** Outgoing webhooks against a receiver stand-in on loopback (a real HTTP server). */
const WEBHOOK_ENV = {
  // The receiver listens on loopback over http: test-only.
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_RETRY_BASE_MS: '20',
  WEBHOOK_MAX_RETRY_DELAY_MS: '100',
};

let app: TestApp;
let receiver: WebhookReceiver;
test.before(async () => {
  receiver = await WebhookReceiver.start();
  app = await startTestApp({ env: WEBHOOK_ENV, webhooks: { settings: { pollIntervalMs: 50 } } });
});
test.after.always(async () => {
  await app.dispose();
  await receiver.close();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const api = (who: User, method: string, path: string, body?: unknown) =>
  request(app.url, method, path, { token: who.accessToken, ...(body === undefined ? {} : { body }) });
let paths = 0;
const newPath = () => `/hook-${++paths}`;
async function register(who: User, body: Record<string, unknown>) {
  const response = await api(who, 'POST', '/api/webhooks', body);
  if (response.status !== 201) throw new Error(`register: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body as { webhook: { id: string; url: string; events: string[]; enabled: boolean }; secret: string };
}
const send = async (from: User, to: { recipientId: string } | { groupId: string }, text: string) => {
  const response = await api(from, 'POST', '/api/messages', { ...to, text });
  if (response.status !== 201) throw new Error(`send: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.message as { id: string; conversationId: string };
};
const withMessage = (path: string, messageId: string) => (received: ReceivedWebhook[]) =>
  received.some((hook) => hook.path === path && hook.json?.data?.message?.id === messageId);
const webhookEvents = async (webhookId: string) => app.eventStore.readStream(`webhook-${webhookId}`);
/** The webhook events of the given owners (other tests append their own meanwhile). */
const allWebhookEvents = async (...owners: User[]) => {
  const ids = new Set(owners.map((owner) => owner.user.id));
  const found = [];
  let after = 0;
  for (;;) {
    const page = await app.eventStore.readAll({ after, maxCount: 1_000 });
    if (page.length === 0) return found;
    found.push(...page.filter((event) => event.type.startsWith('Webhook') && ids.has((event.data as { ownerId?: string }).ownerId ?? '')));
    after = page.at(-1)!.position;
  }
};

/** The README's verification snippet, as a receiver would run it. */
function verify(secret: string, header: string, rawBody: string, toleranceSeconds = 300, now = Date.now()): boolean {
  const parts = Object.fromEntries(header.split(',').map((part) => part.split('=', 2) as [string, string]));
  const timestamp = Number(parts.t);
  if (!Number.isFinite(timestamp) || Math.abs(now / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${parts.t}.${rawBody}`).digest();
  const given = Buffer.from(parts.v1 ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

test('a direct message reaches the webhook signed (t=…,v1=…, verified by the documented snippet) with the opened text, an idempotency key and the event kind; the URL is sealed in the event', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const path = newPath();
  const { webhook, secret } = await register(bob, {
    url: `${receiver.url}${path}?token=s3cr3t`,
    events: ['message.created', 'message.edited'],
  });
  t.regex(secret, /^whsec_[A-Za-z0-9_-]{43}$/);
  t.like(webhook, { enabled: true, events: ['message.created', 'message.edited'] });
  const events = await webhookEvents(webhook.id);
  t.deepEqual(
    events.map((event) => event.type),
    ['WebhookRegistered'],
  );
  // The URL (with its token) is sealed under Bob's data key, the secret is in no event.
  t.false(JSON.stringify(events).includes('s3cr3t'));
  t.false(JSON.stringify(events).includes(secret));
  t.like(events[0]!.data, { ownerId: bob.user.id, scope: { kind: 'direct' }, url: { kid: `user:${bob.user.id}` } });

  const message = await send(alice, { recipientId: bob.user.id }, 'hello hook');
  await receiver.waitFor(withMessage(path, message.id));
  const [hook] = receiver.for(path);
  t.truthy(hook);
  t.true(verify(secret, String(hook!.headers['x-letsapp-signature']), hook!.body));
  t.false(verify('whsec_wrong', String(hook!.headers['x-letsapp-signature']), hook!.body));
  t.false(verify(secret, String(hook!.headers['x-letsapp-signature']), hook!.body.replace('hello', 'HELLO')));
  t.is(hook!.headers['x-letsapp-event'], 'message.created');
  t.is(hook!.headers['x-letsapp-delivery'], hook!.json.id);
  t.is(hook!.headers['x-letsapp-webhook'], webhook.id);
  t.like(hook!.json, {
    type: 'message.created',
    webhookId: webhook.id,
    data: { message: { id: message.id, senderId: alice.user.id, content: { kind: 'text', text: 'hello hook' } } },
  });
  // A protocol shape, not the domain event: no sealed fields, no event metadata.
  t.false(hook!.body.includes('"sealed"'));
  t.false('metadata' in hook!.json);

  // The delivery log shows it, to its owner only.
  const log = await api(bob, 'GET', `/api/webhooks/${webhook.id}/deliveries`);
  t.is(log.status, 200);
  t.like(log.body.deliveries[0], { id: hook!.json.id, type: 'message.created', status: 'delivered', attempts: 1, lastStatus: 200 });
  t.is((await api(alice, 'GET', `/api/webhooks/${webhook.id}/deliveries`)).status, 404);
});

test('500 and 429 answers are retried with backoff under the same idempotency key until one succeeds; the log records the attempts', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const path = newPath();
  receiver.answer(path, (count) =>
    count === 1 ? { status: 500 } : count === 2 ? { status: 429, headers: { 'retry-after': '0' } } : { status: 204 },
  );
  const { webhook } = await register(bob, { url: `${receiver.url}${path}`, events: ['message.created'] });
  const message = await send(alice, { recipientId: bob.user.id }, 'try again');
  await receiver.waitFor((received) => received.filter((hook) => hook.path === path).length >= 3);
  const tries = receiver.for(path);
  t.is(tries.length, 3);
  t.is(new Set(tries.map((hook) => hook.headers['x-letsapp-delivery'])).size, 1);
  t.true(tries.every((hook) => hook.json.data.message.id === message.id));
  const log = await api(bob, 'GET', `/api/webhooks/${webhook.id}/deliveries`);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const after = await api(bob, 'GET', `/api/webhooks/${webhook.id}/deliveries`);
  t.like(after.body.deliveries[0], { status: 'delivered', attempts: 3, lastStatus: 204 });
  t.truthy(log.body.deliveries[0]);
  // Still just three: a delivered one is not sent again.
  t.is(receiver.for(path).length, 3);
});

test('the default failure threshold is 100; 100 failed attempts in a row disable the webhook (WebhookDisabled, reason failures), and its owner can re-enable it', async (t) => {
  t.is(DEFAULT_WEBHOOK_SETTINGS.failureThreshold, 100);
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const path = newPath();
  let failing = true;
  receiver.answer(path, () => (failing ? { status: 503 } : { status: 200 }));
  const { webhook } = await register(bob, { url: `${receiver.url}${path}`, events: ['message.created'] });
  await send(alice, { recipientId: bob.user.id }, 'never arrives');
  await receiver.waitFor((received) => received.filter((hook) => hook.path === path).length >= 100, 60_000);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !(await webhookEvents(webhook.id)).some((event) => event.type === 'WebhookDisabled'))
    await new Promise((resolve) => setTimeout(resolve, 100));
  const disabled = (await webhookEvents(webhook.id)).find((event) => event.type === 'WebhookDisabled');
  t.like(disabled?.data, { webhookId: webhook.id, reason: 'failures', consecutiveFailures: 100 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(receiver.for(path).length, 100);
  const shown = await api(bob, 'GET', `/api/webhooks/${webhook.id}`);
  t.like(shown.body.webhook, { enabled: false, disabledReason: 'failures' });
  // Disabled: a new message is not delivered.
  await send(alice, { recipientId: bob.user.id }, 'while disabled');
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(receiver.for(path).length, 100);
  // Re-enabled by its owner: the next message is delivered.
  failing = false;
  const enabled = await api(bob, 'PATCH', `/api/webhooks/${webhook.id}`, { enabled: true });
  t.is(enabled.status, 200);
  t.like(enabled.body.webhook, { enabled: true, disabledReason: null });
  t.is((await webhookEvents(webhook.id)).at(-1)!.type, 'WebhookEnabled');
  const next = await send(alice, { recipientId: bob.user.id }, 'back again');
  await receiver.waitFor(withMessage(path, next.id));
  t.pass();
});

test('a receiver that hangs does not delay another webhook: the other gets every message while the first is still unanswered', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const [slow, fast] = [newPath(), newPath()];
  receiver.answer(slow, () => 'hang');
  await register(bob, { url: `${receiver.url}${slow}`, events: ['message.created'] });
  await register(bob, { url: `${receiver.url}${fast}`, events: ['message.created'] });
  const sent = [];
  for (const text of ['one', 'two', 'three']) sent.push(await send(alice, { recipientId: bob.user.id }, text));
  for (const message of sent) await receiver.waitFor(withMessage(fast, message.id));
  // The hanging receiver has had one request (one attempt per webhook at a time), still unanswered.
  t.is(receiver.for(slow).length, 1);
  t.is(receiver.for(fast).length, 3);
});

test('a group webhook: only an admin may register it; members joining and leaving, messages, edits, deletions and reactions are delivered; once its owner left it delivers nothing', async (t) => {
  const [owner, bob, carol] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const group = (await api(owner, 'POST', '/api/groups', { name: 'hooks', memberIds: [carol.user.id] })).body.group as { id: string };
  t.is((await api(owner, 'POST', `/api/groups/${group.id}/members`, { userId: bob.user.id, role: 'admin' })).status, 200);
  const [bobsPath, ownersPath] = [newPath(), newPath()];
  const all = [
    'message.created',
    'message.edited',
    'message.deleted',
    'reaction.added',
    'reaction.removed',
    'member.joined',
    'member.left',
  ];
  const bobs = await register(bob, { url: `${receiver.url}${bobsPath}`, events: all, groupId: group.id });
  t.like(bobs.webhook, { scope: { kind: 'group', groupId: group.id } });
  await register(owner, { url: `${receiver.url}${ownersPath}`, events: all, groupId: group.id });

  const message = await send(carol, { groupId: group.id }, 'group hello');
  t.is((await api(carol, 'PUT', `/api/messages/${message.id}`, { text: 'group hello, edited' })).status, 200);
  t.is((await api(owner, 'PUT', `/api/messages/${message.id}/reactions/${encodeURIComponent('👍')}`)).status < 300, true);
  const dave = await registerUser(app.url);
  t.is((await api(owner, 'POST', `/api/groups/${group.id}/members`, { userId: dave.user.id })).status, 200);
  t.is((await api(dave, 'DELETE', `/api/groups/${group.id}/members/${dave.user.id}`)).status, 204);
  const kinds = (path: string) => receiver.for(path).map((hook) => hook.json.type);
  await receiver.waitFor(() =>
    ['message.created', 'message.edited', 'reaction.added', 'member.joined', 'member.left'].every((kind) => kinds(bobsPath).includes(kind)),
  );
  const edited = receiver.for(bobsPath).find((hook) => hook.json.type === 'message.edited');
  t.like(edited!.json.data, { message: { id: message.id, content: { kind: 'text', text: 'group hello, edited' } } });
  const joined = receiver.for(bobsPath).find((hook) => hook.json.type === 'member.joined');
  t.like(joined!.json.data, { member: { groupId: group.id, userId: dave.user.id, via: 'added', by: owner.user.id } });
  const left = receiver.for(bobsPath).find((hook) => hook.json.type === 'member.left');
  t.like(left!.json.data, { member: { groupId: group.id, userId: dave.user.id, via: 'left' } });

  // Bob leaves: his webhook hears nothing more (the owner's, as a witness, does).
  t.is((await api(bob, 'DELETE', `/api/groups/${group.id}/members/${bob.user.id}`)).status, 204);
  const before = receiver.for(bobsPath).length;
  const later = await send(carol, { groupId: group.id }, 'after bob left');
  t.is((await api(carol, 'DELETE', `/api/messages/${message.id}?scope=everyone`)).status < 300, true);
  await receiver.waitFor(withMessage(ownersPath, later.id));
  await receiver.waitFor((received) => received.some((hook) => hook.path === ownersPath && hook.json.type === 'message.deleted'));
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(receiver.for(bobsPath).length, before);
  // Nor may he turn it back on.
  const reenable = await api(bob, 'PATCH', `/api/webhooks/${bobs.webhook.id}`, { enabled: false });
  t.is(reenable.status, 200);
  const eventsBefore = (await webhookEvents(bobs.webhook.id)).length;
  const refused = await api(bob, 'PATCH', `/api/webhooks/${bobs.webhook.id}`, { enabled: true });
  t.is(refused.status, 403);
  t.is((await webhookEvents(bobs.webhook.id)).length, eventsBefore);
});

test('every refusal answers 4xx JSON and appends nothing: not an admin, not a member, not the owner, a bad URL, bad event names, over the limit', async (t) => {
  const [owner, member, stranger] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const group = (await api(owner, 'POST', '/api/groups', { name: 'guarded', memberIds: [member.user.id] })).body.group as { id: string };
  const mine = await register(owner, { url: `${receiver.url}${newPath()}`, events: ['message.created'] });
  const before = (await allWebhookEvents(owner, member, stranger)).length;
  const url = `${receiver.url}${newPath()}`;
  const refusals: Array<[User, string, string, unknown, number, string]> = [
    [member, 'POST', '/api/webhooks', { url, events: ['message.created'], groupId: group.id }, 403, 'forbidden'],
    [stranger, 'POST', '/api/webhooks', { url, events: ['message.created'], groupId: group.id }, 403, 'forbidden'],
    [owner, 'POST', '/api/webhooks', { url: 'not a url', events: ['message.created'] }, 400, 'validation_failed'],
    [owner, 'POST', '/api/webhooks', { url: 'ftp://example.com/x', events: ['message.created'] }, 400, 'validation_failed'],
    [owner, 'POST', '/api/webhooks', { url, events: ['message.exploded'] }, 400, 'validation_failed'],
    [owner, 'POST', '/api/webhooks', { url, events: [] }, 400, 'validation_failed'],
    [owner, 'POST', '/api/webhooks', { url, events: ['message.created', 'message.created'] }, 400, 'validation_failed'],
    [stranger, 'GET', `/api/webhooks/${mine.webhook.id}`, undefined, 404, 'not_found'],
    [stranger, 'PATCH', `/api/webhooks/${mine.webhook.id}`, { enabled: false }, 404, 'not_found'],
    [stranger, 'DELETE', `/api/webhooks/${mine.webhook.id}`, undefined, 404, 'not_found'],
    [stranger, 'POST', `/api/webhooks/${mine.webhook.id}/rotate-secret`, undefined, 404, 'not_found'],
    [stranger, 'GET', `/api/webhooks/${mine.webhook.id}/deliveries`, undefined, 404, 'not_found'],
    [owner, 'PATCH', `/api/webhooks/${mine.webhook.id}`, { events: ['nope'] }, 400, 'validation_failed'],
    [owner, 'PATCH', `/api/webhooks/${mine.webhook.id}`, {}, 400, 'validation_failed'],
  ];
  for (const [who, method, path, body, status, code] of refusals) {
    const response = await api(who, method, path, body);
    t.is(response.status, status, `${method} ${path} ${JSON.stringify(body)}`);
    t.is(response.body?.error?.code, code, `${method} ${path} ${JSON.stringify(body)}`);
  }
  t.is((await allWebhookEvents(owner, member, stranger)).length, before);
  // At most 10 per owner.
  for (let i = 1; i < 10; i++) await register(owner, { url, events: ['message.created'] });
  const full = await api(owner, 'POST', '/api/webhooks', { url, events: ['message.created'] });
  t.is(full.status, 409);
  t.is(full.body.error.code, 'webhooks_limit');
  t.is((await allWebhookEvents(owner, member, stranger)).length, before + 9);
});

test('the owner lists, changes, rotates the secret of and deletes a webhook; after rotation deliveries verify with the new secret only; after deletion nothing is delivered', async (t) => {
  const [alice, bob] = [await registerUser(app.url), await registerUser(app.url)];
  const path = newPath();
  const { webhook, secret } = await register(bob, { url: `${receiver.url}${path}`, events: ['message.created'] });
  const listed = await api(bob, 'GET', '/api/webhooks');
  t.deepEqual(
    listed.body.webhooks.map((hook: { id: string }) => hook.id),
    [webhook.id],
  );
  const changed = await api(bob, 'PATCH', `/api/webhooks/${webhook.id}`, { events: ['message.created', 'reaction.added'] });
  t.deepEqual(changed.body.webhook.events, ['message.created', 'reaction.added']);
  const rotated = await api(bob, 'POST', `/api/webhooks/${webhook.id}/rotate-secret`);
  t.is(rotated.status, 200);
  t.not(rotated.body.secret, secret);
  t.deepEqual(
    (await webhookEvents(webhook.id)).map((event) => event.type),
    ['WebhookRegistered', 'WebhookUpdated', 'WebhookSecretRotated'],
  );
  t.false(JSON.stringify(await webhookEvents(webhook.id)).includes(rotated.body.secret));
  const message = await send(alice, { recipientId: bob.user.id }, 'after rotation');
  await receiver.waitFor(withMessage(path, message.id));
  const hook = receiver.for(path).at(-1)!;
  t.true(verify(rotated.body.secret, String(hook.headers['x-letsapp-signature']), hook.body));
  t.false(verify(secret, String(hook.headers['x-letsapp-signature']), hook.body));
  t.is((await api(bob, 'DELETE', `/api/webhooks/${webhook.id}`)).status, 204);
  t.is((await webhookEvents(webhook.id)).at(-1)!.type, 'WebhookDeleted');
  t.is((await api(bob, 'GET', `/api/webhooks/${webhook.id}`)).status, 404);
  const count = receiver.for(path).length;
  await send(alice, { recipientId: bob.user.id }, 'after deletion');
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(receiver.for(path).length, count);
});

test('a delivery survives a restart: an event appended while no delivery ran is delivered once after the restart', async (t) => {
  const storageDir = (await import('../helpers/app.ts')).tempDir();
  const options = { storageDir, env: WEBHOOK_ENV, webhooks: { settings: { pollIntervalMs: 50 } } };
  let first = await startTestApp(options);
  t.teardown(() => first.dispose());
  const [alice, bob] = [await registerUser(first.url), await registerUser(first.url)];
  const path = newPath();
  const registered = await request(first.url, 'POST', '/api/webhooks', {
    token: bob.accessToken,
    body: { url: `${receiver.url}${path}`, events: ['message.created'] },
  });
  t.is(registered.status, 201);
  const sendOn = async (on: TestApp, text: string) =>
    (await request(on.url, 'POST', '/api/messages', { token: alice.accessToken, body: { recipientId: bob.user.id, text } })).body
      .message as {
      id: string;
    };
  const before = await sendOn(first, 'before the restart');
  await receiver.waitFor(withMessage(path, before.id));
  const webhookId = registered.body.webhook.id as string;
  const logged = async () =>
    (await request(first.url, 'GET', `/api/webhooks/${webhookId}/deliveries`, { token: bob.accessToken })).body.deliveries as Array<{
      status: string;
    }>;
  while ((await logged())[0]?.status !== 'delivered') await new Promise((resolve) => setTimeout(resolve, 50));
  // The deliveries stop; the message is appended; the server stops before anything delivers it.
  await first.webhookDeliveries.stop();
  const during = await sendOn(first, 'while stopped');
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.false(withMessage(path, during.id)(receiver.received));
  await first.stop();
  first = await startTestApp(options);
  await receiver.waitFor(withMessage(path, during.id));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const ids = receiver.for(path).map((hook) => hook.json.data.message.id);
  t.deepEqual(ids, [before.id, during.id]);
});

test('a bot that is a member (not an admin) may register a webhook for its group and hears its messages; removed, it hears nothing more', async (t) => {
  const owner = await registerUser(app.url);
  const made = await api(owner, 'POST', '/api/bots', { username: `hookbot${Date.now() % 100_000}_${process.pid}` });
  t.is(made.status, 201);
  const bot = { user: { id: made.body.bot.id as string }, accessToken: made.body.token as string } as User;
  const group = (await api(owner, 'POST', '/api/groups', { name: 'with a bot', memberIds: [bot.user.id] })).body.group as { id: string };
  const path = newPath();
  const registered = await api(bot, 'POST', '/api/webhooks', {
    url: `${receiver.url}${path}`,
    events: ['message.created'],
    groupId: group.id,
  });
  t.is(registered.status, 201);
  const message = await send(owner, { groupId: group.id }, 'hello bot');
  await receiver.waitFor(withMessage(path, message.id));
  t.is((await api(owner, 'DELETE', `/api/groups/${group.id}/members/${bot.user.id}`)).status, 204);
  const count = receiver.for(path).length;
  const witness = newPath();
  await register(owner, { url: `${receiver.url}${witness}`, events: ['message.created'], groupId: group.id });
  const later = await send(owner, { groupId: group.id }, 'after the bot left');
  await receiver.waitFor(withMessage(witness, later.id));
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(receiver.for(path).length, count);
});
