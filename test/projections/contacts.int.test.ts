import test from 'ava';
import type { ContactEvent } from '../../commands/contacts.ts';
import type { MessageEvent } from '../../commands/messages.ts';
import { projectors } from '../../projections/index.ts';
import { listConversations } from '../../src/messaging/conversationList.ts';
import { replayFeed } from '../../src/realtime/feedReplay.ts';
import type { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { documents, freshReadStoreFor, incrementalThenRebuilt, projectAll, recorded } from '../helpers/projection.ts';

const at = '2026-01-01T00:00:00.000Z';
const direct = (id: string, from: string, to: string): MessageEvent => ({
  type: 'MessageSent',
  data: {
    messageId: id,
    conversationId: from < to ? `dm:${from}:${to}` : `dm:${to}:${from}`,
    senderId: from,
    target: { kind: 'direct', recipientId: to },
    content: { kind: 'text', text: { plain: id } },
    replyTo: null,
    attachments: [],
    clientMessageId: id,
    sentAt: at,
  },
});
const contact = (type: ContactEvent['type'], ownerId: string, userId: string): ContactEvent =>
  type === 'ContactAdded' || type === 'ContactRenamed'
    ? { type, data: { ownerId, userId, nickname: null, at } }
    : { type, data: { ownerId, userId, at } };

async function feedOf(store: SqliteReadStore, userId: string): Promise<any[]> {
  const frames: any[] = [];
  for await (const page of replayFeed(store, userId, 0, 10)) for (const entry of page) frames.push(JSON.parse(entry.bytes));
  return frames;
}

// The decider refuses a direct message across a block, but a send decided just before the block can be appended
// just after it: the projections, which see the block as of each event, keep such a message from the blocker.
const raced = [
  direct('before', 'b', 'a'),
  contact('UserBlocked', 'a', 'b'),
  direct('raced', 'b', 'a'),
  contact('UserUnblocked', 'a', 'b'),
  direct('after', 'b', 'a'),
].map((event) => recorded(event));

test('a direct message appended after a block never reaches the blocker: not in GET, sync or the list, not after unblocking', async (t) => {
  const store = await freshReadStoreFor(projectors);
  await projectAll(store, projectors, raced);
  const messages = await documents(store, 'messages');
  t.deepEqual(
    messages.map((doc: any) => [doc._id, doc.hiddenFor]),
    [
      ['after', []],
      ['before', []],
      ['raced', ['a']],
    ],
  );
  t.deepEqual(
    (await feedOf(store, 'a')).filter((f) => f.type === 'message.created').map((f) => f.message.id),
    ['before', 'after'],
  );
  t.deepEqual(
    (await feedOf(store, 'b')).filter((f) => f.type === 'message.created').map((f) => f.message.id),
    ['before', 'raced', 'after'],
    'the sender keeps it',
  );
  const [conversation] = await listConversations(store, 'a', { limit: 10 });
  t.like(conversation, { unreadCount: 2, lastMessage: { id: 'after' } });
  t.deepEqual(
    (await feedOf(store, 'a')).filter((f) => f.type === 'contacts.updated').map((f) => f.change),
    ['blocked', 'unblocked'],
  );
  t.deepEqual(
    (await feedOf(store, 'b')).filter((f) => f.type === 'contacts.updated'),
    [],
    'the blocked user hears nothing of it',
  );
});

test('contacts: a document per owner and user while a contact or blocked, none after; rebuild equals incremental; twice changes nothing', async (t) => {
  const history = [
    contact('ContactAdded', 'a', 'b'),
    contact('UserBlocked', 'a', 'b'),
    contact('ContactRemoved', 'a', 'b'),
    contact('ContactAdded', 'a', 'c'),
    contact('UserBlocked', 'a', 'd'),
    contact('UserUnblocked', 'a', 'd'),
  ].map((event) => recorded(event));
  const store = await freshReadStoreFor(projectors);
  await projectAll(store, projectors, history);
  await projectAll(store, projectors, history);
  t.deepEqual(
    (await documents(store, 'contacts')).map((doc: any) => [doc._id, doc.isContact, doc.blocked]),
    [
      ['a:b', false, true],
      ['a:c', true, false],
    ],
  );
  const { incremental, rebuilt } = await incrementalThenRebuilt(
    projectors,
    history.map(({ type, data }) => ({ type, data })),
    ['contacts'],
  );
  t.deepEqual(rebuilt, incremental);
});
