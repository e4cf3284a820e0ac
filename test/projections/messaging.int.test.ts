import test from 'ava';
import type { GroupEvent } from '../../commands/groups.ts';
import type { MessageEvent } from '../../commands/messages.ts';
import type { ReceiptEvent } from '../../commands/receipts.ts';
import { projectors } from '../../projections/index.ts';
import type { RecordedEvent } from '../../src/eventstore/port.ts';
import { documents, freshReadStoreFor, incrementalThenRebuilt, projectAll, recorded } from '../helpers/projection.ts';

const at = '2026-01-01T00:00:00.000Z';
const collections = ['groups', 'messages', 'group_messages', 'conversations', 'feed'];

function history(): RecordedEvent[] {
  const direct = (id: string, from: string, to: string, text: string): MessageEvent => ({ type: 'MessageSent', data: {
    messageId: id, conversationId: 'dm:a:b', senderId: from, target: { kind: 'direct', recipientId: to },
    content: { kind: 'text', text }, replyTo: null, attachments: [], clientMessageId: id, sentAt: at,
  } });
  const events: Array<MessageEvent | GroupEvent | ReceiptEvent> = [
    direct('m1', 'a', 'b', 'one'),
    direct('m2', 'a', 'b', 'two'),
    direct('m3', 'b', 'a', 'three'),
    { type: 'MessageEdited', data: { messageId: 'm2', conversationId: 'dm:a:b', senderId: 'a', content: { kind: 'text', text: 'two!' }, editedAt: at } },
    { type: 'MessageDeleted', data: { messageId: 'm1', conversationId: 'dm:a:b', deletedBy: 'a', deletedAt: at } },
    { type: 'GroupCreated', data: { groupId: 'g', ownerId: 'a', profile: { name: 'G', description: '', iconMediaId: null }, memberIds: ['b', 'c'], createdAt: at } },
    { type: 'MessageSent', data: { messageId: 'g1', conversationId: 'group:g', senderId: 'a', target: { kind: 'group', groupId: 'g' },
      content: { kind: 'text', text: 'hi group' }, replyTo: null, attachments: [], clientMessageId: 'g1', sentAt: at } },
    { type: 'MemberRemoved', data: { groupId: 'g', userId: 'c', removedBy: 'a', removedAt: at } },
    { type: 'MessageSent', data: { messageId: 'g2', conversationId: 'group:g', senderId: 'b', target: { kind: 'group', groupId: 'g' },
      content: { kind: 'text', text: 'c is gone' }, replyTo: null, attachments: [], clientMessageId: 'g2', sentAt: at } },
  ];
  const recordedEvents = events.map((event) => recorded(event));
  const m2Position = recordedEvents[1]!.position;
  recordedEvents.push(recorded({ type: 'MessagesRead', data: { conversationId: 'dm:a:b', userId: 'b', upTo: { messageId: 'm2', position: m2Position }, at } }));
  return recordedEvents;
}

test('given a direct and a group conversation, the read models hold messages, tombstones, unread counts and feeds', async (t) => {
  const store = await freshReadStoreFor(projectors);
  const events = history();
  await projectAll(store, projectors, events);
  const messages = await store.collection('messages').find({}, { sort: { position: 1 } });
  t.deepEqual(messages.map((m) => [m._id, (m.content as { text: string } | null)?.text ?? null]), [['m1', null], ['m2', 'two!'], ['m3', 'three']]);
  const bDirect = await store.collection('conversations').findOne({ _id: 'b|dm:a:b' });
  t.like(bDirect, { unreadCount: 0, lastMessage: { id: 'm3' } });
  const aDirect = await store.collection('conversations').findOne({ _id: 'a|dm:a:b' });
  t.like(aDirect, { unreadCount: 1, peerId: 'b' });
  t.is(await store.collection('conversations').findOne({ _id: 'c|group:g' }), null, 'a removed member loses the conversation');
  const cFeed = (await store.collection('feed').find({ userId: 'c' }, { sort: { position: 1 } })).map((e) => JSON.parse(e.bytes as string));
  t.deepEqual(cFeed.map((f) => f.type === 'message.created' ? f.message.id : f.change), ['GroupCreated', 'g1', 'MemberRemoved']);
  const bFeed = (await store.collection('feed').find({ userId: 'b' }, { sort: { position: 1 } })).map((e) => JSON.parse(e.bytes as string));
  t.true(bFeed.some((f) => f.type === 'message.created' && f.message.id === 'g2'));
});

test('the same events applied twice change nothing', async (t) => {
  const store = await freshReadStoreFor(projectors);
  const events = history();
  await projectAll(store, projectors, events);
  const once = await Promise.all(collections.map((name) => documents(store, name)));
  await projectAll(store, projectors, events);
  t.deepEqual(await Promise.all(collections.map((name) => documents(store, name))), once);
});

test('the operator\'s rebuild (fresh collections, swap, checkpoints) gives the same documents as the incremental run', async (t) => {
  const { incremental, rebuilt, checkpoints, head } = await incrementalThenRebuilt(projectors, history(), collections);
  for (const name of collections) {
    t.true(incremental[name]!.length > 0, `${name} has documents`);
    t.deepEqual(rebuilt[name], incremental[name], name);
  }
  t.deepEqual(checkpoints.map((checkpoint: any) => checkpoint.position), projectors.map(() => head), 'every checkpoint at the head');
});
