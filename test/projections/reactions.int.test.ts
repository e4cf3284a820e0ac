import test from 'ava';
import type { ContactEvent } from '../../commands/contacts.ts';
import type { GroupEvent } from '../../commands/groups.ts';
import type { MessageEvent } from '../../commands/messages.ts';
import type { ReactionEvent } from '../../commands/reactions.ts';
import { projectors } from '../../projections/index.ts';
import { REACTION_COUNTS, REACTIONS } from '../../projections/reactions.ts';
import type { Collection, Doc, ReadStore } from '../../src/readstore/port.ts';
import { createProjectionContext } from '../../src/projection/context.ts';
import { applyInOrder } from '../../src/projection/applyInOrder.ts';
import { eventUpcaster } from '../../commands/upcasters.ts';
import type { RecordedEvent } from '../../src/eventstore/port.ts';
import type { Publication } from '../../src/projection/projector.ts';
import { documents, freshReadStoreFor, incrementalThenRebuilt, projectAll, recorded } from '../helpers/projection.ts';

const at = '2026-01-01T00:00:00.000Z';
const groupOf = (groupId: string, size: number): GroupEvent => ({
  type: 'GroupCreated',
  data: {
    groupId,
    ownerId: `${groupId}-owner`,
    profile: { name: groupId, description: '', iconMediaId: null },
    memberIds: Array.from({ length: size - 1 }, (_, i) => `${groupId}-m${i}`),
    createdAt: at,
  },
});
const groupMessage = (messageId: string, groupId: string, senderId: string): MessageEvent => ({
  type: 'MessageSent',
  data: {
    messageId,
    conversationId: `group:${groupId}`,
    senderId,
    target: { kind: 'group', groupId },
    content: { kind: 'text', text: { plain: messageId } },
    replyTo: null,
    attachments: [],
    clientMessageId: messageId,
    sentAt: at,
  },
});
const reaction = (type: ReactionEvent['type'], messageId: string, groupId: string, userId: string, emoji: string): ReactionEvent => ({
  type,
  data: { messageId, conversationId: `group:${groupId}`, userId, emoji, at },
});

/** The read store, counting every document each write touches, by collection. */
function countingWrites(store: ReadStore) {
  const written = new Map<string, number>();
  const count = (name: string, n: number) => written.set(name, (written.get(name) ?? 0) + n);
  const wrap = <T extends Doc>(collection: Collection<T>): Collection<T> => ({
    ...collection,
    name: collection.name,
    find: (filter, options) => collection.find(filter, options),
    findOne: (filter) => collection.findOne(filter),
    countDocuments: (filter, options) => collection.countDocuments(filter, options),
    insertOne: async (doc) => {
      await collection.insertOne(doc);
      count(collection.name, 1);
    },
    replaceOne: async (filter, doc, options) => {
      const result = await collection.replaceOne(filter, doc, options);
      count(collection.name, result.modified + (result.upsertedId ? 1 : 0));
      return result;
    },
    updateOne: async (filter, update, options) => {
      const result = await collection.updateOne(filter, update, options);
      count(collection.name, result.modified + (result.upsertedId ? 1 : 0));
      return result;
    },
    updateMany: async (filter, update) => {
      const result = await collection.updateMany(filter, update);
      count(collection.name, result.modified);
      return result;
    },
    deleteOne: async (filter) => {
      const n = await collection.deleteOne(filter);
      count(collection.name, n);
      return n;
    },
    deleteMany: async (filter) => {
      const n = await collection.deleteMany(filter);
      count(collection.name, n);
      return n;
    },
  });
  const counted = new Proxy(store, {
    get: (target, property, receiver) =>
      property === 'collection'
        ? <T extends Doc>(name: string) => wrap(target.collection<T>(name))
        : Reflect.get(target, property, receiver),
  });
  return { store: counted, written };
}

test('a reaction writes the same documents in a group of 10 and of 1,000: its row, the counts, one feed entry', async (t) => {
  const writesOfOneReaction = async (size: number) => {
    const store = await freshReadStoreFor(projectors);
    const groupId = `g${size}`;
    await projectAll(store, projectors, [
      recorded(groupOf(groupId, size)),
      recorded(groupMessage(`msg${size}`, groupId, `${groupId}-owner`)),
    ]);
    const { store: counted, written } = countingWrites(store);
    const published: Publication[] = [];
    const context = createProjectionContext(counted, undefined, (publication) => published.push(publication));
    const event: RecordedEvent = recorded(reaction('ReactionAdded', `msg${size}`, groupId, `${groupId}-m0`, '👍'));
    await applyInOrder([event], projectors, context, eventUpcaster);
    await context.flush();
    const rows = Object.fromEntries(
      await Promise.all([REACTIONS, REACTION_COUNTS].map(async (name) => [name, (await documents(store, name)).length])),
    );
    await store.close();
    return { written: Object.fromEntries([...written].sort()), rows, audience: published[0]?.userIds.length ?? 0 };
  };
  const small = await writesOfOneReaction(10);
  const large = await writesOfOneReaction(1_000);
  t.log('10 members:', small.written, '1,000 members:', large.written);
  t.deepEqual(small.written, { feed: 1, [REACTION_COUNTS]: 1, [REACTIONS]: 1 });
  t.deepEqual(large.written, small.written);
  t.deepEqual(large.rows, { [REACTIONS]: 1, [REACTION_COUNTS]: 1 });
  // The frame still reaches everyone: published once to the whole audience, from memory.
  t.is(small.audience, 10);
  t.is(large.audience, 1_000);
});

test('the reaction collections rebuilt from the log equal the ones projected event by event', async (t) => {
  const block: ContactEvent = { type: 'UserBlocked', data: { ownerId: 'g3-m0', userId: 'g3-m1', at } };
  const { incremental, rebuilt } = await incrementalThenRebuilt(
    projectors,
    [
      groupOf('g3', 3),
      groupMessage('m1', 'g3', 'g3-owner'),
      reaction('ReactionAdded', 'm1', 'g3', 'g3-m0', '👍🏽'),
      reaction('ReactionAdded', 'm1', 'g3', 'g3-m1', '👍🏽'),
      reaction('ReactionAdded', 'm1', 'g3', 'g3-m1', '👩‍💻'),
      block,
      reaction('ReactionRemoved', 'm1', 'g3', 'g3-m0', '👍🏽'),
      reaction('ReactionRemoved', 'm1', 'g3', 'g3-m1', '👩‍💻'),
    ],
    [REACTIONS, REACTION_COUNTS, 'feed'],
  );
  t.deepEqual(rebuilt, incremental);
  t.like(incremental[REACTION_COUNTS], [{ _id: 'm1', counts: [{ emoji: '👍🏽', count: 1 }] }]);
  t.like(incremental[REACTIONS], [{ userId: 'g3-m1', emoji: '👍🏽' }]);
  t.is((incremental[REACTIONS] as unknown[]).length, 1);
});
