import { ConflictError, DomainError, ForbiddenError, NotFoundError, ValidationError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';

/** The group aggregate (`group-<id>`): profile, members and roles. */
export const groupStream = (groupId: string) => `group-${groupId}`;

export type GroupRole = 'owner' | 'admin' | 'member';
export const MAX_GROUP_MEMBERS = 1_000;

export interface GroupProfile {
  name: string;
  description: string;
  iconMediaId: string | null;
}

export type GroupCreated = Event<
  'GroupCreated',
  { groupId: string; ownerId: string; profile: GroupProfile; memberIds: string[]; createdAt: string }
>;
export type GroupUpdated = Event<'GroupUpdated', { groupId: string; changes: Partial<GroupProfile>; updatedBy: string; updatedAt: string }>;
export type MemberAdded = Event<'MemberAdded', { groupId: string; userId: string; role: GroupRole; addedBy: string; addedAt: string }>;
export type MemberRoleChanged = Event<
  'MemberRoleChanged',
  { groupId: string; userId: string; role: GroupRole; changedBy: string; changedAt: string }
>;
export type MemberRemoved = Event<'MemberRemoved', { groupId: string; userId: string; removedBy: string; removedAt: string }>;
export type MemberLeft = Event<'MemberLeft', { groupId: string; userId: string; leftAt: string }>;
export type OwnershipTransferred = Event<
  'OwnershipTransferred',
  { groupId: string; fromUserId: string; toUserId: string; transferredAt: string }
>;
/** Who may do what in a group; admins (and the owner) may always. */
export interface GroupSettings {
  /** Who may send messages: `admins` makes an announcement group. */
  send: 'everyone' | 'admins';
  /** Who may change the name, description and icon. */
  editInfo: 'everyone' | 'admins';
  /** Who may add members and create invite links. */
  addMembers: 'everyone' | 'admins';
  /** Whether joining through an invite link waits for an admin's approval. */
  approveJoins: boolean;
}
/** What a group had before settings existed, so its history needs no rewrite. */
export const DEFAULT_GROUP_SETTINGS: GroupSettings = { send: 'everyone', editInfo: 'admins', addMembers: 'admins', approveJoins: false };
/** Open (not revoked, expired or used up) links per group: each is held in the folded state. */
export const MAX_OPEN_INVITE_LINKS = 20;

export type GroupSettingsChanged = Event<
  'GroupSettingsChanged',
  { groupId: string; changes: Partial<GroupSettings>; changedBy: string; changedAt: string }
>;
export type InviteLinkCreated = Event<
  'InviteLinkCreated',
  { groupId: string; inviteId: string; token: string; expiresAt: string; maxUses: number; createdBy: string; createdAt: string }
>;
export type InviteLinkRevoked = Event<'InviteLinkRevoked', { groupId: string; inviteId: string; revokedBy: string; revokedAt: string }>;
/** Joined through an invite link: one use of it, and a new member. */
export type MemberJoined = Event<'MemberJoined', { groupId: string; userId: string; inviteId: string; joinedAt: string }>;
/** Asked through an invite link of a group that approves joins: one use of the link. */
export type JoinRequested = Event<
  'JoinRequested',
  { groupId: string; requestId: string; userId: string; inviteId: string; requestedAt: string }
>;
/** The requester becomes a member (unless they already are). */
export type JoinRequestApproved = Event<
  'JoinRequestApproved',
  { groupId: string; requestId: string; userId: string; approvedBy: string; approvedAt: string }
>;
export type JoinRequestDeclined = Event<
  'JoinRequestDeclined',
  { groupId: string; requestId: string; userId: string; declinedBy: string; declinedAt: string }
>;
export type GroupEvent =
  | GroupCreated
  | GroupUpdated
  | MemberAdded
  | MemberRoleChanged
  | MemberRemoved
  | MemberLeft
  | OwnershipTransferred
  | GroupSettingsChanged
  | InviteLinkCreated
  | InviteLinkRevoked
  | MemberJoined
  | JoinRequested
  | JoinRequestApproved
  | JoinRequestDeclined;
export const groupEventTypes = [
  'GroupCreated',
  'GroupUpdated',
  'MemberAdded',
  'MemberRoleChanged',
  'MemberRemoved',
  'MemberLeft',
  'OwnershipTransferred',
  'GroupSettingsChanged',
  'InviteLinkCreated',
  'InviteLinkRevoked',
  'MemberJoined',
  'JoinRequested',
  'JoinRequestApproved',
  'JoinRequestDeclined',
] as const satisfies readonly GroupEvent['type'][];

export type CreateGroup = Command<
  'CreateGroup',
  {
    groupId: string;
    ownerId: string;
    profile: GroupProfile;
    memberIds: string[];
    /** Looked up by the shell: the member ids that are not registered users. */
    unknownUserIds: string[];
    /** Looked up by the shell: the member ids of users who have blocked the creator; they are left out, silently. */
    blockerIds: string[];
    /** Looked up by the shell: `profile.iconMediaId`, if any, is a live image the creator uploaded. */
    iconValid: boolean;
  }
>;
/** `iconValid`: the new `iconMediaId`, if any, is a live image the actor uploaded (members may read a group's icon). */
export type UpdateGroup = Command<'UpdateGroup', { groupId: string; actorId: string; changes: Partial<GroupProfile>; iconValid: boolean }>;
export type AddMember = Command<
  'AddMember',
  {
    groupId: string;
    actorId: string;
    userId: string;
    role: 'admin' | 'member';
    userExists: boolean;
    /** Looked up by the shell: the user to add has blocked the actor; nothing happens, and the actor is not told. */
    blockedActor: boolean;
  }
>;
export type RemoveMember = Command<'RemoveMember', { groupId: string; actorId: string; userId: string }>;
export type TransferOwnership = Command<'TransferOwnership', { groupId: string; actorId: string; toUserId: string }>;
export type ChangeGroupSettings = Command<'ChangeGroupSettings', { groupId: string; actorId: string; changes: Partial<GroupSettings> }>;
/** `inviteId` and the unguessable `token` are made by the shell; `expiresAt` is computed there from the asked lifetime. */
export type CreateInviteLink = Command<
  'CreateInviteLink',
  { groupId: string; actorId: string; inviteId: string; token: string; expiresAt: string; maxUses: number }
>;
export type RevokeInviteLink = Command<'RevokeInviteLink', { groupId: string; actorId: string; inviteId: string }>;
export type JoinViaInvite = Command<
  'JoinViaInvite',
  {
    groupId: string;
    userId: string;
    /** Looked up by the shell from the token; the token is checked again here, against the link's own. */
    inviteId: string;
    token: string;
    /** Looked up by the shell: the link's creator has blocked this user; they are told there is no such link. */
    blocked: boolean;
    /** The id a join request gets, if the group approves joins (derived from the command id). */
    requestId: string;
  }
>;
export type ApproveJoinRequest = Command<'ApproveJoinRequest', { groupId: string; actorId: string; requestId: string }>;
export type DeclineJoinRequest = Command<'DeclineJoinRequest', { groupId: string; actorId: string; requestId: string }>;
export type GroupCommand =
  | CreateGroup
  | UpdateGroup
  | AddMember
  | RemoveMember
  | TransferOwnership
  | ChangeGroupSettings
  | CreateInviteLink
  | RevokeInviteLink
  | JoinViaInvite
  | ApproveJoinRequest
  | DeclineJoinRequest;

/** Members may read their group's icon: it must be an image of the one setting it, or anyone's file would leak. */
export class InvalidIconError extends DomainError {
  constructor() {
    super('invalid_attachment', 422, 'iconMediaId: an image you uploaded, not deleted');
  }
}

/** What the group's settings reserve for admins; `permission` names the setting (or `settings`, `invites`, `joinRequests`). */
export class AdminsOnlyError extends DomainError {
  constructor(permission: keyof GroupSettings | 'settings' | 'invites' | 'joinRequests', message: string) {
    super('admins_only', 403, message, { permission });
  }
}

/** An invite link that exists but can no longer be used: `invite_expired`, `invite_revoked` or `invite_used_up` (410). */
export class InviteUnusableError extends DomainError {
  constructor(reason: 'expired' | 'revoked' | 'used_up') {
    const says = { expired: 'has expired', revoked: 'was revoked', used_up: 'has been used its maximum number of times' }[reason];
    super(`invite_${reason}`, 410, `This invite link ${says}`);
  }
}

export interface InviteLinkState {
  token: string;
  createdBy: string;
  expiresAt: string;
  maxUses: number;
  uses: number;
  revoked: boolean;
}
export interface JoinRequestState {
  userId: string;
  status: 'pending' | 'approved' | 'declined';
}

export type GroupState =
  | { status: 'none' }
  | {
      status: 'active';
      groupId: string;
      ownerId: string;
      members: ReadonlyMap<string, GroupRole>;
      settings: GroupSettings;
      invites: ReadonlyMap<string, InviteLinkState>;
      joinRequests: ReadonlyMap<string, JoinRequestState>;
    };

export const initialState: GroupState = { status: 'none' };

const withMember = (members: ReadonlyMap<string, GroupRole>, userId: string, role: GroupRole | null) => {
  const next = new Map(members);
  if (role === null) next.delete(userId);
  else next.set(userId, role);
  return next;
};

export function evolve(state: GroupState, event: GroupEvent): GroupState {
  if (event.type === 'GroupCreated') {
    const members = new Map<string, GroupRole>(event.data.memberIds.map((id) => [id, 'member']));
    members.set(event.data.ownerId, 'owner');
    const { groupId, ownerId } = event.data;
    return { status: 'active', groupId, ownerId, members, settings: DEFAULT_GROUP_SETTINGS, invites: new Map(), joinRequests: new Map() };
  }
  if (state.status === 'none') return state;
  const useInvite = (inviteId: string) => {
    const invite = state.invites.get(inviteId);
    return invite ? new Map(state.invites).set(inviteId, { ...invite, uses: invite.uses + 1 }) : state.invites;
  };
  const withRequest = (requestId: string, request: JoinRequestState) => new Map(state.joinRequests).set(requestId, request);
  switch (event.type) {
    case 'GroupUpdated':
      return state;
    case 'GroupSettingsChanged':
      return { ...state, settings: { ...state.settings, ...event.data.changes } };
    case 'InviteLinkCreated': {
      const { inviteId, token, createdBy, expiresAt, maxUses } = event.data;
      return { ...state, invites: new Map(state.invites).set(inviteId, { token, createdBy, expiresAt, maxUses, uses: 0, revoked: false }) };
    }
    case 'InviteLinkRevoked': {
      const invite = state.invites.get(event.data.inviteId);
      return invite ? { ...state, invites: new Map(state.invites).set(event.data.inviteId, { ...invite, revoked: true }) } : state;
    }
    case 'MemberJoined':
      return { ...state, members: withMember(state.members, event.data.userId, 'member'), invites: useInvite(event.data.inviteId) };
    case 'JoinRequested':
      return {
        ...state,
        invites: useInvite(event.data.inviteId),
        joinRequests: withRequest(event.data.requestId, { userId: event.data.userId, status: 'pending' }),
      };
    case 'JoinRequestApproved': {
      const { requestId, userId } = event.data;
      const members = state.members.has(userId) ? state.members : withMember(state.members, userId, 'member');
      return { ...state, members, joinRequests: withRequest(requestId, { userId, status: 'approved' }) };
    }
    case 'JoinRequestDeclined':
      return { ...state, joinRequests: withRequest(event.data.requestId, { userId: event.data.userId, status: 'declined' }) };
    case 'MemberAdded':
    case 'MemberRoleChanged':
      return { ...state, members: withMember(state.members, event.data.userId, event.data.role) };
    case 'MemberRemoved':
    case 'MemberLeft':
      return { ...state, members: withMember(state.members, event.data.userId, null) };
    case 'OwnershipTransferred': {
      const members = withMember(withMember(state.members, event.data.fromUserId, 'admin'), event.data.toUserId, 'owner');
      return { ...state, ownerId: event.data.toUserId, members };
    }
    default:
      return assertNever(event);
  }
}

const isAdmin = (role: GroupRole | undefined) => role === 'owner' || role === 'admin';

/** Whether `userId` may send to the group now: a member, and an admin if only admins may send. */
export function mayPost(state: GroupState, userId: string): boolean {
  if (state.status === 'none') return false;
  const role = state.members.get(userId);
  return role !== undefined && (state.settings.send === 'everyone' || isAdmin(role));
}

/** Why a link cannot be used at `now`, or null when it can. */
function unusable(invite: InviteLinkState, now: string): 'expired' | 'revoked' | 'used_up' | null {
  if (invite.revoked) return 'revoked';
  if (Date.parse(invite.expiresAt) <= Date.parse(now)) return 'expired';
  if (invite.uses >= invite.maxUses) return 'used_up';
  return null;
}

type ActiveGroup = Extract<GroupState, { status: 'active' }>;

function joinViaInvite(command: JoinViaInvite, state: GroupState): Decision<GroupEvent> {
  const now = command.metadata.now;
  const { groupId, userId, inviteId, token, blocked, requestId } = command.data;
  const invite = state.status === 'active' ? state.invites.get(inviteId) : undefined;
  // A wrong token and a creator who blocked the user look alike: nobody learns of a link, or of a block, by trying.
  if (state.status !== 'active' || !invite || invite.token !== token || blocked) throw new NotFoundError('Invite');
  if (state.members.has(userId)) return [];
  const reason = unusable(invite, now);
  if (reason !== null) throw new InviteUnusableError(reason);
  if (state.settings.approveJoins) {
    const pending = [...state.joinRequests.values()].some((request) => request.userId === userId && request.status === 'pending');
    if (pending || state.joinRequests.has(requestId)) return [];
    return [{ type: 'JoinRequested', data: { groupId, requestId, userId, inviteId, requestedAt: now } }];
  }
  if (state.members.size >= MAX_GROUP_MEMBERS) throw new ConflictError('group_full', `A group has at most ${MAX_GROUP_MEMBERS} members`);
  return [{ type: 'MemberJoined', data: { groupId, userId, inviteId, joinedAt: now } }];
}

function decideJoinRequest(
  command: ApproveJoinRequest | DeclineJoinRequest,
  state: ActiveGroup,
  actorRole: GroupRole,
): Decision<GroupEvent> {
  const now = command.metadata.now;
  const { groupId, actorId, requestId } = command.data;
  if (!isAdmin(actorRole)) throw new AdminsOnlyError('joinRequests', 'Only group admins approve or decline join requests');
  const request = state.joinRequests.get(requestId);
  if (!request) throw new NotFoundError('Join request', { requestId });
  const outcome = command.type === 'ApproveJoinRequest' ? 'approved' : 'declined';
  if (request.status === outcome) return [];
  if (request.status !== 'pending') throw new ConflictError('join_request_decided', `This join request was already ${request.status}`);
  const { userId } = request;
  if (outcome === 'declined')
    return [{ type: 'JoinRequestDeclined', data: { groupId, requestId, userId, declinedBy: actorId, declinedAt: now } }];
  if (!state.members.has(userId) && state.members.size >= MAX_GROUP_MEMBERS)
    throw new ConflictError('group_full', `A group has at most ${MAX_GROUP_MEMBERS} members`);
  return [{ type: 'JoinRequestApproved', data: { groupId, requestId, userId, approvedBy: actorId, approvedAt: now } }];
}

export function decide(command: GroupCommand, state: GroupState): Decision<GroupEvent> {
  const now = command.metadata.now;
  if (command.type === 'CreateGroup') {
    if (state.status !== 'none') throw new ConflictError('group_exists', 'This group already exists');
    const { groupId, ownerId, profile, unknownUserIds, blockerIds, iconValid } = command.data;
    if (unknownUserIds.length > 0) throw new NotFoundError('User', { userIds: unknownUserIds });
    if (!iconValid) throw new InvalidIconError();
    const memberIds = [...new Set(command.data.memberIds)].filter((id) => id !== ownerId && !blockerIds.includes(id));
    if (memberIds.length + 1 > MAX_GROUP_MEMBERS) throw new ValidationError(`memberIds: a group has at most ${MAX_GROUP_MEMBERS} members`);
    return [{ type: 'GroupCreated', data: { groupId, ownerId, profile, memberIds, createdAt: now } }];
  }
  // The joiner is not a member yet: the link, not membership, lets them in.
  if (command.type === 'JoinViaInvite') return joinViaInvite(command, state);
  if (state.status === 'none') throw new NotFoundError('Group');
  const actorRole = state.members.get(command.data.actorId);
  // Non-members learn nothing about a group, not even that it exists.
  if (actorRole === undefined) throw new NotFoundError('Group');
  const { groupId } = state;
  switch (command.type) {
    case 'UpdateGroup': {
      if (state.settings.editInfo === 'admins' && !isAdmin(actorRole))
        throw new AdminsOnlyError('editInfo', "Only group admins can change the group's info");
      if (!command.data.iconValid) throw new InvalidIconError();
      return [{ type: 'GroupUpdated', data: { groupId, changes: command.data.changes, updatedBy: command.data.actorId, updatedAt: now } }];
    }
    case 'AddMember': {
      const { actorId, userId, role, userExists, blockedActor } = command.data;
      const current = state.members.get(userId);
      // Roles are an admin's business whatever the settings; adding a plain member is the settings' to allow.
      if (!isAdmin(actorRole) && (role !== 'member' || current !== undefined))
        throw new ForbiddenError('Only group admins can change roles');
      if (state.settings.addMembers === 'admins' && !isAdmin(actorRole))
        throw new AdminsOnlyError('addMembers', 'Only group admins can add members');
      if (!userExists) throw new NotFoundError('User', { userId });
      if (current === undefined && blockedActor) return [];
      if (current === 'owner') throw new ConflictError('owner_role', 'The owner keeps the owner role; transfer ownership instead');
      if (current === role) return [];
      // Demoting an admin is the first step of removing one, which only the owner may do.
      if (current === 'admin' && actorRole !== 'owner') throw new ForbiddenError("Only the owner can change an admin's role");
      if (current !== undefined)
        return [{ type: 'MemberRoleChanged', data: { groupId, userId, role, changedBy: actorId, changedAt: now } }];
      if (state.members.size >= MAX_GROUP_MEMBERS)
        throw new ConflictError('group_full', `A group has at most ${MAX_GROUP_MEMBERS} members`);
      return [{ type: 'MemberAdded', data: { groupId, userId, role, addedBy: actorId, addedAt: now } }];
    }
    case 'RemoveMember': {
      const { actorId, userId } = command.data;
      const targetRole = state.members.get(userId);
      if (targetRole === undefined) return [];
      if (userId === actorId) {
        if (actorRole === 'owner') throw new ConflictError('owner_cannot_leave', 'Transfer ownership before leaving the group');
        return [{ type: 'MemberLeft', data: { groupId, userId, leftAt: now } }];
      }
      if (!isAdmin(actorRole)) throw new ForbiddenError('Only group admins can remove members');
      if (targetRole === 'owner' || (targetRole === 'admin' && actorRole !== 'owner')) {
        throw new ForbiddenError('Only the owner can remove an admin, and nobody removes the owner');
      }
      return [{ type: 'MemberRemoved', data: { groupId, userId, removedBy: actorId, removedAt: now } }];
    }
    case 'TransferOwnership': {
      const { actorId, toUserId } = command.data;
      if (actorRole !== 'owner') throw new ForbiddenError('Only the owner can hand over ownership');
      if (!state.members.has(toUserId)) throw new ValidationError('toUserId: the new owner must be a member', { field: 'toUserId' });
      if (toUserId === actorId) return [];
      return [{ type: 'OwnershipTransferred', data: { groupId, fromUserId: actorId, toUserId, transferredAt: now } }];
    }
    case 'ChangeGroupSettings': {
      const { actorId, changes } = command.data;
      if (!isAdmin(actorRole)) throw new AdminsOnlyError('settings', "Only group admins can change the group's settings");
      const changed = Object.fromEntries(
        Object.entries(changes).filter(([key, value]) => value !== undefined && state.settings[key as keyof GroupSettings] !== value),
      ) as Partial<GroupSettings>;
      if (Object.keys(changed).length === 0) return [];
      return [{ type: 'GroupSettingsChanged', data: { groupId, changes: changed, changedBy: actorId, changedAt: now } }];
    }
    case 'CreateInviteLink': {
      const { actorId, inviteId, token, expiresAt, maxUses } = command.data;
      if (state.settings.addMembers === 'admins' && !isAdmin(actorRole))
        throw new AdminsOnlyError('addMembers', 'Only group admins can create invite links');
      // A retried create finds its link.
      if (state.invites.has(inviteId)) return [];
      if (Date.parse(expiresAt) <= Date.parse(now)) throw new ValidationError('expiresInSeconds: the link must expire in the future');
      const open = [...state.invites.values()].filter((invite) => unusable(invite, now) === null).length;
      if (open >= MAX_OPEN_INVITE_LINKS)
        throw new ConflictError('invite_links_limit', `A group has at most ${MAX_OPEN_INVITE_LINKS} open invite links; revoke one`);
      return [{ type: 'InviteLinkCreated', data: { groupId, inviteId, token, expiresAt, maxUses, createdBy: actorId, createdAt: now } }];
    }
    case 'RevokeInviteLink': {
      const { actorId, inviteId } = command.data;
      const invite = state.invites.get(inviteId);
      if (!invite) throw new NotFoundError('Invite', { inviteId });
      if (invite.createdBy !== actorId && !isAdmin(actorRole))
        throw new AdminsOnlyError('invites', "Only group admins can revoke someone else's invite link");
      if (invite.revoked) return [];
      return [{ type: 'InviteLinkRevoked', data: { groupId, inviteId, revokedBy: actorId, revokedAt: now } }];
    }
    case 'ApproveJoinRequest':
    case 'DeclineJoinRequest':
      return decideJoinRequest(command, state, actorRole);
    default:
      return assertNever(command);
  }
}

export const groupDecider: Decider<GroupCommand, GroupEvent, GroupState> = { eventTypes: groupEventTypes, initialState, evolve, decide };
