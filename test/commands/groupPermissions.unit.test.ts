import test from 'ava';
import {
  AdminsOnlyError,
  groupDecider,
  InviteUnusableError,
  mayPost,
  type GroupCommand,
  type GroupEvent,
  type GroupSettings,
} from '../../commands/groups.ts';
import { messageDecider, type SendMessage } from '../../commands/messages.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../commands/shared/errors.ts';
import { metadata, spec } from '../helpers/spec.ts';
import { sealedFor } from '../helpers/sealed.ts';

const now = '2026-01-01T00:00:00.000Z';
const later = '2026-01-08T00:00:00.000Z';
const groups = spec(groupDecider);
const meta = metadata({ now });
const profile = { name: 'Team', description: '', iconMediaId: null };
const created: GroupEvent = { type: 'GroupCreated', data: { groupId: 'g', ownerId: 'o', profile, memberIds: ['m'], createdAt: now } };
const adminAdded: GroupEvent = { type: 'MemberAdded', data: { groupId: 'g', userId: 'adm', role: 'admin', addedBy: 'o', addedAt: now } };
const settingsChanged = (changes: Partial<GroupSettings>, changedBy = 'o'): GroupEvent => ({
  type: 'GroupSettingsChanged',
  data: { groupId: 'g', changes, changedBy, changedAt: now },
});
const token = 'tok_0123456789abcdefghijklmnopqrs';
const inviteCreated = (overrides: Partial<{ maxUses: number; expiresAt: string; createdBy: string }> = {}): GroupEvent => ({
  type: 'InviteLinkCreated',
  data: { groupId: 'g', inviteId: 'i', token, expiresAt: later, maxUses: 2, createdBy: 'o', createdAt: now, ...overrides },
});
const command = <C extends GroupCommand>(type: C['type'], data: C['data'], at = now) =>
  ({ type, data, metadata: metadata({ now: at }) }) as C;
const join = (userId: string, overrides: Partial<{ token: string; blocked: boolean; at: string }> = {}) =>
  command(
    'JoinViaInvite',
    { groupId: 'g', userId, inviteId: 'i', token: overrides.token ?? token, blocked: overrides.blocked ?? false, requestId: `r-${userId}` },
    overrides.at,
  );
const joined = (userId: string): GroupEvent => ({ type: 'MemberJoined', data: { groupId: 'g', userId, inviteId: 'i', joinedAt: now } });
const requested = (userId: string): GroupEvent => ({
  type: 'JoinRequested',
  data: { groupId: 'g', requestId: `r-${userId}`, userId, inviteId: 'i', requestedAt: now },
});

test('only admins change the settings, and a change to what is already set records nothing', (t) => {
  const change = (actorId: string, changes: Partial<GroupSettings>) => command('ChangeGroupSettings', { groupId: 'g', actorId, changes });
  groups
    .given([created, adminAdded])
    .when(change('adm', { send: 'admins' }))
    .then(t, [settingsChanged({ send: 'admins' }, 'adm')]);
  groups
    .given([created])
    .when(change('m', { send: 'admins' }))
    .thenThrows(t, AdminsOnlyError, 'admins_only');
  groups
    .given([created])
    .when(change('stranger', { send: 'admins' }))
    .thenThrows(t, NotFoundError);
  groups
    .given([created])
    .when(change('o', { send: 'everyone', editInfo: 'admins' }))
    .then(t, []);
  groups
    .given([created])
    .when(change('o', { send: 'everyone', approveJoins: true }))
    .then(t, [settingsChanged({ approveJoins: true })]);
});

test('an announcement group: only admins may post; members still may when everyone may send', (t) => {
  const announcement = [created, adminAdded, settingsChanged({ send: 'admins' })].reduce(groupDecider.evolve, groupDecider.initialState);
  t.false(mayPost(announcement, 'm'));
  t.true(mayPost(announcement, 'adm'));
  t.true(mayPost(announcement, 'o'));
  const open = [created].reduce(groupDecider.evolve, groupDecider.initialState);
  t.true(mayPost(open, 'm'));
  t.false(mayPost(open, 'stranger'));
});

