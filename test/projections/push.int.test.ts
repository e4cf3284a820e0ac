import test from 'ava';
import type { PushEvent } from '../../commands/push.ts';
import type { AccountDeleted } from '../../commands/users.ts';
import { PUSH_SETTINGS, PUSH_SUBSCRIPTIONS, pushProjector } from '../../projections/push.ts';
import { documents, freshReadStore, incrementalThenRebuilt, project, recorded } from '../helpers/projection.ts';

const at = '2026-01-01T00:00:00.000Z';
const secret = (endpoint: string) => ({ plain: JSON.stringify({ endpoint, p256dh: 'P', auth: 'A' }) });
const history: Array<PushEvent | AccountDeleted> = [
  {
    type: 'PushSubscriptionAdded',
    data: { userId: 'bob', subscriptionId: 's1', subscription: secret('https://push.example/1'), origin: 'https://push.example', at },
  },
  {
    type: 'PushSubscriptionAdded',
    data: { userId: 'bob', subscriptionId: 's2', subscription: secret('https://push.example/2'), origin: 'https://push.example', at },
  },
  // Its key destroyed: the field stays sealed, and no document is made of it.
  {
    type: 'PushSubscriptionAdded',
    data: {
      userId: 'eve',
      subscriptionId: 's3',
      subscription: { sealed: 'xchacha20poly1305-ietf', kid: 'user:eve', nonce: 'n', ct: 'c' },
      origin: 'https://push.example',
      at,
    },
  },
  { type: 'PushSubscriptionRemoved', data: { userId: 'bob', subscriptionId: 's2', reason: 'expired', at } },
  { type: 'PushPreviewChanged', data: { userId: 'bob', pushPreview: false, at } },
  { type: 'ConversationMuted', data: { userId: 'bob', conversationId: 'group:g', until: null, at } },
  { type: 'ConversationMuted', data: { userId: 'bob', conversationId: 'group:h', until: '2027-01-01T00:00:00.000Z', at } },
  { type: 'ConversationUnmuted', data: { userId: 'bob', conversationId: 'group:h', at } },
  {
    type: 'PushSubscriptionAdded',
    data: { userId: 'ann', subscriptionId: 's4', subscription: secret('https://push.example/4'), origin: 'https://push.example', at },
  },
  { type: 'PushPreviewChanged', data: { userId: 'ann', pushPreview: false, at } },
  { type: 'AccountDeleted', data: { userId: 'ann', messages: 'keep', deletedAt: at } },
];

test('given the history: open subscriptions with their endpoint and keys, none for an erased one or a deleted account; settings with mutes', async (t) => {
  const store = await freshReadStore(pushProjector);
  const events = history.map((event) => recorded(event));
  await project(store, pushProjector, events);
  const subscriptions = await documents(store, PUSH_SUBSCRIPTIONS);
  t.like(subscriptions, [{ _id: 's1', userId: 'bob', endpoint: 'https://push.example/1', p256dh: 'P', auth: 'A' }]);
  t.is(subscriptions.length, 1);
  t.like(await documents(store, PUSH_SETTINGS), [{ _id: 'bob', pushPreview: false, mutes: { 'group:g': null } }]);
  t.is((await documents(store, PUSH_SETTINGS)).length, 1);
  // The same events again change nothing.
  await project(store, pushProjector, events);
  t.deepEqual(await documents(store, PUSH_SUBSCRIPTIONS), subscriptions);
});

test('a rebuild gives the documents the incremental run gave', async (t) => {
  const { incremental, rebuilt } = await incrementalThenRebuilt([pushProjector], history, [PUSH_SUBSCRIPTIONS, PUSH_SETTINGS]);
  t.deepEqual(rebuilt, incremental);
  t.is(incremental[PUSH_SUBSCRIPTIONS]!.length, 1);
});
