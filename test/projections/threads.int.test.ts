import test from 'ava';
import type { GroupEvent } from '../../commands/groups.ts';
import type { MessageEvent } from '../../commands/messages.ts';
import type { ThreadEvent } from '../../commands/threads.ts';
import { projectors } from '../../projections/index.ts';
import { THREAD_MEMBERS, THREAD_REPLIES, THREADS } from '../../projections/threads.ts';
import { documents, freshReadStoreFor, incrementalThenRebuilt, projectAll, recorded } from '../helpers/projection.ts';

const collections = [THREADS, THREAD_MEMBERS, THREAD_REPLIES];
const at = (second: number) => `2026-01-01T00:00:${String(second).padStart(2, '0')}.000Z`;
const sent = (messageId: string, senderId: string, second: number, threadRootId?: string): MessageEvent => ({
  type: 'MessageSent',
  data: {
    messageId,
    conversationId: 'group:g',
    senderId,
    target: { kind: 'group', groupId: 'g' },
    content: { kind: 'text', text: { plain: messageId } },
    replyTo: null,
    ...(threadRootId ? { threadRootId } : {}),
    attachments: [],
    clientMessageId: messageId,
    sentAt: at(second),
  },
});

const history: Array<GroupEvent | MessageEvent | ThreadEvent> = [
  {
    type: 'GroupCreated',
    data: {
      groupId: 'g',
      ownerId: 'o',
      profile: { name: 'G', description: '', iconMediaId: null },
      memberIds: ['a', 'b'],
      createdAt: at(0),
    },
  },
  sent('root', 'o', 1),
  sent('r1', 'a', 2, 'root'),
  sent('r2', 'b', 3, 'root'),
  sent('r3', 'a', 4, 'root'),
  { type: 'MessageDeleted', data: { messageId: 'r3', conversationId: 'group:g', deletedBy: 'a', deletedAt: at(5) } },
  // upTo: r1's position in a fresh log (the third event).
  { type: 'ThreadRead', data: { rootId: 'root', conversationId: 'group:g', userId: 'o', upTo: 3, at: at(6) } },
];

test('replies are numbered; a delete for everyone leaves the summary; a read mark is the number of the reply it reached; twice changes nothing', async (t) => {
  const store = await freshReadStoreFor(projectors);
  const events = history.map((event) => recorded(structuredClone(event)));
  // The read mark is a position: r1's here (positions go on across the file's tests).
  (events[6]!.data as { upTo: number }).upTo = events[2]!.position;
  await projectAll(store, projectors, events);
  const once = await Promise.all(collections.map((name) => documents(store, name)));
  await projectAll(store, projectors, events);
  t.deepEqual(await Promise.all(collections.map((name) => documents(store, name))), once);

  const [[thread], members, replies] = once as [any[], any[], any[]];
  // r3 (Ann's latest) deleted: two replies, the last by Bob at his time; three sent, so three numbered.
  t.like(thread, { _id: 'root', replyCount: 2, lastReplyAt: at(3), lastRepliers: ['b', 'a'], replySeq: 3 });
  t.deepEqual(
    replies.map((row) => [row._id, row.seq, row.removed]),
    [
      ['r1', 1, false],
      ['r2', 2, false],
      ['r3', 3, true],
    ],
  );
  const byUser = Object.fromEntries(members.map((member) => [member.userId, member.readSeq]));
  // The owner read up to r1: one reply read, two unread (r2 and r3's tombstone).
  t.deepEqual(byUser, { o: 1, a: 3, b: 2 });
  await store.close();
});

test('a rebuild from the log gives the same threads, members and replies as the incremental run', async (t) => {
  const { incremental, rebuilt } = await incrementalThenRebuilt(projectors, history, collections);
  t.deepEqual(rebuilt, incremental);
  t.is((incremental[THREAD_REPLIES] ?? []).length, 3);
});