test('members edit the info and add members only when the settings let everyone', (t) => {
  const update = command('UpdateGroup', { groupId: 'g', actorId: 'm', changes: { name: 'Ours' }, iconValid: true });
  groups.given([created]).when(update).thenThrows(t, AdminsOnlyError, 'admins_only');
  groups
    .given([created, settingsChanged({ editInfo: 'everyone' })])
    .when(update)
    .then(t, [{ type: 'GroupUpdated', data: { groupId: 'g', changes: { name: 'Ours' }, updatedBy: 'm', updatedAt: now } }]);

  const add = (role: 'admin' | 'member') =>
    command('AddMember', { groupId: 'g', actorId: 'm', userId: 'n', role, userExists: true, blockedActor: false });
  groups.given([created]).when(add('member')).thenThrows(t, AdminsOnlyError, 'admins_only');
  groups
    .given([created, settingsChanged({ addMembers: 'everyone' })])
    .when(add('member'))
    .then(t, [{ type: 'MemberAdded', data: { groupId: 'g', userId: 'n', role: 'member', addedBy: 'm', addedAt: now } }]);
  // Roles stay an admin's business whatever the settings.
  groups
    .given([created, settingsChanged({ addMembers: 'everyone' })])
    .when(add('admin'))
    .thenThrows(t, ForbiddenError);
});

test('invite links: created by whoever may add members, with an expiry in the future; revoked by their creator or an admin', (t) => {
  const create = (actorId: string, expiresAt = later) =>
    command('CreateInviteLink', { groupId: 'g', actorId, inviteId: 'i', token, expiresAt, maxUses: 2 });
  groups.given([created]).when(create('o')).then(t, [inviteCreated()]);
  groups.given([created]).when(create('m')).thenThrows(t, AdminsOnlyError, 'admins_only');
  groups
    .given([created, settingsChanged({ addMembers: 'everyone' })])
    .when(create('m'))
    .then(t, [inviteCreated({ createdBy: 'm' })]);
  groups.given([created]).when(create('o', now)).thenThrows(t, ValidationError);
  groups.given([created]).when(create('stranger')).thenThrows(t, NotFoundError);
  groups.given([created, inviteCreated()]).when(create('o')).then(t, []);

  const revoke = (actorId: string) => command('RevokeInviteLink', { groupId: 'g', actorId, inviteId: 'i' });
  const revoked: GroupEvent = { type: 'InviteLinkRevoked', data: { groupId: 'g', inviteId: 'i', revokedBy: 'adm', revokedAt: now } };
  groups.given([created, adminAdded, inviteCreated()]).when(revoke('adm')).then(t, [revoked]);
  groups.given([created, inviteCreated()]).when(revoke('m')).thenThrows(t, AdminsOnlyError, 'admins_only');
  groups.given([created, adminAdded, inviteCreated(), revoked]).when(revoke('adm')).then(t, []);
  groups.given([created]).when(revoke('o')).thenThrows(t, NotFoundError);
});

test('joining through a link adds the member and counts a use; a member joining again records nothing', (t) => {
  groups
    .given([created, inviteCreated()])
    .when(join('n'))
    .then(t, [joined('n')]);
  groups
    .given([created, inviteCreated(), joined('n')])
    .when(join('n'))
    .then(t, []);
  groups.given([created, inviteCreated()]).when(join('m')).then(t, []);
  const state = [created, inviteCreated(), joined('n')].reduce(groupDecider.evolve, groupDecider.initialState);
  t.true(state.status === 'active' && state.members.get('n') === 'member' && state.invites.get('i')?.uses === 1);
});

test('an expired, revoked or used-up link is refused with its own code; a wrong token or a blocked user finds no link', (t) => {
  groups
    .given([created, inviteCreated()])
    .when(join('n', { at: later }))
    .thenThrows(t, InviteUnusableError, 'invite_expired');
  const revoked: GroupEvent = { type: 'InviteLinkRevoked', data: { groupId: 'g', inviteId: 'i', revokedBy: 'o', revokedAt: now } };
  groups.given([created, inviteCreated(), revoked]).when(join('n')).thenThrows(t, InviteUnusableError, 'invite_revoked');
  groups
    .given([created, inviteCreated(), joined('n'), joined('p')])
    .when(join('q'))
    .thenThrows(t, InviteUnusableError, 'invite_used_up');
  groups
    .given([created, inviteCreated()])
    .when(join('n', { token: 'x'.repeat(32) }))
    .thenThrows(t, NotFoundError);
  groups
    .given([created, inviteCreated()])
    .when(join('n', { blocked: true }))
    .thenThrows(t, NotFoundError);
  groups.given([]).when(join('n')).thenThrows(t, NotFoundError);
});

