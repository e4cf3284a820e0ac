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
export type GroupEvent = GroupCreated | GroupUpdated | MemberAdded | MemberRoleChanged | MemberRemoved | MemberLeft | OwnershipTransferred;
export const groupEventTypes = [
  'GroupCreated',
  'GroupUpdated',
  'MemberAdded',
  'MemberRoleChanged',
  'MemberRemoved',
  'MemberLeft',
  'OwnershipTransferred',
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
export type GroupCommand = CreateGroup | UpdateGroup | AddMember | RemoveMember | TransferOwnership;

/** Members may read their group's icon: it must be an image of the one setting it, or anyone's file would leak. */
export class InvalidIconError extends DomainError {
  constructor() {
    super('invalid_attachment', 422, 'iconMediaId: an image you uploaded, not deleted');
  }
}

export type GroupState =
  { status: 'none' } | { status: 'active'; groupId: string; ownerId: string; members: ReadonlyMap<string, GroupRole> };

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
    return { status: 'active', groupId: event.data.groupId, ownerId: event.data.ownerId, members };
  }
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'GroupUpdated':
      return state;
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
  if (state.status === 'none') throw new NotFoundError('Group');
  const actorRole = state.members.get(command.data.actorId);
  // Non-members learn nothing about a group, not even that it exists.
  if (actorRole === undefined) throw new NotFoundError('Group');
  const { groupId } = state;
  switch (command.type) {
    case 'UpdateGroup': {
      if (!isAdmin(actorRole)) throw new ForbiddenError('Only group admins can change the group');
      if (!command.data.iconValid) throw new InvalidIconError();
      return [{ type: 'GroupUpdated', data: { groupId, changes: command.data.changes, updatedBy: command.data.actorId, updatedAt: now } }];
    }
    case 'AddMember': {
      const { actorId, userId, role, userExists, blockedActor } = command.data;
      if (!isAdmin(actorRole)) throw new ForbiddenError('Only group admins can add members or change roles');
      if (!userExists) throw new NotFoundError('User', { userId });
      const current = state.members.get(userId);
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
    default:
      return assertNever(command);
  }
}

export const groupDecider: Decider<GroupCommand, GroupEvent, GroupState> = { eventTypes: groupEventTypes, initialState, evolve, decide };
