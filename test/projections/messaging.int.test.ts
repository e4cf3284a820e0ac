import test from 'ava';
import type { GroupEvent } from '../../commands/groups.ts';
import type { MessageEvent } from '../../commands/messages.ts';
import type { ReceiptEvent } from '../../commands/receipts.ts';
import { projectors } from '../../projections/index.ts';
import type { RecordedEvent } from '../../src/eventstore/port.ts';
import { documents, freshReadStoreFor, incrementalThenRebuilt, projectAll, recorded } from '../helpers/projection.ts';
import { listConversations } from '../../src/messaging/conversationList.ts';
import { replayFeed } from '../../src/realtime/feedReplay.ts';
import type { SqliteReadStore } from '../../src/readstore/sqlite.ts';

const at = '2026-01-01T00:00:00.000Z';
const collections = ['groups', 'messages', 'group_messages', 'conversations', 'conversation_summaries', 'feed'];

function history(): RecordedEvent[] {
  const direct = (id: string, from: string, to: string, text: string): MessageEvent => ({
    type: 'MessageSent',
    data: {
      messageId: id,
      conversationId: 'dm:a:b',
      senderId: from,
      target: { kind: 'direct', recipientId: to },
      content: { kind: 'text', text: { plain: text } },
      replyTo: null,
      attachments: [],
      clientMessageId: id,
      sentAt: at,
    },
  });
  const events: Array<MessageEvent | GroupEvent | ReceiptEvent> = [
    direct('m1', 'a', 'b', 'one'),
    direct('m2', 'a', 'b', 'two'),
    direct('m3', 'b', 'a', 'three'),
    {
      type: 'MessageEdited',
      data: { messageId: 'm2', conversationId: 'dm:a:b', senderId: 'a', content: { kind: 'text', text: { plain: 'two!' } }, editedAt: at },
    },
    { type: 'MessageDeleted', data: { messageId: 'm1', conversationId: 'dm:a:b', deletedBy: 'a', deletedAt: at } },
    {
      type: 'GroupCreated',
      data: {
        groupId: 'g',
        ownerId: 'a',
        profile: { name: 'G', description: '', iconMediaId: null },
        memberIds: ['b', 'c'],
        createdAt: at,
      },
    },
    {
      type: 'MessageSent',
      data: {
        messageId: 'g1',
        conversationId: 'group:g',
        senderId: 'a',
        target: { kind: 'group', groupId: 'g' },
        content: { kind: 'text', text: { plain: 'hi group' } },
        replyTo: null,
        attachments: [],
        clientMessageId: 'g1',
        sentAt: at,
      },
    },
    { type: 'MemberRemoved', data: { groupId: 'g', userId: 'c', removedBy: 'a', removedAt: at } },
    {
      type: 'MessageSent',
      data: {
        messageId: 'g2',
        conversationId: 'group:g',
        senderId: 'b',
        target: { kind: 'group', groupId: 'g' },
        content: { kind: 'text', text: { plain: 'c is gone' } },
        replyTo: null,
        attachments: [],
        clientMessageId: 'g2',
        sentAt: at,
      },
    },
    // a deletes b's unread message for themselves: it is no longer unread for a.
    { type: 'MessageHidden', data: { messageId: 'g2', conversationId: 'group:g', userId: 'a', hiddenAt: at } },
  ];
  const recordedEvents = events.map((event) => recorded(event));
  const m2Position = recordedEvents[1]!.position;
  recordedEvents.push(
    recorded({
      type: 'MessagesRead',
      data: { conversationId: 'dm:a:b', userId: 'b', upTo: { messageId: 'm2', position: m2Position }, at },
    }),
  );
  return recordedEvents;
}

/** What `sync` from the start would replay to a user, as frames. */
async function feedOf(store: SqliteReadStore, userId: string) {
  const frames: any[] = [];
  for await (const page of replayFeed(store, userId, 0, 3)) for (const entry of page) frames.push(JSON.parse(entry.bytes));
  return frames;
}

test('given a direct and a group conversation, the read models hold messages, tombstones, unread counts and feeds', async (t) => {
  const store = await freshReadStoreFor(projectors);
  const events = history();
  await projectAll(store, projectors, events);
  const messages = await store.collection('messages').find({}, { sort: { position: 1 } });
  t.deepEqual(
    messages.map((m) => [m._id, (m.content as { text: string } | null)?.text ?? null]),
    [
      ['m1', null],
      ['m2', 'two!'],
      ['m3', 'three'],
    ],
  );
  const bList = await listConversations(store, 'b', { limit: 10 });
  t.like(
    bList.find((c) => c.conversationId === 'dm:a:b'),
    { unreadCount: 0, lastMessage: { id: 'm3' } },
  );
  const aList = await listConversations(store, 'a', { limit: 10 });
  t.like(
    aList.find((c) => c.conversationId === 'dm:a:b'),
    { unreadCount: 1, lastMessage: { id: 'm3' } },
  );
  t.like(
    aList.find((c) => c.conversationId === 'group:g'),
    { unreadCount: 0, lastMessage: { id: 'g1' } },
  );
  t.like(
    bList.find((c) => c.conversationId === 'group:g'),
    { unreadCount: 0 },
  );
  t.deepEqual(
    (await listConversations(store, 'c', { limit: 10 })).map((c) => c.conversationId),
    [],
    'a removed member loses the conversation',
  );
  // The numbers unread counts are made of.
  t.deepEqual(
    [...messages, ...(await store.collection('group_messages').find({}, { sort: { position: 1 } }))].map((m) => [m._id, m.seq]),
    [
      ['m1', 1],
      ['m2', 2],
      ['m3', 3],
      ['g1', 1],
      ['g2', 2],
    ],
  );
  t.deepEqual(
    (await documents(store, 'conversation_summaries')).map((s: any) => [s._id, s.lastSeq]),
    [
      ['dm:a:b', 3],
      ['group:g', 2],
    ],
  );
  t.deepEqual(
    (await documents(store, 'conversations')).map((d: any) => [d._id, d.readSeq, d.hiddenUnread.length]),
    [
      ['a|dm:a:b', 2, 0],
      ['a|group:g', 1, 1],
      ['b|dm:a:b', 3, 0],
      ['b|group:g', 2, 0],
      ['c|group:g', 0, 0],
    ],
  );
  const cFeed = await feedOf(store, 'c');
  t.deepEqual(
    cFeed.map((f) => (f.type === 'message.created' ? f.message.id : f.change)),
    ['created', 'g1', 'member_removed'],
  );
  t.false('group' in cFeed[2], 'the removed member hears of it without the group');
  const bFeed = await feedOf(store, 'b');
  t.deepEqual(
    bFeed.map((f) => (f.type === 'message.created' ? f.message.id : f.type === 'group.updated' ? f.change : f.type)),
    ['m1', 'm2', 'm3', 'message.edited', 'message.deleted', 'created', 'g1', 'member_removed', 'g2', 'receipt'],
  );
  t.deepEqual(
    bFeed.map((f) => f.position),
    [...bFeed.map((f) => f.position)].sort((x, y) => x - y),
    'in position order',
  );
});

