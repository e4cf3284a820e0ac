import test from 'ava';
import { AdminsOnlyError, InvalidIconError, groupDecider, type GroupEvent } from '../../commands/groups.ts';
import { ConflictError, ForbiddenError, NotFoundError } from '../../commands/shared/errors.ts';
import { metadata, spec } from '../helpers/spec.ts';

const now = '2026-01-01T00:00:00.000Z';
const groups = spec(groupDecider);
const profile = { name: 'Team', description: '', iconMediaId: null };
const created: GroupEvent = { type: 'GroupCreated', data: { groupId: 'g', ownerId: 'o', profile, memberIds: ['m'], createdAt: now } };
const adminAdded: GroupEvent = { type: 'MemberAdded', data: { groupId: 'g', userId: 'adm', role: 'admin', addedBy: 'o', addedAt: now } };
const meta = metadata({ now });

test('creating a group makes the creator owner and drops duplicate members', (t) => {
  groups
    .given([])
    .when({
      type: 'CreateGroup',
      data: { groupId: 'g', ownerId: 'o', profile, memberIds: ['m', 'm', 'o'], unknownUserIds: [], blockerIds: [], iconValid: true },
      metadata: meta,
    })
    .then(t, [created]);
});

test('creating a group with unknown users is not found', (t) => {
  groups
    .given([])
    .when({
      type: 'CreateGroup',
      data: { groupId: 'g', ownerId: 'o', profile, memberIds: ['ghost'], unknownUserIds: ['ghost'], blockerIds: [], iconValid: true },
      metadata: meta,
    })
    .thenThrows(t, NotFoundError);
});

test('only admins change the group; non-members are told it does not exist', (t) => {
  const update = (actorId: string) => ({
    type: 'UpdateGroup' as const,
    data: { groupId: 'g', actorId, changes: { name: 'New' }, iconValid: true },
    metadata: meta,
  });
  groups
    .given([created, adminAdded])
    .when(update('adm'))
    .then(t, [{ type: 'GroupUpdated', data: { groupId: 'g', changes: { name: 'New' }, updatedBy: 'adm', updatedAt: now } }]);
  groups.given([created]).when(update('m')).thenThrows(t, AdminsOnlyError, 'admins_only');
  groups.given([created]).when(update('stranger')).thenThrows(t, NotFoundError);
});

test('admins add members and change roles; adding an existing member with the same role changes nothing', (t) => {
  const add = (actorId: string, userId: string, role: 'admin' | 'member' = 'member') => ({
    type: 'AddMember' as const,
    data: { groupId: 'g', actorId, userId, role, userExists: true, blockedActor: false },
    metadata: meta,
  });
  groups
    .given([created])
    .when(add('o', 'n'))
    .then(t, [{ type: 'MemberAdded', data: { groupId: 'g', userId: 'n', role: 'member', addedBy: 'o', addedAt: now } }]);
  groups.given([created]).when(add('o', 'm')).then(t, []);
  groups
    .given([created])
    .when(add('o', 'm', 'admin'))
    .then(t, [{ type: 'MemberRoleChanged', data: { groupId: 'g', userId: 'm', role: 'admin', changedBy: 'o', changedAt: now } }]);
  groups.given([created]).when(add('m', 'n')).thenThrows(t, AdminsOnlyError, 'admins_only');
  groups
    .given([created])
    .when({ ...add('o', 'ghost'), data: { ...add('o', 'ghost').data, userExists: false } })
    .thenThrows(t, NotFoundError);
});

test('members leave, admins remove members, only the owner removes admins, nobody removes the owner', (t) => {
  const remove = (actorId: string, userId: string) => ({
    type: 'RemoveMember' as const,
    data: { groupId: 'g', actorId, userId },
    metadata: meta,
  });
  groups
    .given([created])
    .when(remove('m', 'm'))
    .then(t, [{ type: 'MemberLeft', data: { groupId: 'g', userId: 'm', leftAt: now } }]);
  groups
    .given([created, adminAdded])
    .when(remove('adm', 'm'))
    .then(t, [{ type: 'MemberRemoved', data: { groupId: 'g', userId: 'm', removedBy: 'adm', removedAt: now } }]);
  groups.given([created, adminAdded]).when(remove('m', 'adm')).thenThrows(t, ForbiddenError);
  groups.given([created, adminAdded]).when(remove('adm', 'o')).thenThrows(t, ForbiddenError);
  groups.given([created]).when(remove('o', 'o')).thenThrows(t, ConflictError, 'owner_cannot_leave');
  groups.given([created]).when(remove('o', 'nobody')).then(t, []);
});

