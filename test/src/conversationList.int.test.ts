import test from 'ava';
import type { ContactEvent } from '../../commands/contacts.ts';
import type { MessageEvent } from '../../commands/messages.ts';
import type { ReceiptEvent } from '../../commands/receipts.ts';
import { projectors } from '../../projections/index.ts';
import type { RecordedEvent } from '../../src/eventstore/port.ts';
import { listConversations, UNREAD_COUNT_LIMIT } from '../../src/messaging/conversationList.ts';
import type { Collection, Doc, ReadStore } from '../../src/readstore/port.ts';
import { freshReadStoreFor, projectAll, recorded } from '../helpers/projection.ts';

const at = '2026-01-01T00:00:00.000Z';
const conversationOf = (x: string, y: string) => (x < y ? `dm:${x}:${y}` : `dm:${y}:${x}`);
const direct = (id: string, from: string, to: string): MessageEvent => ({
  type: 'MessageSent',
  data: {
    messageId: id,
    conversationId: conversationOf(from, to),
    senderId: from,
    target: { kind: 'direct', recipientId: to },
    content: { kind: 'text', text: { plain: id } },
    replyTo: null,
    attachments: [],
    clientMessageId: id,
    sentAt: at,
  },
});
const many = (count: number, from: string, to: string) => Array.from({ length: count }, (_, i) => direct(`${from}-${to}-${i}`, from, to));

/**
 * The read store as the list sees it, counting the documents it reads: every document a find returns, and for a
 * count the rows it had to visit to reach its answer.
 */
function countingReads(store: ReadStore) {
  const counter = { documents: 0 };
  const wrap = <T extends Doc>(collection: Collection<T>): Collection<T> => ({
    ...collection,
    name: collection.name,
    findOne: async (filter) => {
      const doc = await collection.findOne(filter);
      counter.documents += doc ? 1 : 0;
      return doc;
    },
    find: async (filter, options) => {
      const docs = await collection.find(filter, options);
      counter.documents += docs.length;
      return docs;
    },
    countDocuments: async (filter, options) => {
      const n = await collection.countDocuments(filter, options);
      counter.documents += n;
      return n;
    },
  });
  const counted = new Proxy(store, {
    get: (target, property, receiver) =>
      property === 'collection'
        ? <T extends Doc>(name: string) => wrap(target.collection<T>(name))
        : Reflect.get(target, property, receiver),
  });
  return { store: counted, counter };
}

test('listing conversations reads the same few documents per conversation with 1 or 1,000 unread messages', async (t) => {
  const store = await freshReadStoreFor(projectors);
  // "few" has 1 unread message from a peer; "busy" has 1,000 from each of three peers.
  const events = [...many(1, 'p0', 'few'), ...many(1_000, 'p1', 'busy'), ...many(1_000, 'p2', 'busy'), ...many(1_000, 'p3', 'busy')].map(
    (event) => recorded(event),
  );
  await projectAll(store, projectors, events);

  const reads = async (userId: string) => {
    const { store: counted, counter } = countingReads(store);
    const list = await listConversations(counted, userId, { limit: 50 });
    return { list, documents: counter.documents };
  };
  const few = await reads('few');
  const busy = await reads('busy');
  t.deepEqual(
    few.list.map((item) => item.unreadCount),
    [1],
  );
  t.deepEqual(
    busy.list.map((item) => item.unreadCount),
    [1_000, 1_000, 1_000],
  );
  t.log(`documents read: ${few.documents} (1 conversation, 1 unread), ${busy.documents} (3 conversations, 1,000 unread each)`);
  // A membership, a summary and a peer per conversation: nothing that grows with the messages.
  t.true(few.documents <= 3, `read ${few.documents}`);
  t.true(busy.documents <= 3 * 3, `read ${busy.documents}`);
  await store.close();
});

test('unread counts follow the read mark, hidden messages, tombstones and blocks, and stop at the limit', async (t) => {
  const store = await freshReadStoreFor(projectors);
  const receipt = (userId: string, conversationId: string, messageId: string, position: number): ReceiptEvent => ({
    type: 'MessagesRead',
    data: { conversationId, userId, upTo: { messageId, position }, at },
  });
  const contact = (type: 'UserBlocked' | 'UserUnblocked', ownerId: string, userId: string) =>
    ({ type, data: { ownerId, userId, at } }) as ContactEvent;
  const list = async (userId: string) =>
    Object.fromEntries((await listConversations(store, userId, { limit: 50 })).map((item) => [item.conversationId, item.unreadCount]));

  // Over the limit: 1,005 from p to u, then u reads up to the 500th.
  const overLimit = many(1_005, 'p', 'u').map((event) => recorded(event));
  await projectAll(store, projectors, overLimit);
  t.is((await list('u'))[conversationOf('p', 'u')], UNREAD_COUNT_LIMIT);
  const fiveHundredth = overLimit[499]!;
  await projectAll(store, projectors, [recorded(receipt('u', conversationOf('p', 'u'), 'p-u-499', fiveHundredth.position))]);
  t.is((await list('u'))[conversationOf('p', 'u')], 505);

  // Hiding an unread message for oneself takes it off the count; hiding a read one changes nothing.
  const hide = (messageId: string, userId: string): MessageEvent => ({
    type: 'MessageHidden',
    data: { messageId, conversationId: conversationOf('p', 'u'), userId, hiddenAt: at },
  });
  await projectAll(store, projectors, [recorded(hide('p-u-1000', 'u')), recorded(hide('p-u-10', 'u'))]);
  t.is((await list('u'))[conversationOf('p', 'u')], 504);
  // A message deleted for everyone stays unread: its tombstone is there to be seen.
  await projectAll(store, projectors, [
    recorded({
      type: 'MessageDeleted',
      data: { messageId: 'p-u-900', conversationId: conversationOf('p', 'u'), deletedBy: 'p', deletedAt: at },
    }),
  ]);
  t.is((await list('u'))[conversationOf('p', 'u')], 504);
  // u answers: everything before their own message is read; p's count is u's one message.
  await projectAll(store, projectors, [recorded(direct('u-reply', 'u', 'p'))]);
  t.is((await list('u'))[conversationOf('p', 'u')], 0);
  t.is((await list('p'))[conversationOf('p', 'u')], 1);

  // A message sent across a block never reaches the blocker, not even as a count: first, middle or last.
  const raced: RecordedEvent[] = [
    contact('UserBlocked', 'v', 'q'),
    direct('q1', 'q', 'v'),
    contact('UserUnblocked', 'v', 'q'),
    direct('q2', 'q', 'v'),
    contact('UserBlocked', 'v', 'q'),
    direct('q3', 'q', 'v'),
    contact('UserUnblocked', 'v', 'q'),
    direct('q4', 'q', 'v'),
    contact('UserBlocked', 'v', 'q'),
    direct('q5', 'q', 'v'),
  ].map((event) => recorded(event));
  await projectAll(store, projectors, raced);
  t.is((await list('v'))[conversationOf('q', 'v')], 2);
  await store.close();
});
