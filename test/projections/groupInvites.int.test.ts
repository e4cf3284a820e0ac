import test from 'ava';
import type { GroupEvent } from '../../commands/groups.ts';
import { GROUP_INVITES, GROUP_JOIN_REQUESTS, groupInvitesProjector, joinRequestsProjector } from '../../projections/groupInvites.ts';
import { groupsProjector } from '../../projections/groups.ts';
import { documents, freshReadStoreFor, incrementalThenRebuilt, projectAll, recorded } from '../helpers/projection.ts';

const at = '2026-01-01T00:00:00.000Z';
const profile = { name: 'Team', description: '', iconMediaId: null };
const history: GroupEvent[] = [
  { type: 'GroupCreated', data: { groupId: 'g', ownerId: 'o', profile, memberIds: [], createdAt: at } },
  {
    type: 'InviteLinkCreated',
    data: {
      groupId: 'g',
      inviteId: 'i',
      token: 't'.repeat(32),
      expiresAt: '2026-02-01T00:00:00.000Z',
      maxUses: 3,
      createdBy: 'o',
      createdAt: at,
    },
  },
  { type: 'MemberJoined', data: { groupId: 'g', userId: 'a', inviteId: 'i', joinedAt: at } },
  { type: 'GroupSettingsChanged', data: { groupId: 'g', changes: { approveJoins: true }, changedBy: 'o', changedAt: at } },
  { type: 'JoinRequested', data: { groupId: 'g', requestId: 'r1', userId: 'b', inviteId: 'i', requestedAt: at } },
  { type: 'JoinRequested', data: { groupId: 'g', requestId: 'r2', userId: 'c', inviteId: 'i', requestedAt: at } },
  { type: 'JoinRequestApproved', data: { groupId: 'g', requestId: 'r1', userId: 'b', approvedBy: 'o', approvedAt: at } },
  { type: 'JoinRequestDeclined', data: { groupId: 'g', requestId: 'r2', userId: 'c', declinedBy: 'o', declinedAt: at } },
  { type: 'InviteLinkRevoked', data: { groupId: 'g', inviteId: 'i', revokedBy: 'o', revokedAt: '2026-01-02T00:00:00.000Z' } },
];
const all = [groupsProjector, groupInvitesProjector, joinRequestsProjector];

test('links count their uses and their revocation; requests their outcome; members and settings follow (each event once)', async (t) => {
  const store = await freshReadStoreFor(all);
  const events = history.map((event) => recorded(event));
  await projectAll(store, all, events);
  // The same events again change nothing.
  await projectAll(store, all, events);
  t.like(await documents(store, GROUP_INVITES), [{ _id: 'i', uses: 3, revokedAt: '2026-01-02T00:00:00.000Z', token: 't'.repeat(32) }]);
  t.like(await documents(store, GROUP_JOIN_REQUESTS), [
    { _id: 'r1', userId: 'b', status: 'approved', decidedBy: 'o' },
    { _id: 'r2', userId: 'c', status: 'declined', decidedBy: 'o' },
  ]);
  const [group] = (await documents(store, 'groups')) as any[];
  t.deepEqual(group.memberIds, ['o', 'a', 'b']);
  t.like(group.settings, { approveJoins: true, send: 'everyone' });
  await store.close();
});

test('a rebuild from the log gives the same links and requests as the incremental run', async (t) => {
  const { incremental, rebuilt } = await incrementalThenRebuilt(all, history, [GROUP_INVITES, GROUP_JOIN_REQUESTS, 'groups']);
  t.deepEqual(rebuilt, incremental);
  t.is((incremental[GROUP_JOIN_REQUESTS] ?? []).length, 2);
});