test('the owner hands over ownership to a member and becomes an admin', (t) => {
  const transfer = (actorId: string, toUserId: string) => ({
    type: 'TransferOwnership' as const,
    data: { groupId: 'g', actorId, toUserId },
    metadata: meta,
  });
  const transferred: GroupEvent = {
    type: 'OwnershipTransferred',
    data: { groupId: 'g', fromUserId: 'o', toUserId: 'm', transferredAt: now },
  };
  groups.given([created]).when(transfer('o', 'm')).then(t, [transferred]);
  groups.given([created]).when(transfer('m', 'm')).thenThrows(t, ForbiddenError);
  const state = [created, transferred].reduce(groupDecider.evolve, groupDecider.initialState);
  t.true(state.status === 'active' && state.members.get('o') === 'admin' && state.members.get('m') === 'owner');
});

test('only the owner demotes an admin: an admin cannot demote another admin to remove them next', (t) => {
  const secondAdmin: GroupEvent = {
    type: 'MemberAdded',
    data: { groupId: 'g', userId: 'adm2', role: 'admin', addedBy: 'o', addedAt: now },
  };
  const setRole = (actorId: string, userId: string, role: 'admin' | 'member') => ({
    type: 'AddMember' as const,
    data: { groupId: 'g', actorId, userId, role, userExists: true, blockedActor: false },
    metadata: meta,
  });
  groups
    .given([created, adminAdded, secondAdmin])
    .when(setRole('adm', 'adm2', 'member'))
    .thenThrows(t, ForbiddenError);
  groups
    .given([created, adminAdded, secondAdmin])
    .when(setRole('o', 'adm2', 'member'))
    .then(t, [{ type: 'MemberRoleChanged', data: { groupId: 'g', userId: 'adm2', role: 'member', changedBy: 'o', changedAt: now } }]);
  // Admins may still promote members.
  groups
    .given([created, adminAdded])
    .when(setRole('adm', 'm', 'admin'))
    .then(t, [{ type: 'MemberRoleChanged', data: { groupId: 'g', userId: 'm', role: 'admin', changedBy: 'adm', changedAt: now } }]);
});

test('a user who blocked the actor is left out silently: not added at creation, nothing recorded when added later', (t) => {
  groups
    .given([])
    .when({
      type: 'CreateGroup',
      data: {
        groupId: 'g',
        ownerId: 'o',
        profile,
        memberIds: ['m', 'blocker'],
        unknownUserIds: [],
        blockerIds: ['blocker'],
        iconValid: true,
      },
      metadata: meta,
    })
    .then(t, [created]);
  groups
    .given([created])
    .when({
      type: 'AddMember',
      data: { groupId: 'g', actorId: 'o', userId: 'blocker', role: 'member', userExists: true, blockedActor: true },
      metadata: meta,
    })
    .then(t, []);
});

test("a group icon must be an image its setter uploaded: members may read it, so anyone else's file would leak", (t) => {
  groups
    .given([])
    .when({
      type: 'CreateGroup',
      data: {
        groupId: 'g',
        ownerId: 'o',
        profile: { ...profile, iconMediaId: 'someone-elses' },
        memberIds: [],
        unknownUserIds: [],
        blockerIds: [],
        iconValid: false,
      },
      metadata: meta,
    })
    .thenThrows(t, InvalidIconError, 'invalid_attachment');
  groups
    .given([created])
    .when({ type: 'UpdateGroup', data: { groupId: 'g', actorId: 'o', changes: { iconMediaId: 'x' }, iconValid: false }, metadata: meta })
    .thenThrows(t, InvalidIconError, 'invalid_attachment');
});