test('one message costs the same read-store writes in a group of 10 as in a group of 1,000', async (t) => {
  const writesFor = async (size: number) => {
    const store = await freshReadStoreFor(projectors);
    const members = Array.from({ length: size - 1 }, (_, i) => `m${i}`);
    const created = recorded({
      type: 'GroupCreated',
      data: {
        groupId: `g${size}`,
        ownerId: 'owner',
        profile: { name: 'G', description: '', iconMediaId: null },
        memberIds: members,
        createdAt: at,
      },
    });
    await projectAll(store, projectors, [created]);
    const before = store.db.prepare('SELECT total_changes() AS n').get() as { n: number };
    await projectAll(store, projectors, [
      recorded({
        type: 'MessageSent',
        data: {
          messageId: `x${size}`,
          conversationId: `group:g${size}`,
          senderId: 'owner',
          target: { kind: 'group', groupId: `g${size}` },
          content: { kind: 'text', text: 'hello everyone' },
          replyTo: null,
          attachments: [],
          clientMessageId: `x${size}`,
          sentAt: at,
        },
      }),
    ]);
    const after = store.db.prepare('SELECT total_changes() AS n').get() as { n: number };
    await store.close();
    return after.n - before.n;
  };
  const small = await writesFor(10);
  const large = await writesFor(1_000);
  t.log(`rows written for one group message: ${small} (10 members), ${large} (1,000 members)`);
  t.true(small > 0);
  t.is(large, small);
});

test('the same events applied twice change nothing', async (t) => {
  const store = await freshReadStoreFor(projectors);
  const events = history();
  await projectAll(store, projectors, events);
  const once = await Promise.all(collections.map((name) => documents(store, name)));
  await projectAll(store, projectors, events);
  t.deepEqual(await Promise.all(collections.map((name) => documents(store, name))), once);
});

test("the operator's rebuild (fresh collections, swap, checkpoints) gives the same documents as the incremental run", async (t) => {
  const { incremental, rebuilt, checkpoints, head } = await incrementalThenRebuilt(projectors, history(), collections);
  for (const name of collections) {
    t.true(incremental[name]!.length > 0, `${name} has documents`);
    t.deepEqual(rebuilt[name], incremental[name], name);
  }
  t.deepEqual(
    checkpoints.map((checkpoint: any) => checkpoint.position),
    projectors.map(() => head),
    'every checkpoint at the head',
  );
});

test('a member who leaves and rejoins replays only what was said while they were in the group', async (t) => {
  const store = await freshReadStoreFor(projectors);
  const group = (id: string, from: string, text: string): MessageEvent => ({
    type: 'MessageSent',
    data: {
      messageId: id,
      conversationId: 'group:r',
      senderId: from,
      target: { kind: 'group', groupId: 'r' },
      content: { kind: 'text', text: { plain: text } },
      replyTo: null,
      attachments: [],
      clientMessageId: id,
      sentAt: at,
    },
  });
  const events: Array<MessageEvent | GroupEvent> = [
    {
      type: 'GroupCreated',
      data: { groupId: 'r', ownerId: 'o', profile: { name: 'R', description: '', iconMediaId: null }, memberIds: ['u'], createdAt: at },
    },
    group('r1', 'o', 'while in'),
    { type: 'MemberLeft', data: { groupId: 'r', userId: 'u', leftAt: at } },
    group('r2', 'o', 'while out'),
    { type: 'MemberAdded', data: { groupId: 'r', userId: 'u', role: 'member', addedBy: 'o', addedAt: at } },
    group('r3', 'o', 'back in'),
  ];
  await projectAll(
    store,
    projectors,
    events.map((event) => recorded(event)),
  );
  const frames = await feedOf(store, 'u');
  t.deepEqual(
    frames.map((f) => (f.type === 'message.created' ? f.message.id : f.change)),
    ['created', 'r1', 'member_left', 'member_added', 'r3'],
  );
  t.false('group' in frames[2], 'the leave notice carries no group');
  const list = await listConversations(store, 'u', { limit: 10 });
  t.like(list[0], { conversationId: 'group:r', unreadCount: 1, lastMessage: { id: 'r3' } }, 'unread counts only what came after rejoining');
});
