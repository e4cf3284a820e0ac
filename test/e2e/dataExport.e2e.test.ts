import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { dataExportsStream } from '../../commands/dataExports.ts';
import { liftedRateLimits } from '../../src/rateLimit/policies.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { fakeGemini, type FakeGemini } from '../helpers/fakeGemini.ts';
import { readZip } from '../helpers/zip.ts';

/**
 * A copy of one's own data (GDPR Art. 15 and 20): asked for, made in the background from the read collections,
 * downloaded as one ZIP by its owner only, gone a day later; one an hour per user. Gemini is faked on loopback.
 */

let app: TestApp;
let gemini: FakeGemini;
/** The server's clock runs this far ahead of the real one (the expiry test moves it). */
let clockOffsetMs = 0;

test.before(async () => {
  gemini = await fakeGemini(['Hello from', ' Leta.'], 5);
  app = await startTestApp({
    clock: () => new Date(Date.now() + clockOffsetMs),
    env: { GEMINI_API_BASE_URL: gemini.url, RATE_LIMITS: `${liftedRateLimits()};export=1,1/h` },
  });
});
test.after.always(async () => {
  await app?.dispose();
  await gemini?.close();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const api = (who: User | null, method: string, path: string, body?: unknown) =>
  request(app.url, method, path, { ...(who ? { token: who.accessToken } : {}), ...(body === undefined ? {} : { body }) });

function ok<T extends { status: number; body: any }>(response: T, status: number): T {
  if (response.status !== status) throw new Error(`expected ${status}, got ${response.status} ${JSON.stringify(response.body)}`);
  return response;
}

/** Polls the export's status until it is no longer pending. */
async function untilMade(who: User, exportId: string) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = await api(who, 'GET', `/api/users/me/export/${exportId}`);
    if (status.status !== 200 || status.body.export.status !== 'pending' || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const download = (who: User | null, exportId: string) =>
  fetch(`${app.url}/api/users/me/export/${exportId}/download`, who ? { headers: { authorization: `Bearer ${who.accessToken}` } } : {});

const exportEvents = (userId: string) => app.eventStore.readStream(dataExportsStream(userId), { fromRevision: 0, maxCount: 100 });

test.serial('the export holds each area as JSON, the messages one can still read, the own files streamed, and a README', async (t) => {
  const alice = await registerUser(app.url);
  const bob = await registerUser(app.url);
  const carol = await registerUser(app.url);
  ok(await api(alice, 'PUT', '/api/users/profile', { about: 'Exports her data' }), 200);
  ok(await api(alice, 'POST', '/api/contacts', { userId: bob.user.id, nickname: 'Bobby' }), 201);
  ok(await api(alice, 'PUT', `/api/blocks/${carol.user.id}`), 204);

  const fileBytes = Buffer.from('notes for the export\n'.repeat(50));
  const uploaded = await fetch(`${app.url}/api/media/upload?filename=notes.txt`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice.accessToken}`, 'content-type': 'text/plain' },
    body: fileBytes,
  });
  t.is(uploaded.status, 201);
  const mediaId = ((await uploaded.json()) as { media: { id: string } }).media.id;

  const withFile = ok(
    await api(alice, 'POST', '/api/messages', { recipientId: bob.user.id, text: 'the notes', attachments: [mediaId] }),
    201,
  );
  ok(await api(bob, 'POST', '/api/messages', { recipientId: alice.user.id, text: 'thanks, Alice' }), 201);
  const gone = ok(await api(alice, 'POST', '/api/messages', { recipientId: bob.user.id, text: 'deleted for everyone' }), 201);
  ok(await api(alice, 'DELETE', `/api/messages/${gone.body.message.id}?scope=everyone`), 204);
  const hidden = ok(await api(bob, 'POST', '/api/messages', { recipientId: alice.user.id, text: 'deleted for Alice only' }), 201);
  ok(await api(alice, 'DELETE', `/api/messages/${hidden.body.message.id}?scope=me`), 204);

  const group = ok(await api(bob, 'POST', '/api/groups', { name: 'Book club', memberIds: [alice.user.id] }), 201).body.group;
  ok(await api(bob, 'POST', '/api/messages', { groupId: group.id, text: 'welcome to the club' }), 201);

  const call = ok(await api(alice, 'POST', '/api/calls/initiate', { calleeId: bob.user.id, media: 'audio' }), 201);
  ok(await api(alice, 'POST', `/api/calls/${call.body.call.id}/end`, { reason: 'hangup' }), 200);

  ok(await api(alice, 'PUT', `/api/users/${alice.user.id}/api-key`, { apiKey: gemini.apiKey, provider: 'gemini' }), 200);
  ok(await api(alice, 'POST', '/api/chat/ai/personalities', { name: 'Pirate', instructions: 'Talk like a pirate' }), 201);
  ok(await api(alice, 'POST', '/api/chat/ai/send', { message: 'Hello Leta' }), 201);
  // A second session, signed out of.
  const login = ok(await api(null, 'POST', '/auth/login', { email: alice.email, password: alice.password }), 200);
  ok(await request(app.url, 'POST', '/auth/logout', { token: login.body.accessToken }), 204);

  const started = ok(await api(alice, 'POST', '/api/users/me/export'), 202);
  t.like(started.body.export, { status: 'pending', sizeBytes: null, expiresAt: null });
  const exportId = started.body.export.id as string;
  t.regex(exportId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a random (v4) id');

  const made = await untilMade(alice, exportId);
  t.is(made.status, 200);
  t.like(made.body.export, { id: exportId, status: 'ready' });
  t.true(Date.parse(made.body.export.expiresAt) - Date.parse(made.body.export.completedAt) === 24 * 3_600_000);

  // What auditors see: that it happened, who and when, never what it held.
  const events = await exportEvents(alice.user.id);
  t.deepEqual(
    events.map((event) => event.type),
    ['DataExportRequested', 'DataExportCompleted'],
  );
  t.deepEqual(Object.keys(events[0]!.data as object).sort(), ['exportId', 'requestedAt', 'userId']);
  t.deepEqual(Object.keys(events[1]!.data as object).sort(), ['completedAt', 'expiresAt', 'exportId', 'sizeBytes', 'userId']);
  t.is(events[0]!.metadata.userId, alice.user.id);

  const file = join(app.storageDir, 'exports', `${exportId}.zip`);
  t.is(statSync(file).mode & 0o777, 0o600, 'readable by the server only');

  const response = await download(alice, exportId);
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'application/zip');
  t.regex(response.headers.get('content-disposition') ?? '', /attachment; filename="letsapp-export-/);
  const zip = Buffer.from(await response.arrayBuffer());
  t.is(zip.length, made.body.export.sizeBytes);
  const files = readZip(zip);
  t.deepEqual(
    [...files.keys()].sort(),
    [
      'README.txt',
      'ai.json',
      'blocks.json',
      'calls.json',
      'contacts.json',
      'conversations.json',
      'media.json',
      `media/${mediaId}/notes.txt`,
      'profile.json',
      'sessions.json',
    ].sort(),
  );
  const json = (name: string) => JSON.parse(files.get(name)!.toString('utf8'));

  t.regex(files.get('README.txt')!.toString('utf8'), /conversations\.json/);
  t.like(json('profile.json').user, {
    id: alice.user.id,
    email: alice.email,
    username: alice.user.username,
    about: 'Exports her data',
  });
  t.false(JSON.stringify(json('profile.json')).includes('passwordHash'), 'no password hash');
  t.like(json('contacts.json').contacts, [{ userId: bob.user.id, username: bob.user.username, nickname: 'Bobby' }]);
  t.like(json('blocks.json').blocks, [{ userId: carol.user.id, username: carol.user.username }]);

  const conversations = (json('conversations.json').conversations as any[]).sort((a, b) => a.kind.localeCompare(b.kind));
  t.is(conversations.length, 2);
  t.like(conversations[0], { kind: 'direct', peer: { id: bob.user.id, username: bob.user.username } });
  t.like(conversations[1], { kind: 'group', group: { id: group.id, name: 'Book club' } });
  t.deepEqual(
    conversations[1].messages.map((message: any) => message.content.text),
    ['welcome to the club'],
  );
  t.deepEqual(
    conversations[0].messages.map((message: any) => [message.senderId, message.content]),
    [
      [alice.user.id, { kind: 'text', text: 'the notes' }],
      [bob.user.id, { kind: 'text', text: 'thanks, Alice' }],
    ],
    'oldest first; neither the one deleted for everyone nor the one deleted for her',
  );
  t.like(conversations[0].messages[0], {
    id: withFile.body.message.id,
    attachments: [{ id: mediaId, filename: 'notes.txt', deleted: false, path: `media/${mediaId}/notes.txt` }],
  });
  const text = zip.toString('latin1');
  t.false(files.get('conversations.json')!.toString('utf8').includes('deleted for'), 'no trace of either deleted text');
  t.false(text.includes('deleted for everyone'));

  t.like(json('calls.json').calls, [{ callId: call.body.call.id, direction: 'outgoing', peerId: bob.user.id, media: 'audio' }]);
  const ai = json('ai.json');
  t.like(ai.history, [
    { role: 'user', text: 'Hello Leta', status: 'completed' },
    { role: 'model', text: 'Hello from Leta.' },
  ]);
  t.like(ai.personalities, [{ name: 'Pirate', instructions: 'Talk like a pirate' }]);
  t.like(ai.apiKey, { provider: 'gemini', status: 'valid' });
  t.false(JSON.stringify(ai).includes(gemini.apiKey), 'never the key itself');
  const sessions = json('sessions.json');
  t.like(sessions, { presence: null });
  t.regex(sessions.lastLoginAt, /^\d{4}-\d\d-\d\dT/);
  t.is(sessions.signedOutTokens.length, 1);
  t.like(json('media.json').files, [
    { id: mediaId, path: `media/${mediaId}/notes.txt`, mime: 'text/plain; charset=utf-8', size: fileBytes.length },
  ]);
  t.deepEqual(files.get(`media/${mediaId}/notes.txt`), fileBytes, 'the file as uploaded');
});

test.serial('only its owner sees or downloads an export: anyone else gets 404, no token 401', async (t) => {
  const owner = await registerUser(app.url);
  const other = await registerUser(app.url);
  const exportId = ok(await api(owner, 'POST', '/api/users/me/export'), 202).body.export.id as string;
  t.is((await untilMade(owner, exportId)).body.export.status, 'ready');

  const peeked = await api(other, 'GET', `/api/users/me/export/${exportId}`);
  t.is(peeked.status, 404);
  t.is(peeked.body.error.code, 'not_found');
  const taken = await download(other, exportId);
  t.is(taken.status, 404);
  t.is(((await taken.json()) as any).error.code, 'not_found');
  t.is((await api(null, 'GET', `/api/users/me/export/${exportId}`)).status, 401);
  t.is((await download(null, exportId)).status, 401);
  t.is((await api(null, 'POST', '/api/users/me/export')).status, 401);
  t.is((await api(owner, 'GET', '/api/users/me/export/not-an-id')).status, 400);
  t.is((await api(owner, 'GET', '/api/users/me/export/0d62370b-4cb8-4020-8c11-224f4766ff77')).status, 404);
  t.deepEqual(
    (await exportEvents(other.user.id)).map((event) => event.type),
    [],
  );
});

test.serial('one export an hour per user: a second request is refused with 429 and appends nothing', async (t) => {
  const user = await registerUser(app.url);
  const first = ok(await api(user, 'POST', '/api/users/me/export'), 202);
  const second = await api(user, 'POST', '/api/users/me/export');
  t.is(second.status, 429);
  t.like(second.body.error, { code: 'rate_limited', details: { policy: 'export' } });
  await untilMade(user, first.body.export.id);
  t.deepEqual(
    (await exportEvents(user.user.id)).map((event) => event.type),
    ['DataExportRequested', 'DataExportCompleted'],
  );
});

test.serial('a day after it was made the export is gone: its file deleted, 410 for status and download', async (t) => {
  const user = await registerUser(app.url);
  const exportId = ok(await api(user, 'POST', '/api/users/me/export'), 202).body.export.id as string;
  t.is((await untilMade(user, exportId)).body.export.status, 'ready');
  const file = join(app.storageDir, 'exports', `${exportId}.zip`);
  t.true(existsSync(file));

  clockOffsetMs = 24 * 3_600_000 - 60_000;
  t.is((await api(user, 'GET', `/api/users/me/export/${exportId}`)).body.export.status, 'ready', 'a minute before its time');
  clockOffsetMs = 24 * 3_600_000 + 1_000;
  try {
    const status = await api(user, 'GET', `/api/users/me/export/${exportId}`);
    t.is(status.status, 410);
    t.is(status.body.error.code, 'export_expired');
    const late = await download(user, exportId);
    t.is(late.status, 410);
    t.is(((await late.json()) as any).error.code, 'export_expired');
    t.false(existsSync(file), 'the file is deleted');
    t.deepEqual(
      (await exportEvents(user.user.id)).map((event) => event.type),
      ['DataExportRequested', 'DataExportCompleted', 'DataExportExpired'],
    );
  } finally {
    clockOffsetMs = 0;
  }
});
