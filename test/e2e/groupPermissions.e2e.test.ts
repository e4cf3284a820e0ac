import test from 'ava';
import { groupEventTypes } from '../../commands/groups.ts';
import { messageEventTypes } from '../../commands/messages.ts';
import { liftedRateLimits } from '../../src/rateLimit/policies.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

let app: TestApp;
let clockOffsetMs = 0;
test.before(async () => {
  // Real budgets for the token lookups only (the rate-limit test below); everything else is lifted.
  app = await startTestApp({
    clock: () => new Date(Date.now() + clockOffsetMs),
    env: { RATE_LIMITS: `${liftedRateLimits()};group-invites=6,1/h` },
  });
});
test.after.always(async () => {
  await app.dispose();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const as = (user: User, method: string, path: string, body?: unknown) =>
  request(app.url, method, path, { token: user.accessToken, ...(body === undefined ? {} : { body }) });

/** Runs `action` and answers with it and the types of the events it appended. */
async function appended<T>(action: () => Promise<T>): Promise<{ result: T; events: Array<{ type: string; data: any }> }> {
  const head = await app.eventStore.headPosition();
  const result = await action();
  // Sockets connecting are presence events: only what groups and messages record is looked at.
  const recorded = new Set<string>([...groupEventTypes, ...messageEventTypes]);
  const events = (await app.eventStore.readAll({ after: head })).filter((event) => recorded.has(event.type));
  return { result, events: events.map(({ type, data }) => ({ type, data })) };
}

async function syncedSocket(user: User): Promise<TestSocket> {
  const socket = await connect(app.wsUrl, user.accessToken);
  socket.send({ type: 'sync', id: 's' });
  await socket.next((f) => f.type === 'sync.snapshot' || f.type === 'sync.ok');
  return socket;
}

const fiveUsers = async () => (await Promise.all(Array.from({ length: 5 }, () => registerUser(app.url)))) as [User, User, User, User, User];

async function groupOf(owner: User, members: User[], name = 'Club') {
  const created = await as(owner, 'POST', '/api/groups', { name, memberIds: members.map((m) => m.user.id) });
  return created.body.group.id as string;
}

test.serial(
  'announcement group: a member posting is refused over REST and the socket with admins_only, nothing appended; admins post',
  async (t) => {
    const [owner, member] = [await registerUser(app.url), await registerUser(app.url)];
    const groupId = await groupOf(owner, [member]);
    const memberSocket = await syncedSocket(member);

    const denied = await appended(() => as(member, 'PUT', `/api/groups/${groupId}/settings`, { send: 'admins' }));
    t.is(denied.result.status, 403);
    t.like(denied.result.body.error, { code: 'admins_only', details: { permission: 'settings' } });
    t.deepEqual(denied.events, []);

    const changed = await appended(() => as(owner, 'PUT', `/api/groups/${groupId}/settings`, { send: 'admins' }));
    t.is(changed.result.status, 200);
    t.like(changed.result.body.group.settings, { send: 'admins', editInfo: 'admins', addMembers: 'admins', approveJoins: false });
    t.deepEqual(changed.events, [
      {
        type: 'GroupSettingsChanged',
        data: { groupId, changes: { send: 'admins' }, changedBy: owner.user.id, changedAt: changed.events[0]?.data.changedAt },
      },
    ]);
    t.like(await memberSocket.next((f) => f.type === 'group.updated' && f.change === 'settings_changed'), {
      byUserId: owner.user.id,
      settings: { send: 'admins' },
    });

    const refused = await appended(() => as(member, 'POST', '/api/messages', { groupId, text: 'may I?' }));
    t.is(refused.result.status, 403);
    t.like(refused.result.body.error, { code: 'admins_only', details: { permission: 'send' } });
    t.deepEqual(refused.events, []);
    const overSocket = await appended(async () => {
      memberSocket.send({ type: 'message.send', id: 'm1', groupId, text: 'over the socket then' });
      return memberSocket.next((f) => f.type === 'error' && f.id === 'm1');
    });
    t.like(overSocket.result.error, { code: 'admins_only' });
    t.deepEqual(overSocket.events, []);

    t.is((await as(owner, 'POST', '/api/messages', { groupId, text: 'announcement' })).status, 201);
    t.like(await memberSocket.next((f) => f.type === 'message.created'), { message: { content: { text: 'announcement' } } });
    memberSocket.close();
  },
);

test.serial('members edit the info and add members only when the settings allow it', async (t) => {
  const [owner, member, newcomer] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const groupId = await groupOf(owner, [member]);

  const edit = await appended(() => as(member, 'PUT', `/api/groups/${groupId}`, { name: 'Mine now' }));
  t.is(edit.result.status, 403);
  t.like(edit.result.body.error, { code: 'admins_only', details: { permission: 'editInfo' } });
  const add = await appended(() => as(member, 'POST', `/api/groups/${groupId}/members`, { userId: newcomer.user.id }));
  t.is(add.result.status, 403);
  t.like(add.result.body.error, { code: 'admins_only', details: { permission: 'addMembers' } });
  t.deepEqual([...edit.events, ...add.events], []);

  t.is((await as(owner, 'PUT', `/api/groups/${groupId}/settings`, { editInfo: 'everyone', addMembers: 'everyone' })).status, 200);
  const edited = await appended(() => as(member, 'PUT', `/api/groups/${groupId}`, { name: 'Ours' }));
  t.is(edited.result.status, 200);
  t.deepEqual(
    edited.events.map((e) => e.type),
    ['GroupUpdated'],
  );
  const added = await appended(() => as(member, 'POST', `/api/groups/${groupId}/members`, { userId: newcomer.user.id }));
  t.is(added.result.status, 200);
  t.like(added.events[0], { type: 'MemberAdded', data: { userId: newcomer.user.id, addedBy: member.user.id } });
  // Roles stay the admins' whatever the settings.
  t.is((await as(member, 'POST', `/api/groups/${groupId}/members`, { userId: newcomer.user.id, role: 'admin' })).status, 403);
});

test.serial(
  'invite links: created and listed by admins, previewed without joining, joined once per use; the token never goes to members',
  async (t) => {
    const [owner, member, joiner, stranger] = [
      await registerUser(app.url),
      await registerUser(app.url),
      await registerUser(app.url),
      await registerUser(app.url),
    ];
    const groupId = await groupOf(owner, [member], 'Open club');
    const memberSocket = await syncedSocket(member);

    const notAllowed = await appended(() => as(member, 'POST', `/api/groups/${groupId}/invites`, { maxUses: 5 }));
    t.is(notAllowed.result.status, 403);
    t.is(notAllowed.result.body.error.code, 'admins_only');
    t.deepEqual(notAllowed.events, []);
    t.is((await as(stranger, 'POST', `/api/groups/${groupId}/invites`, {})).status, 404);

    const created = await appended(() => as(owner, 'POST', `/api/groups/${groupId}/invites`, { expiresInSeconds: 3600, maxUses: 5 }));
    t.is(created.result.status, 201);
    const invite = created.result.body.invite;
    t.like(invite, { groupId, createdBy: owner.user.id, maxUses: 5, uses: 0, revokedAt: null, status: 'open' });
    t.regex(invite.token, /^[A-Za-z0-9_-]{32}$/);
    t.like(created.events, [{ type: 'InviteLinkCreated', data: { inviteId: invite.id, token: invite.token, maxUses: 5 } }]);
    const announced = await memberSocket.next((f) => f.type === 'group.updated' && f.change === 'invite_created');
    t.like(announced, { inviteId: invite.id, byUserId: owner.user.id, maxUses: 5 });
    t.false(JSON.stringify(announced).includes(invite.token), 'the frame does not carry the token');

    t.deepEqual(
      (await as(owner, 'GET', `/api/groups/${groupId}/invites`)).body.invites.map((i: any) => i.token),
      [invite.token],
    );
    t.like((await as(member, 'GET', `/api/groups/${groupId}/invites`)).body.error, { code: 'admins_only' });

    const preview = await as(stranger, 'GET', `/api/group-invites/${invite.token}`);
    t.is(preview.status, 200);
    t.deepEqual(preview.body.preview, {
      name: 'Open club',
      description: '',
      iconMediaId: null,
      memberCount: 2,
      approvalRequired: false,
      expiresAt: invite.expiresAt,
    });
    const badToken = await as(stranger, 'GET', `/api/group-invites/${'A'.repeat(32)}`);
    t.is(badToken.status, 404);
    t.is(badToken.body.error.code, 'not_found');
    t.is((await as(stranger, 'GET', '/api/group-invites/short')).status, 400);

    const joined = await appended(() => as(joiner, 'POST', `/api/group-invites/${invite.token}/join`));
    t.is(joined.result.status, 200);
    t.is(joined.result.body.status, 'joined');
    t.true(joined.result.body.group.members.some((m: any) => m.userId === joiner.user.id && m.role === 'member'));
    t.deepEqual(joined.events, [
      { type: 'MemberJoined', data: { groupId, userId: joiner.user.id, inviteId: invite.id, joinedAt: joined.events[0]?.data.joinedAt } },
    ]);
    t.like(await memberSocket.next((f) => f.type === 'group.updated' && f.change === 'member_joined'), { userId: joiner.user.id });
    // Joining again is no second use.
    const again = await appended(() => as(joiner, 'POST', `/api/group-invites/${invite.token}/join`));
    t.is(again.result.status, 200);
    t.deepEqual(again.events, []);
    t.is((await as(owner, 'GET', `/api/groups/${groupId}/invites`)).body.invites[0].uses, 1);
    // A joiner reads and posts like any member.
    t.is((await as(joiner, 'POST', '/api/messages', { groupId, text: 'hello, found the link' })).status, 201);
    memberSocket.close();
  },
);

test.serial(
  'concurrent joins cannot take more uses than the link has: exactly maxUses join, the rest are told it is used up',
  async (t) => {
    const owner = await registerUser(app.url);
    const joiners = await fiveUsers();
    const groupId = await groupOf(owner, []);
    const { token, id: inviteId } = (await as(owner, 'POST', `/api/groups/${groupId}/invites`, { maxUses: 2 })).body.invite;

    const { result, events } = await appended(() =>
      Promise.all(joiners.map((joiner) => as(joiner, 'POST', `/api/group-invites/${token}/join`))),
    );
    t.deepEqual(result.map((r) => r.status).sort(), [200, 200, 410, 410, 410]);
    for (const refused of result.filter((r) => r.status === 410)) t.is(refused.body.error.code, 'invite_used_up');
    t.deepEqual(
      events.map((e) => e.type),
      ['MemberJoined', 'MemberJoined'],
    );
    t.is((await as(owner, 'GET', `/api/groups/${groupId}`)).body.group.members.length, 3);
    const [listed] = (await as(owner, 'GET', `/api/groups/${groupId}/invites`)).body.invites;
    t.like(listed, { id: inviteId, uses: 2, status: 'used_up' });
    const [first] = joiners;
    t.is((await as(first, 'GET', `/api/group-invites/${token}`)).body.error.code, 'invite_used_up');
  },
);

test.serial('a revoked or expired link is refused with its own 410 code and nothing appended; a blocked user finds no link', async (t) => {
  const [owner, admin, member, joiner, blockedUser] = await fiveUsers();
  const groupId = await groupOf(owner, [admin, member]);
  await as(owner, 'POST', `/api/groups/${groupId}/members`, { userId: admin.user.id, role: 'admin' });
  const revocable = (await as(owner, 'POST', `/api/groups/${groupId}/invites`, {})).body.invite;

  t.like((await as(member, 'DELETE', `/api/groups/${groupId}/invites/${revocable.id}`)).body.error, { code: 'admins_only' });
  const revoked = await appended(() => as(admin, 'DELETE', `/api/groups/${groupId}/invites/${revocable.id}`));
  t.is(revoked.result.status, 204);
  t.like(revoked.events, [{ type: 'InviteLinkRevoked', data: { inviteId: revocable.id, revokedBy: admin.user.id } }]);
  const useRevoked = await appended(() => as(joiner, 'POST', `/api/group-invites/${revocable.token}/join`));
  t.is(useRevoked.result.status, 410);
  t.is(useRevoked.result.body.error.code, 'invite_revoked');
  t.deepEqual(useRevoked.events, []);
  t.is((await as(joiner, 'GET', `/api/group-invites/${revocable.token}`)).body.error.code, 'invite_revoked');

  t.is((await as(owner, 'PUT', `/api/blocks/${blockedUser.user.id}`)).status, 204);
  const shortLived = (await as(owner, 'POST', `/api/groups/${groupId}/invites`, { expiresInSeconds: 60 })).body.invite;
  const blocked = await appended(() => as(blockedUser, 'POST', `/api/group-invites/${shortLived.token}/join`));
  t.is(blocked.result.status, 404, 'the same answer as a wrong token');
  t.deepEqual(blocked.events, []);

  clockOffsetMs += 61_000;
  try {
    const expired = await appended(() => as(joiner, 'POST', `/api/group-invites/${shortLived.token}/join`));
    t.is(expired.result.status, 410);
    t.is(expired.result.body.error.code, 'invite_expired');
    t.deepEqual(expired.events, []);
  } finally {
    clockOffsetMs -= 61_000;
  }
});

test.serial(
  'approval required: joining asks, the requester and admins hear of it; admins approve or decline; strangers cannot',
  async (t) => {
    const [owner, member, asker, decliner, otherOwner] = await fiveUsers();
    const groupId = await groupOf(owner, [member]);
    const otherGroupId = await groupOf(otherOwner, []);
    await as(owner, 'PUT', `/api/groups/${groupId}/settings`, { approveJoins: true });
    const { token } = (await as(owner, 'POST', `/api/groups/${groupId}/invites`, {})).body.invite;
    const [ownerSocket, askerSocket] = [await syncedSocket(owner), await syncedSocket(asker)];

    t.true((await as(asker, 'GET', `/api/group-invites/${token}`)).body.preview.approvalRequired);
    const asked = await appended(() => as(asker, 'POST', `/api/group-invites/${token}/join`));
    t.is(asked.result.status, 202);
    t.like(asked.result.body, { status: 'requested', request: { groupId, userId: asker.user.id, status: 'pending' } });
    const requestId = asked.result.body.request.id;
    t.like(asked.events, [{ type: 'JoinRequested', data: { requestId, userId: asker.user.id } }]);
    t.like(await ownerSocket.next((f) => f.type === 'group.updated' && f.change === 'join_requested'), { requestId });
    const toAsker = await askerSocket.next((f) => f.type === 'group.updated' && f.change === 'join_requested');
    t.is(toAsker.group, undefined, 'the requester is not a member: no group state');
    t.is((await as(asker, 'GET', `/api/groups/${groupId}`)).status, 404, 'asking is not joining');

    // Denials, nothing appended: a plain member, the admin of another group (through either group's path).
    const denials = await appended(async () => [
      await as(member, 'GET', `/api/groups/${groupId}/join-requests`),
      await as(member, 'POST', `/api/groups/${groupId}/join-requests/${requestId}/approve`),
      await as(otherOwner, 'POST', `/api/groups/${groupId}/join-requests/${requestId}/approve`),
      await as(otherOwner, 'POST', `/api/groups/${otherGroupId}/join-requests/${requestId}/approve`),
    ]);
    t.deepEqual(
      denials.result.map((r) => [r.status, r.body.error.code]),
      [
        [403, 'admins_only'],
        [403, 'admins_only'],
        [404, 'not_found'],
        [404, 'not_found'],
      ],
    );
    t.deepEqual(denials.events, []);

    t.deepEqual(
      (await as(owner, 'GET', `/api/groups/${groupId}/join-requests`)).body.requests.map((r: any) => r.userId),
      [asker.user.id],
    );
    const approved = await appended(() => as(owner, 'POST', `/api/groups/${groupId}/join-requests/${requestId}/approve`));
    t.is(approved.result.status, 200);
    t.like(approved.result.body.request, { id: requestId, status: 'approved', decidedBy: owner.user.id });
    t.like(approved.events, [{ type: 'JoinRequestApproved', data: { requestId, userId: asker.user.id, approvedBy: owner.user.id } }]);
    const told = await askerSocket.next((f) => f.type === 'group.updated' && f.change === 'join_request_approved');
    t.true(told.group.members.some((m: any) => m.userId === asker.user.id));
    t.is((await as(asker, 'GET', `/api/groups/${groupId}`)).status, 200);
    t.like((await as(asker, 'GET', '/api/group-join-requests')).body.requests[0], { id: requestId, status: 'approved' });
    const reversed = await as(owner, 'POST', `/api/groups/${groupId}/join-requests/${requestId}/decline`);
    t.is(reversed.status, 409);
    t.is(reversed.body.error.code, 'join_request_decided');

    const declinerSocket = await syncedSocket(decliner);
    const second = (await as(decliner, 'POST', `/api/group-invites/${token}/join`)).body.request;
    const declined = await appended(() => as(owner, 'POST', `/api/groups/${groupId}/join-requests/${second.id}/decline`));
    t.like(declined.result.body.request, { status: 'declined' });
    t.like(declined.events, [{ type: 'JoinRequestDeclined', data: { requestId: second.id, userId: decliner.user.id } }]);
    t.like(await declinerSocket.next((f) => f.type === 'group.updated' && f.change === 'join_request_declined'), { requestId: second.id });
    t.like((await as(decliner, 'GET', '/api/group-join-requests')).body.requests[0], { id: second.id, status: 'declined' });
    t.is((await as(decliner, 'GET', `/api/groups/${groupId}`)).status, 404);
    for (const socket of [ownerSocket, askerSocket, declinerSocket]) socket.close();
  },
);

test.serial('token lookups are rate limited per user, so tokens cannot be enumerated', async (t) => {
  const prober = await registerUser(app.url);
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await as(prober, 'GET', `/api/group-invites/${String(i).padStart(32, 'x')}`)).status);
  t.deepEqual(statuses.slice(0, 6), [404, 404, 404, 404, 404, 404]);
  t.deepEqual(statuses.slice(6), [429, 429]);
  const limited = await as(prober, 'POST', `/api/group-invites/${'y'.repeat(32)}/join`);
  t.is(limited.status, 429);
  t.like(limited.body.error, { code: 'rate_limited', details: { policy: 'group-invites' } });
});
