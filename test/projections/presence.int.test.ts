import test from 'ava';
import type { PresenceEvent } from '../../commands/presence.ts';
import { projectors } from '../../projections/index.ts';
import { documents, freshReadStoreFor, incrementalThenRebuilt, projectAll, recorded } from '../helpers/projection.ts';

const at = (second: number) => `2026-01-01T00:00:${String(second).padStart(2, '0')}.000Z`;
const history: PresenceEvent[] = [
  { type: 'UserCameOnline', data: { userId: 'a', at: at(1) } },
  { type: 'UserWentOffline', data: { userId: 'a', at: at(30), lastSeenAt: at(0), reason: 'disconnect' } },
  { type: 'PresenceModeSet', data: { userId: 'a', mode: 'invisible', statusText: null, expiresAt: null, at: at(31) } },
  { type: 'UserCameOnline', data: { userId: 'a', at: at(40) } },
  { type: 'UserWentOffline', data: { userId: 'a', at: at(50), lastSeenAt: at(45), reason: 'disconnect' } },
  { type: 'UserCameOnline', data: { userId: 'b', at: at(2) } },
];

test('presence: online since, last seen frozen while invisible; twice changes nothing; the rebuild gives the same documents', async (t) => {
  const store = await freshReadStoreFor(projectors);
  const events = history.map((event) => recorded(event));
  await projectAll(store, projectors, events);
  await projectAll(store, projectors, events);
  t.deepEqual(
    (await documents(store, 'presence')).map((doc: any) => [doc._id, doc.status, doc.lastSeenAt, doc.mode]),
    [
      ['a', 'offline', at(0), 'invisible'],
      ['b', 'online', null, 'auto'],
    ],
  );
  const { incremental, rebuilt } = await incrementalThenRebuilt(projectors, history, ['presence', 'users', 'contacts']);
  t.deepEqual(rebuilt, incremental);
});
