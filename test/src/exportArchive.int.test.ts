import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { LocalBlobStore } from '../../src/media/blobStore.ts';
import { writeExportArchive } from '../../src/privacy/exportArchive.ts';
import type { ReadStore } from '../../src/readstore/port.ts';
import { PostgresReadStore } from '../../src/readstore/postgres.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { postgresTest } from '../helpers/postgres.ts';
import { readZip } from '../helpers/zip.ts';

/**
 * The export's conversations as the read collections hold them: paged past one page (500), oldest first, without
 * what the user may not read any more, and erased texts as `[erased]`.
 */
const TITLE = 'conversations.json pages through long conversations and keeps only what the user can still read';

test(`${TITLE} (embedded SQLite)`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'letsapp-export-'));
  const readStore = new SqliteReadStore(join(dir, 'read.sqlite'));
  t.teardown(async () => {
    await readStore.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await exportScenario(t, readStore, dir);
});

postgresTest(`${TITLE} (PostgreSQL)`, async (t, settings) => {
  const dir = mkdtempSync(join(tmpdir(), 'letsapp-export-'));
  const readStore = await PostgresReadStore.connect(settings);
  t.teardown(async () => {
    await readStore.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await exportScenario(t, readStore, dir);
});

async function exportScenario(t: ExecutionContext, readStore: ReadStore, dir: string) {
  const blobs = await new LocalBlobStore(join(dir, 'media')).init();
  const at = '2026-01-01T00:00:00.000Z';
  await readStore.collection('users').insertOne({
    _id: 'alice',
    _position: 1,
    email: 'alice@example.test',
    username: 'alice',
    displayName: 'Alice',
    passwordHash: 'secret-hash',
    about: '',
    createdAt: at,
    lastLoginAt: null,
    revokedTokens: [],
    privacy: {},
    ai: {},
    avatarMediaId: null,
  });
  const membership = (conversationId: string, extra: Record<string, unknown>) =>
    readStore.collection('conversations').insertOne({
      _id: `alice|${conversationId}`,
      _position: 1,
      userId: 'alice',
      conversationId,
      active: true,
      peerId: null,
      groupId: null,
      ...extra,
    });
  await membership('dm:alice:bob', { kind: 'direct', peerId: 'bob', memberships: [{ from: 0, to: null }] });
  await membership('group:g1', {
    kind: 'group',
    groupId: 'g1',
    memberships: [
      { from: 100, to: 2000 },
      { from: 3000, to: null },
    ],
  });
  await membership('group:left', { kind: 'group', groupId: 'left', active: false, memberships: [{ from: 0, to: 10 }] });
  await readStore.collection('groups').insertOne({ _id: 'g1', _position: 1, name: 'Book club' });

  const messageDoc = (conversationId: string, position: number, text: string, extra: Record<string, unknown> = {}) => ({
    _id: `${conversationId}-${position}`,
    _position: position,
    conversationId,
    senderId: position % 2 ? 'alice' : 'bob',
    content: { kind: 'text', text },
    replyTo: null,
    attachments: [],
    sentAt: at,
    editedAt: null,
    deletedAt: null,
    hiddenFor: [],
    position,
    ...extra,
  });
  const message = (collection: string, conversationId: string, position: number, text: string) =>
    readStore.collection(collection).insertOne(messageDoc(conversationId, position, text));
  const total = 1_001;
  await readStore.withTransaction(async (tx) => {
    for (let position = 1; position <= total; position++) {
      const extra =
        position === 7
          ? { content: null, deletedAt: at }
          : position === 8
            ? { hiddenFor: ['alice'] }
            : position === 9
              ? { content: { kind: 'text', text: '[erased]' } }
              : {};
      await tx.collection('messages').insertOne(messageDoc('dm:alice:bob', position, `text ${position}`, extra));
    }
  });
  for (const position of [50, 150, 2500, 3500]) await message('group_messages', 'group:g1', position, `group ${position}`);
  await message('group_messages', 'group:left', 5, 'said in a group she left');

  const path = join(dir, 'export.zip');
  const size = await writeExportArchive({ readStore, blobs }, 'alice', new Date(at), path, new AbortController().signal);
  t.is(statSync(path).size, size);
  t.is(statSync(path).mode & 0o777, 0o600);
  const files = readZip(readFileSync(path));
  const { conversations } = JSON.parse(files.get('conversations.json')!.toString('utf8')) as {
    conversations: Array<{ conversationId: string; messages: Array<{ id: string; content: { text: string } }> }>;
  };
  t.deepEqual(
    conversations.map((conversation) => conversation.conversationId),
    ['dm:alice:bob', 'group:g1'],
    'not the group she left',
  );
  const direct = conversations[0]!.messages;
  t.is(direct.length, total - 2, 'every page, without the one deleted for everyone nor the one deleted for her');
  t.deepEqual(
    direct.slice(0, 8).map((entry) => entry.content.text),
    ['text 1', 'text 2', 'text 3', 'text 4', 'text 5', 'text 6', '[erased]', 'text 10'],
  );
  t.is(direct.at(-1)!.content.text, `text ${total}`);
  t.deepEqual(
    conversations[1]!.messages.map((entry) => entry.content.text),
    ['group 150', 'group 3500'],
    'only what was said while she was a member',
  );
  t.false(files.get('profile.json')!.toString('utf8').includes('secret-hash'));
}
