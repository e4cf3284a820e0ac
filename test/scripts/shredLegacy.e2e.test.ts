import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { tempDir, testEnv } from '../helpers/app.ts';
import { execScript } from '../helpers/scripts.ts';

const at = '2026-01-01T00:00:00.000Z';
const meta = (eventId: string, schemaVersion?: number) => ({
  eventId,
  correlationId: 'c',
  causationId: 'c',
  userId: 'a',
  timestamp: at,
  ...(schemaVersion ? { schemaVersion } : {}),
});

test('npm run shred-legacy lists the v1 events that hold a text in clear (and which messages were deleted for everyone), writes no text, and leaves the log as it was', async (t) => {
  const dir = tempDir('letsapp-shred-legacy-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteEventStore(join(dir, 'events.sqlite'));
  const sent = (messageId: string, text: string) => ({
    type: 'MessageSent',
    data: {
      messageId,
      conversationId: 'dm:a:b',
      senderId: 'a',
      target: { kind: 'direct', recipientId: 'b' },
      content: { kind: 'text', text },
      replyTo: null,
      attachments: [],
      clientMessageId: messageId,
      sentAt: at,
    },
  });
  await store.append('message-m1', [{ ...sent('m1', 'legacy kept'), metadata: meta('e1') }], 'no-stream');
  await store.append('message-m2', [{ ...sent('m2', 'legacy deleted'), metadata: meta('e2') }], 'no-stream');
  await store.append(
    'message-m2',
    [{ type: 'MessageDeleted', data: { messageId: 'm2', conversationId: 'dm:a:b', deletedBy: 'a', deletedAt: at }, metadata: meta('e3') }],
    0,
  );
  await store.append(
    'message-m3',
    [
      {
        ...sent('m3', 'x'),
        data: {
          ...sent('m3', 'x').data,
          content: { kind: 'text', text: { sealed: 'xchacha20poly1305-ietf', kid: 'message:m3', nonce: 'n', ct: 'c' } },
        },
        metadata: meta('e4', 2),
      },
    ],
    'no-stream',
  );
  await store.close();
  const before = readFileSync(join(dir, 'events.sqlite'));

  const { stdout } = await execScript('shred-legacy.ts', [], {
    env: { ...process.env, ...testEnv(dir), NODE_ENV: 'test' },
  });
  t.regex(stdout, /2 events hold a message text in clear.* 1 of them belong to messages deleted for everyone/);
  const report = readFileSync(join(dir, 'legacy-plaintext.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  t.deepEqual(
    report.map((line) => [line.stream, line.type, line.messageId, line.deletedForEveryone]),
    [
      ['message-m1', 'MessageSent', 'm1', false],
      ['message-m2', 'MessageSent', 'm2', true],
    ],
  );
  t.false(readFileSync(join(dir, 'legacy-plaintext.jsonl'), 'utf8').includes('legacy'), 'the report names events, it copies no text');
  t.is(statSync(join(dir, 'legacy-plaintext.jsonl')).mode & 0o777, 0o600);
  t.deepEqual(readFileSync(join(dir, 'events.sqlite')), before, 'the log is not rewritten');
});

test('npm run shred-legacy also lists the events holding personal fields in clear (before they were sealed), and which accounts were deleted since', async (t) => {
  const dir = tempDir('letsapp-shred-legacy-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteEventStore(join(dir, 'events.sqlite'));
  const registered = (userId: string, name: string) => ({
    type: 'UserRegistered',
    data: {
      userId,
      email: `${name}@example.test`,
      username: name,
      displayName: name,
      passwordHash: 'h',
      passwordScheme: 'bcrypt-nfc',
      registeredAt: at,
    },
  });
  await store.append('user-u1', [{ ...registered('u1', 'legacyone'), metadata: meta('p1', 2) }], 'no-stream');
  await store.append('user-u2', [{ ...registered('u2', 'legacytwo'), metadata: meta('p2', 2) }], 'no-stream');
  await store.append(
    'contacts-u1',
    [{ type: 'ContactAdded', data: { ownerId: 'u1', userId: 'u2', nickname: 'legacy nick', at }, metadata: meta('p3') }],
    'no-stream',
  );
  await store.append(
    'contacts-u2',
    [{ type: 'ContactAdded', data: { ownerId: 'u2', userId: 'u1', nickname: null, at }, metadata: meta('p4') }],
    'no-stream',
  );
  await store.append(
    'user-u1',
    [{ type: 'AccountDeleted', data: { userId: 'u1', messages: 'keep', deletedAt: at }, metadata: meta('p5') }],
    0,
  );
  await store.close();
  const before = readFileSync(join(dir, 'events.sqlite'));

  const { stdout } = await execScript('shred-legacy.ts', [], {
    env: { ...process.env, ...testEnv(dir), NODE_ENV: 'test' },
  });
  t.regex(stdout, /3 events hold personal fields in clear.* 2 of them belong to deleted accounts/);
  const report = readFileSync(join(dir, 'legacy-personal-fields.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  t.deepEqual(
    report.map((line) => [line.stream, line.type, line.userId, line.accountDeleted]),
    [
      ['user-u1', 'UserRegistered', 'u1', true],
      ['user-u2', 'UserRegistered', 'u2', false],
      ['contacts-u1', 'ContactAdded', 'u1', true],
    ],
  );
  t.false(readFileSync(join(dir, 'legacy-personal-fields.jsonl'), 'utf8').includes('legacy'), 'no field is copied');
  t.is(statSync(join(dir, 'legacy-personal-fields.jsonl')).mode & 0o777, 0o600);
  t.deepEqual(readFileSync(join(dir, 'events.sqlite')), before, 'the log is not rewritten');
});