test('the uses are counted exactly: the last use is taken by one joiner, the next is refused (state folded from the stream)', (t) => {
  const afterOne = [created, inviteCreated(), joined('n')];
  groups
    .given(afterOne)
    .when(join('p'))
    .then(t, [joined('p')]);
  // A concurrent joiner decided on the stale state loses the append (expected revision) and decides again on this one:
  groups
    .given([...afterOne, joined('p')])
    .when(join('q'))
    .thenThrows(t, InviteUnusableError, 'invite_used_up');
});

test('with approval required, joining through a link asks; admins approve or decline; a decided request stays decided', (t) => {
  const approving = [created, adminAdded, settingsChanged({ approveJoins: true }), inviteCreated()];
  groups
    .given(approving)
    .when(join('n'))
    .then(t, [requested('n')]);
  // Asking twice is one request.
  groups
    .given([...approving, requested('n')])
    .when(join('n'))
    .then(t, []);

  const decide = (type: 'ApproveJoinRequest' | 'DeclineJoinRequest', actorId: string, requestId = 'r-n') =>
    command(type, { groupId: 'g', actorId, requestId });
  const approved: GroupEvent = {
    type: 'JoinRequestApproved',
    data: { groupId: 'g', requestId: 'r-n', userId: 'n', approvedBy: 'adm', approvedAt: now },
  };
  const declined: GroupEvent = {
    type: 'JoinRequestDeclined',
    data: { groupId: 'g', requestId: 'r-n', userId: 'n', declinedBy: 'adm', declinedAt: now },
  };
  groups
    .given([...approving, requested('n')])
    .when(decide('ApproveJoinRequest', 'adm'))
    .then(t, [approved]);
  groups
    .given([...approving, requested('n')])
    .when(decide('DeclineJoinRequest', 'adm'))
    .then(t, [declined]);
  groups
    .given([...approving, requested('n')])
    .when(decide('ApproveJoinRequest', 'm'))
    .thenThrows(t, AdminsOnlyError, 'admins_only');
  // An admin of another group is a stranger to this one.
  groups
    .given([...approving, requested('n')])
    .when(decide('ApproveJoinRequest', 'other-group-admin'))
    .thenThrows(t, NotFoundError);
  groups
    .given(approving)
    .when(decide('ApproveJoinRequest', 'adm', 'r-unknown'))
    .thenThrows(t, NotFoundError);
  groups
    .given([...approving, requested('n'), approved])
    .when(decide('ApproveJoinRequest', 'adm'))
    .then(t, []);
  groups
    .given([...approving, requested('n'), approved])
    .when(decide('DeclineJoinRequest', 'adm'))
    .thenThrows(t, ConflictError, 'join_request_decided');

  const state = [...approving, requested('n'), approved].reduce(groupDecider.evolve, groupDecider.initialState);
  t.true(state.status === 'active' && state.members.get('n') === 'member' && state.invites.get('i')?.uses === 1);
  // Declined, they may ask again through a link with uses left.
  groups
    .given([...approving, requested('n'), declined])
    .when({ ...join('n'), data: { ...join('n').data, requestId: 'r-n2' } } as GroupCommand)
    .then(t, [{ ...requested('n'), data: { ...requested('n').data, requestId: 'r-n2' } } as GroupEvent]);
});

test('a member who may not post (an announcement group) is refused with admins_only and nothing is sent', (t) => {
  const send: SendMessage = {
    type: 'SendMessage',
    data: {
      messageId: 'msg',
      conversationId: 'group:g',
      senderId: 'm',
      target: { kind: 'group', groupId: 'g' },
      content: { kind: 'text', text: sealedFor('msg', 'hi all') },
      replyTo: null,
      attachments: [],
      clientMessageId: 'c1',
      targetReachable: true,
      postingAllowed: false,
      replyToValid: true,
      blocked: false,
      attachmentsValid: true,
    },
    metadata: meta,
  };
  spec(messageDecider).given([]).when(send).thenThrows(t, AdminsOnlyError, 'admins_only');
  const [sent] = messageDecider.decide({ ...send, data: { ...send.data, postingAllowed: true } }, messageDecider.initialState);
  t.is(sent?.type, 'MessageSent');
  t.false(sent !== undefined && 'postingAllowed' in sent.data, 'the lookup is not recorded');
});
