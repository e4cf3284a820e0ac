import test from 'ava';
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { projectors } from '../../projections/index.ts';
import { messagesProjector } from '../../projections/messages.ts';
import type { RecordedEvent } from '../../src/eventstore/port.ts';
import { rebuildProjections } from '../../src/projection/rebuild.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { openEventStore } from '../../src/stores.ts';
import { openKeysForTools } from '../../src/privacy/auditorKeys.ts';
import { revealingProjectors } from '../../src/privacy/revealingProjectors.ts';
import { registerUser, request, startTestApp, tempDir, testConfig, testEnv } from '../helpers/app.ts';
import { execScript } from '../helpers/scripts.ts';

type User = Awaited<ReturnType<typeof registerUser>>;

interface History {
  dir: string;
  a: User;
  b: { id: string };
  messageId: string;
  groupId: string;
  mediaId: string;
  callId: string;
  /** The last position before the edit: the message still has its original text. */
  beforeEdit: number;
  /** The correlation id the server gave B's registration (B sent a request id of its own beside it). */
  registrationCorrelation: string;
  events: RecordedEvent[];
  passwordHashes: string[];
}

let history: History;
/** Everything every CLI run printed, searched for password hashes at the end. */
const outputs: string[] = [];

test.before(async () => {
  const app = await startTestApp();
  const a = await registerUser(app.url);
  // B registers with a request id of its own: the correlation view of that one request (under the server's id).
  const registered = await request(app.url, 'POST', '/auth/register', {
    headers: { 'x-request-id': 'audit-register-b' },
    body: { email: `audit_b_${process.pid}@example.test`, username: `audit_b_${process.pid}`, password: 'correct horse battery' },
  });
  const b = { id: registered.body.user.id as string, token: registered.body.accessToken as string };
  const registrationCorrelation = registered.headers.get('x-correlation-id')!;
  const send = (token: string, body: Record<string, unknown>) => request(app.url, 'POST', '/api/messages', { token, body });
  const sent = (await send(a.accessToken, { recipientId: b.id, text: 'the original text' })).body.message;
  await send(b.token, { recipientId: a.user.id, text: 'a reply' });
  const beforeEdit = await app.eventStore.headPosition();
  await request(app.url, 'PUT', `/api/messages/${sent.id}`, { token: a.accessToken, body: { text: 'the edited text' } });
  await request(app.url, 'DELETE', `/api/messages/${sent.id}?scope=everyone`, { token: a.accessToken });
  const groupId = (await request(app.url, 'POST', '/api/groups', { token: a.accessToken, body: { name: 'Audited' } })).body.group.id;
  await request(app.url, 'POST', `/api/groups/${groupId}/members`, { token: a.accessToken, body: { userId: b.id } });
  await request(app.url, 'POST', '/api/messages', { token: b.token, body: { groupId, text: 'hello group' } });
  await request(app.url, 'DELETE', `/api/groups/${groupId}/members/${b.id}`, { token: a.accessToken });
  const mediaId = (
    (await (
      await fetch(`${app.url}/api/media/upload?filename=note.txt`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.accessToken}`, 'content-type': 'text/plain' },
        body: 'a note',
      })
    ).json()) as { media: { id: string } }
  ).media.id;
  await request(app.url, 'DELETE', `/api/media/${mediaId}`, { token: a.accessToken });
  const callId = (await request(app.url, 'POST', '/api/calls/initiate', { token: a.accessToken, body: { calleeId: b.id, media: 'audio' } }))
    .body.call.id;
  await request(app.url, 'POST', `/api/calls/${callId}/reject`, { token: b.token });
  const events = await app.eventStore.readAll();
  await app.stop();
  const passwordHashes = events
    .filter((event) => event.type === 'UserRegistered')
    .map((event) => (event.data as { passwordHash: string }).passwordHash);
  history = {
    dir: app.storageDir,
    a,
    b,
    messageId: sent.id,
    groupId,
    beforeEdit,
    registrationCorrelation,
    events,
    passwordHashes,
    mediaId,
    callId,
  };
});

test.after.always(() => {
  if (history) rmSync(history.dir, { recursive: true, force: true });
});

async function audit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await execScript('audit.ts', args, {
    env: { ...process.env, ...testEnv(history.dir), NODE_ENV: 'test' },
    maxBuffer: 64 * 1024 * 1024,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
  outputs.push(result.stdout, result.stderr);
  return result;
}

const auditJson = async (...args: string[]) => {
  const { code, stdout, stderr } = await audit(...args, '--json');
  if (code !== 0) throw new Error(`audit ${args.join(' ')} exited ${code}: ${stderr}`);
  return JSON.parse(stdout);
};

test.serial(
  'the entity timeline of a message: sent, edited, deleted, in order, each by its sender; deleted for everyone, its texts show [erased]',
  async (t) => {
    const { a, messageId } = history;
    const view = await auditJson('entity', 'message', messageId);
    t.is(view.stream, `message-${messageId}`);
    t.deepEqual(
      view.events.map((entry: any) => entry.type),
      ['MessageSent', 'MessageEdited', 'MessageDeleted'],
    );
    t.deepEqual(
      view.events.map((entry: any) => entry.revision),
      [0, 1, 2],
    );
    t.true(view.events.every((entry: any, i: number) => i === 0 || entry.position > view.events[i - 1].position));
    t.true(
      view.events.every(
        (entry: any) =>
          entry.userId === a.user.id &&
          entry.correlationId &&
          entry.causationId &&
          entry.schemaVersion === (entry.type === 'MessageDeleted' ? 1 : 2),
      ),
    );
    // Its content key was destroyed with the delete for everyone: the auditor sees the marker, never the text.
    t.is(view.events[0].data.content.text, '[erased]');
    t.is(view.events[1].data.content.text, '[erased]');
    t.is(view.count, 3);

    // The readable form: one row per event, the data under it; `--raw` adds the stored form.
    const table = await audit('entity', 'message', messageId, '--raw');
    t.is(table.code, 0);
    t.regex(table.stdout, /POSITION\s+TIME\s+TYPE/);
    t.regex(table.stdout, /MessageSent[\s\S]*MessageEdited[\s\S]*MessageDeleted/);
    t.regex(table.stdout, /stored v2 .*"sealed":"xchacha20poly1305-ietf"/);
    t.false(table.stdout.includes('the original text'));
    t.regex(table.stdout, /3 events\n$/);
  },
);

test.serial(
  'the entity timelines of a group, a user, a file and a call: every change in order, by whom, the registration redacted',
  async (t) => {
    const { a, b, groupId } = history;
    const group = await auditJson('entity', 'group', groupId);
    t.deepEqual(
      group.events.map((entry: any) => [entry.type, entry.userId]),
      [
        ['GroupCreated', a.user.id],
        ['MemberAdded', a.user.id],
        ['MemberRemoved', a.user.id],
      ],
    );
    const user = await auditJson('entity', 'user', b.id);
    t.is(user.events[0].type, 'UserRegistered');
    t.is(user.events[0].data.passwordHash, '[redacted]');
    const media = await auditJson('entity', 'media', history.mediaId);
    t.deepEqual(
      media.events.map((entry: any) => [entry.type, entry.userId]),
      [
        ['MediaUploaded', a.user.id],
        ['MediaDeleted', a.user.id],
      ],
    );
    const call = await auditJson('entity', 'call', history.callId);
    t.deepEqual(
      call.events.map((entry: any) => [entry.type, entry.userId]),
      [
        ['CallInitiated', a.user.id],
        ['CallEnded', b.id],
      ],
    );
  },
);

test.serial("the actor view lists exactly the events that user's commands produced, across streams", async (t) => {
  const { a, messageId, groupId, events } = history;
  const view = await auditJson('actor', a.user.id);
  const expected = events.filter((event) => event.metadata.userId === a.user.id).map((event) => event.position);
  t.deepEqual(
    view.events.map((entry: any) => entry.position),
    expected,
  );
  t.true(view.events.every((entry: any) => entry.userId === a.user.id));
  const streams = new Set(view.events.map((entry: any) => entry.stream));
  t.true(streams.has(`message-${messageId}`) && streams.has(`group-${groupId}`));
  t.false(
    view.events.some((entry: any) => entry.type === 'MessageSent' && entry.data.content?.text === 'a reply'),
    "B's reply is B's",
  );

  const bounded = await auditJson('actor', a.user.id, '--from', String(history.beforeEdit + 1), '--to', String(history.beforeEdit + 2));
  t.deepEqual(
    bounded.events.map((entry: any) => entry.type),
    ['MessageEdited', 'MessageDeleted'],
  );
});

test.serial("the correlation view shows one request's events, the password hash redacted", async (t) => {
  const view = await auditJson('correlation', history.registrationCorrelation);
  const types = view.events.map((entry: any) => entry.type);
  t.true(types.includes('UserRegistered') && types.includes('UserLoggedIn'), types.join());
  t.deepEqual(
    view.events.map((entry: any) => entry.position),
    history.events.filter((event) => event.metadata.correlationId === history.registrationCorrelation).map((event) => event.position),
  );
  const registration = view.events.find((entry: any) => entry.type === 'UserRegistered');
  t.is(registration.data.passwordHash, '[redacted]');
  t.is(registration.data.userId, history.b.id);
  t.true(
    view.events.every((entry: any) => entry.clientRequestId === 'audit-register-b'),
    "the client's own id beside it",
  );
  t.is((await auditJson('correlation', 'audit-register-b')).count, 0, "the client's id is no correlation");
  const raw = await auditJson('correlation', history.registrationCorrelation, '--raw');
  t.is(raw.events.find((entry: any) => entry.type === 'UserRegistered').raw.passwordHash, '[redacted]');
});

test.serial('audit at a position shows the messages collection as a fresh rebuild stopped there builds it', async (t) => {
  const { beforeEdit, messageId, dir } = history;
  const view = await auditJson('at', String(beforeEdit), '--collection', 'messages');
  t.is(view.position, beforeEdit);

  const eventStore = await openEventStore(testConfig(dir), { checkpoints: false });
  const scratch = tempDir('letsapp-audit-expected-');
  const readStore = new SqliteReadStore(join(scratch, 'read.sqlite'));
  try {
    const keys = await openKeysForTools(testConfig(dir));
    t.teardown(() => keys.close());
    await rebuildProjections({
      eventStore,
      readStore,
      projectors: revealingProjectors([messagesProjector], keys.keys),
      all: revealingProjectors(projectors, keys.keys),
      upcaster: eventUpcaster,
      upTo: beforeEdit,
    });
    const expected = await readStore.collection('messages').find({}, { sort: { _id: 1 } });
    t.deepEqual(view.documents, expected);
  } finally {
    await readStore.close();
    await eventStore.close();
    rmSync(scratch, { recursive: true, force: true });
  }
  const message = view.documents.find((doc: any) => doc._id === messageId);
  t.like(message, { content: { text: '[erased]' }, editedAt: null, deletedAt: null });

  const filtered = await auditJson(
    'at',
    String(beforeEdit),
    '--collection',
    'messages',
    '--filter',
    JSON.stringify({ senderId: history.a.user.id }),
  );
  t.deepEqual(
    filtered.documents.map((doc: any) => doc._id),
    [messageId],
  );

  // At a time after everything: the users as now, hashes redacted.
  const users = await auditJson('at', new Date().toISOString(), '--collection', 'users');
  t.is(users.position, history.events.at(-1)!.position);
  t.is(users.documents.length, 2);
  t.true(users.documents.every((doc: any) => doc.passwordHash === '[redacted]'));
});

test.serial('audit at equals a fresh rebuild stopped at the same position, for every read collection', async (t) => {
  const { beforeEdit, dir } = history;
  const collections = projectors.flatMap((projector) => Object.keys(projector.collections));
  const views = await Promise.all(collections.map((collection) => auditJson('at', String(beforeEdit), '--collection', collection)));
  const eventStore = await openEventStore(testConfig(dir), { checkpoints: false });
  const scratch = tempDir('letsapp-audit-all-');
  const readStore = new SqliteReadStore(join(scratch, 'read.sqlite'));
  try {
    const keys = await openKeysForTools(testConfig(dir));
    t.teardown(() => keys.close());
    await rebuildProjections({
      eventStore,
      readStore,
      projectors: revealingProjectors(projectors, keys.keys),
      upcaster: eventUpcaster,
      upTo: beforeEdit,
    });
    for (const [index, collection] of collections.entries()) {
      const expected = (await readStore.collection(collection).find({}, { sort: { _id: 1 } })).map((doc) =>
        JSON.parse(JSON.stringify(doc).replace(/"\$2[aby]\$[^"]+"/g, '"[redacted]"')),
      );
      t.deepEqual(views[index].documents, expected, collection);
    }
  } finally {
    await readStore.close();
    await eventStore.close();
    rmSync(scratch, { recursive: true, force: true });
  }
});

test.serial('export prints every event of the log as a JSON line, stored form, hashes redacted', async (t) => {
  const { code, stdout, stderr } = await audit('export');
  t.is(code, 0, stderr);
  const lines = stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
  t.is(lines.length, history.events.length);
  t.deepEqual(
    lines.map((line) => line.position),
    history.events.map((event) => event.position),
  );
  t.true(lines.every((line) => line.stream && line.type && line.data && line.metadata?.eventId));
  t.true(lines.filter((line) => line.type === 'UserRegistered').every((line) => line.data.passwordHash === '[redacted]'));
  const tail = await audit('export', '--from', String(history.beforeEdit + 1));
  t.is(tail.stdout.trimEnd().split('\n').length, history.events.filter((event) => event.position > history.beforeEdit).length);
});

test.serial('bad input is refused with the usage and exit code 2', async (t) => {
  for (const args of [
    [],
    ['nope'],
    ['entity', 'planet', 'x'],
    ['at', 'yesterday', '--collection', 'messages'],
    ['at', '3', '--collection', 'nope'],
    ['at', '3', '--collection', 'users', '--filter', '{"passwordHash":"x"}'],
    ['at', '3', '--collection', 'users', '--filter', '{"$where":"1"}'],
    ['actor', 'u', '--from', 'soon'],
    ['stream', 's', '--collection', 'users'],
    ['stream'],
  ]) {
    const result = await audit(...args);
    t.is(result.code, 2, args.join(' '));
    t.regex(result.stderr, /Usage: npm run audit/);
  }
});

test.serial('verify: an intact log holds its hash chain; one byte changed in one stored event breaks it exactly there', async (t) => {
  t.like(await auditJson('verify'), { intact: true, events: history.events.length });
  const file = join(history.dir, 'events.sqlite');
  const db = new Database(file);
  const target = db
    .prepare<[], { position: number; data: string }>(`SELECT position, data FROM events WHERE type = 'MessageEdited' LIMIT 1`)
    .get()!;
  db.prepare('UPDATE events SET data = ? WHERE position = ?').run(target.data.replace('"editedAt":"', '"editedAt":"!'), target.position);
  const { code, stdout } = await audit('verify', '--json');
  t.is(code, 1);
  t.like(JSON.parse(stdout), { intact: false, breakAt: target.position });
  db.prepare('UPDATE events SET data = ? WHERE position = ?').run(target.data, target.position);
  db.close();
  t.like(await auditJson('verify'), { intact: true });
});

test.serial('an export carries its chain: verify-file holds on it whole, and names the line where it was altered', async (t) => {
  const { stdout } = await audit('export');
  const scratch = tempDir('letsapp-audit-export-');
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  const file = join(scratch, 'events.jsonl');
  writeFileSync(file, stdout);
  t.like(await auditJson('verify-file', file), { intact: true, events: history.events.length });
  const lines = stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
  t.true(
    lines.every((line) => /^[0-9a-f]{64}$/.test(line.chainHash)),
    'each line has its chain hash',
  );
  const edited = lines.findIndex((line) => line.type === 'MessageEdited');
  const altered = lines.map((line, index) =>
    index === edited ? { ...line, data: { ...line.data, content: { kind: 'text', text: 'rewritten' } } } : line,
  );
  writeFileSync(file, altered.map((line) => JSON.stringify(line)).join('\n'));
  const { code, stdout: verdict } = await audit('verify-file', file, '--json');
  t.is(code, 1);
  t.like(JSON.parse(verdict), { intact: false, breakAt: lines[edited].position });
});

test.serial(
  'npm run -s audit -- export, as the README shows it, writes only JSON Lines; verify-file names a line that is not an event instead of throwing',
  async (t) => {
    t.regex(readFileSync('README.md', 'utf8'), /`npm run -s audit -- export( \[[^\]]*\])? > events\.jsonl`/);
    const npm = await promisify(execFile)('npm', ['run', '-s', 'audit', '--', 'export'], {
      env: { ...process.env, ...testEnv(history.dir), NODE_ENV: 'test' },
      maxBuffer: 64 * 1024 * 1024,
    });
    const scratch = tempDir('letsapp-audit-export-');
    t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
    const file = join(scratch, 'events.jsonl');
    writeFileSync(file, npm.stdout);
    t.like(await auditJson('verify-file', file), { intact: true, events: history.events.length });

    // What `npm run audit -- export > events.jsonl` (without -s) writes: npm's banner before the events.
    writeFileSync(file, `\n> letsapp@0.1.0 audit\n> tsx scripts/audit.ts export\n\n${npm.stdout}`);
    const banner = await audit('verify-file', file);
    t.is(banner.code, 1);
    t.regex(banner.stderr, /^Line 2 of .*events\.jsonl is not an exported event \(it starts "> letsapp@0\.1\.0 audit"\)/);
    t.regex(banner.stderr, /npm run -s audit -- export/);
    t.notRegex(banner.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');

    // JSON that is not an event, and a file that is not there: named too.
    writeFileSync(file, `${npm.stdout.split('\n')[0]}\n[1, 2]\n`);
    const notEvent = await audit('verify-file', file);
    t.is(notEvent.code, 1);
    t.regex(notEvent.stderr, /^Line 2 of .*events\.jsonl is not an exported event/);
    const missing = await audit('verify-file', join(scratch, 'nope.jsonl'));
    t.is(missing.code, 1);
    t.regex(missing.stderr, /^Cannot read .*nope\.jsonl: ENOENT/);
    t.notRegex(missing.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
  },
);

test.serial('no output of any command contains a password hash', (t) => {
  t.is(history.passwordHashes.length, 2);
  t.true(
    history.passwordHashes.every((hash) => hash.startsWith('$2')),
    'the log does hold bcrypt hashes',
  );
  t.true(outputs.length > 10);
  for (const output of outputs) t.false(output.includes('$2'));
});

test('auditors over REST: only users an operator granted, every other user 404; a revoked grant is gone; hashes redacted', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const [auditor, someone] = [await registerUser(app.url), await registerUser(app.url)];
  const sent = (
    await request(app.url, 'POST', '/api/messages', {
      token: someone.accessToken,
      body: { recipientId: auditor.user.id, text: 'evidence' },
    })
  ).body.message;
  const read = (who: typeof auditor, path: string) => request(app.url, 'GET', path, { token: who.accessToken });
  const paths = [`/api/audit/entities/message/${sent.id}`, `/api/audit/actors/${someone.user.id}`, '/api/audit/correlations/anything'];
  for (const path of paths) t.is((await read(auditor, path)).status, 404, `${path} before the grant`);

  const grant = async (...args: string[]) =>
    execScript('grant-auditor.ts', args, {
      env: { ...process.env, ...testEnv(app.storageDir), NODE_ENV: 'test' },
    });
  await grant(auditor.user.id);
  await app.projections.waitFor(await app.eventStore.headPosition());
  const timeline = await read(auditor, `/api/audit/entities/message/${sent.id}`);
  t.is(timeline.status, 200);
  t.like(timeline.body.events[0], { type: 'MessageSent', userId: someone.user.id });
  const actions = await read(auditor, `/api/audit/actors/${someone.user.id}`);
  t.deepEqual(
    actions.body.events.map((e: any) => e.type),
    ['MessageSent'],
    'registration is anonymous: no acting user',
  );
  const userTimeline = await read(auditor, `/api/audit/entities/user/${someone.user.id}`);
  t.like(userTimeline.body.events[0], { type: 'UserRegistered', data: { passwordHash: '[redacted]' } });
  t.false(JSON.stringify(userTimeline.body).includes('$2'), 'password hashes redacted');
  t.is((await read(someone, `/api/audit/actors/${auditor.user.id}`)).status, 404, 'not for others');

  await grant(auditor.user.id, '--revoke');
  await app.projections.waitFor(await app.eventStore.headPosition());
  t.is((await read(auditor, paths[0]!)).status, 404, 'revoked');
  const grants = (await app.eventStore.readStream('auditors')).map((e) => e.type);
  t.deepEqual(grants, ['AuditorGranted', 'AuditorRevoked'], 'each grant is itself audited');
});

test("the correlation id is the server's: a client's X-Request-Id is echoed and recorded beside it as clientRequestId, never as the correlation", async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const victim = await request(app.url, 'POST', '/auth/register', {
    body: { email: `victim_${process.pid}@example.test`, username: `victim_${process.pid}`, password: 'correct horse battery' },
  });
  const victimCorrelation = victim.headers.get('x-correlation-id') ?? '';
  t.regex(victimCorrelation, /^[0-9a-f-]{36}$/, "the server names each request's correlation");
  // Another client claims the victim's correlation id as its own request id.
  const impostor = await request(app.url, 'POST', '/auth/register', {
    headers: { 'x-request-id': victimCorrelation },
    body: { email: `impostor_${process.pid}@example.test`, username: `impostor_${process.pid}`, password: 'correct horse battery' },
  });
  t.is(impostor.status, 201);
  t.is(impostor.headers.get('x-request-id'), victimCorrelation, "the client's id is still echoed");
  const impostorCorrelation = impostor.headers.get('x-correlation-id') ?? '';
  t.not(impostorCorrelation, victimCorrelation);

  const events = await app.eventStore.readAll();
  const ownUser = (event: RecordedEvent) => (event.data as { userId?: string }).userId;
  const impostorEvents = events.filter((event) => event.metadata.correlationId === impostorCorrelation);
  t.deepEqual(
    impostorEvents.map((event) => event.type),
    ['IdentityClaimed', 'IdentityClaimed', 'UserRegistered', 'UserLoggedIn'],
  );
  t.true(
    impostorEvents.every((event) => event.metadata.clientRequestId === victimCorrelation),
    "the client's id is recorded beside the correlation",
  );
  const victimEvents = events.filter((event) => event.metadata.correlationId === victimCorrelation);
  t.deepEqual(
    victimEvents.map((event) => [event.type, ownUser(event)]),
    [
      ['IdentityClaimed', undefined],
      ['IdentityClaimed', undefined],
      ['UserRegistered', victim.body.user.id],
      ['UserLoggedIn', victim.body.user.id],
    ],
    "only the victim's own events carry its correlation",
  );
  t.true(
    victimEvents.every((event) => !('clientRequestId' in event.metadata)),
    'no client id: none recorded',
  );
});
