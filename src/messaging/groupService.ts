import { randomBytes } from 'node:crypto';
import {
  AdminsOnlyError,
  groupDecider,
  groupStream,
  InviteUnusableError,
  type GroupProfile,
  type GroupSettings,
} from '../../commands/groups.ts';
import { NotFoundError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { isRegistered } from '../people/registered.ts';
import { GROUPS, isGroupAdmin, toPublicGroup, type GroupDoc, type PublicGroup } from '../../projections/groups.ts';
import {
  GROUP_INVITES,
  GROUP_JOIN_REQUESTS,
  type GroupInvite,
  type GroupInviteDoc,
  type JoinRequest,
  type JoinRequestDoc,
} from '../../projections/groupInvites.ts';
import { INVITE_LIMITS } from '../contract/groupInviteSchemas.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { deriveId } from '../ids.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { Blocks } from '../people/blocks.ts';
import type { MediaService } from '../media/mediaService.ts';

/** Group use cases: the lookups the group decider needs, the command, then the group as members see it. */
export class GroupService {
  constructor(
    private readonly commands: CommandHandler,
    private readonly readStore: ReadStore,
    private readonly projections: Projections,
    private readonly blocks: Blocks,
    private readonly media: Pick<MediaService, 'ownedImage'>,
  ) {}

  async create(
    ownerId: string,
    input: { name: string; description?: string | undefined; iconMediaId?: string | null | undefined; memberIds: string[] },
    metadata: CommandMetadata,
  ): Promise<PublicGroup> {
    const groupId = deriveId('group', metadata.commandId);
    const unknownUserIds: string[] = [];
    for (const userId of new Set(input.memberIds)) if (!(await isRegistered(this.commands, userId))) unknownUserIds.push(userId);
    const profile: GroupProfile = { name: input.name, description: input.description ?? '', iconMediaId: input.iconMediaId ?? null };
    const blockerIds = await this.blocks.blockersOf(ownerId, [...new Set(input.memberIds)]);
    const iconValid = await this.iconValid(ownerId, profile.iconMediaId);
    await this.run(groupId, {
      type: 'CreateGroup',
      data: { groupId, ownerId, profile, memberIds: input.memberIds, unknownUserIds, blockerIds, iconValid },
      metadata,
    });
    return this.get(ownerId, groupId);
  }

  async update(actorId: string, groupId: string, changes: Partial<GroupProfile>, metadata: CommandMetadata): Promise<PublicGroup> {
    const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)) as Partial<GroupProfile>;
    const iconValid = await this.iconValid(actorId, defined.iconMediaId ?? null);
    await this.run(groupId, { type: 'UpdateGroup', data: { groupId, actorId, changes: defined, iconValid }, metadata });
    return this.get(actorId, groupId);
  }

  async addMember(
    actorId: string,
    groupId: string,
    userId: string,
    role: 'admin' | 'member',
    metadata: CommandMetadata,
  ): Promise<PublicGroup> {
    const [userExists, blockedActor] = [await isRegistered(this.commands, userId), await this.blocks.hasBlocked(userId, actorId)];
    await this.run(groupId, { type: 'AddMember', data: { groupId, actorId, userId, role, userExists, blockedActor }, metadata });
    return this.get(actorId, groupId);
  }

  /** Removes a member; removing yourself is leaving. */
  async removeMember(actorId: string, groupId: string, userId: string, metadata: CommandMetadata): Promise<void> {
    await this.run(groupId, { type: 'RemoveMember', data: { groupId, actorId, userId }, metadata });
  }

  async transferOwnership(actorId: string, groupId: string, toUserId: string, metadata: CommandMetadata): Promise<PublicGroup> {
    await this.run(groupId, { type: 'TransferOwnership', data: { groupId, actorId, toUserId }, metadata });
    return this.get(actorId, groupId);
  }

  async changeSettings(actorId: string, groupId: string, changes: Partial<GroupSettings>, metadata: CommandMetadata): Promise<PublicGroup> {
    const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)) as Partial<GroupSettings>;
    await this.run(groupId, { type: 'ChangeGroupSettings', data: { groupId, actorId, changes: defined }, metadata });
    return this.get(actorId, groupId);
  }

  /** A link with an unguessable token (192 random bits), usable `maxUses` times until it expires or is revoked. */
  async createInvite(
    actorId: string,
    groupId: string,
    input: { expiresInSeconds: number; maxUses: number },
    metadata: CommandMetadata,
  ): Promise<PublicInvite> {
    const inviteId = deriveId('group-invite', metadata.commandId);
    const token = randomBytes((INVITE_LIMITS.tokenLength * 3) / 4).toString('base64url');
    const expiresAt = new Date(Date.parse(metadata.now) + input.expiresInSeconds * 1000).toISOString();
    await this.run(groupId, {
      type: 'CreateInviteLink',
      data: { groupId, actorId, inviteId, token, expiresAt, maxUses: input.maxUses },
      metadata,
    });
    const invite = await this.invites().findOne({ _id: inviteId });
    if (!invite) throw new NotFoundError('Invite');
    return toPublicInvite(invite, metadata.now);
  }

  /** The group's links, for whoever may create them. */
  async listInvites(actorId: string, groupId: string, now: string): Promise<PublicInvite[]> {
    const group = await this.memberGroup(actorId, groupId);
    if ((group.settings?.addMembers ?? 'admins') === 'admins' && !isGroupAdmin(group, actorId))
      throw new AdminsOnlyError('invites', "Only group admins can see the group's invite links");
    const invites = await this.invites().find({ groupId }, { sort: { createdAt: -1 } });
    return invites.map((invite) => toPublicInvite(invite, now));
  }

  async revokeInvite(actorId: string, groupId: string, inviteId: string, metadata: CommandMetadata): Promise<void> {
    await this.run(groupId, { type: 'RevokeInviteLink', data: { groupId, actorId, inviteId }, metadata });
  }

  /** What a link leads to, before joining: a link that cannot be used says why (410). */
  async previewInvite(token: string, now: string): Promise<InvitePreview> {
    const invite = await this.openInvite(token, now);
    const group = await this.readStore.collection<GroupDoc>(GROUPS).findOne({ _id: invite.groupId });
    if (!group) throw new NotFoundError('Invite');
    const { name, description, iconMediaId, settings } = toPublicGroup(group);
    return {
      name,
      description,
      iconMediaId,
      memberCount: group.memberIds.length,
      approvalRequired: settings.approveJoins,
      expiresAt: invite.expiresAt,
    };
  }

  /**
   * Joins through a link, or asks to when the group approves joins. The use is counted by the group's decider on its
   * stream, appended with the expected revision: concurrent joiners cannot take more uses than the link has.
   */
  async joinViaInvite(userId: string, token: string, metadata: CommandMetadata): Promise<JoinResult> {
    const invite = await this.invites().findOne({ token });
    if (!invite) throw new NotFoundError('Invite');
    const { groupId } = invite;
    const blocked = await this.blocks.hasBlocked(invite.createdBy, userId);
    const requestId = deriveId('group-join-request', metadata.commandId);
    await this.run(groupId, {
      type: 'JoinViaInvite',
      data: { groupId, userId, inviteId: invite._id, token, blocked, requestId },
      metadata,
    });
    const group = await this.readStore.collection<GroupDoc>(GROUPS).findOne({ _id: groupId });
    if (group?.memberIds.includes(userId)) return { status: 'joined', group: toPublicGroup(group) };
    const request = await this.joinRequests().findOne({ groupId, userId, status: 'pending' });
    if (!request) throw new NotFoundError('Invite');
    return { status: 'requested', request: toPublicJoinRequest(request) };
  }

  /** The group's pending join requests, for its admins. */
  async listJoinRequests(actorId: string, groupId: string): Promise<PublicJoinRequest[]> {
    const group = await this.memberGroup(actorId, groupId);
    if (!isGroupAdmin(group, actorId)) throw new AdminsOnlyError('joinRequests', "Only group admins can see the group's join requests");
    const requests = await this.joinRequests().find({ groupId, status: 'pending' }, { sort: { requestedAt: 1 } });
    return requests.map(toPublicJoinRequest);
  }

  async decideJoinRequest(
    actorId: string,
    groupId: string,
    requestId: string,
    outcome: 'approve' | 'decline',
    metadata: CommandMetadata,
  ): Promise<PublicJoinRequest> {
    const type = outcome === 'approve' ? 'ApproveJoinRequest' : 'DeclineJoinRequest';
    await this.run(groupId, { type, data: { groupId, actorId, requestId }, metadata });
    const request = await this.joinRequests().findOne({ _id: requestId, groupId });
    if (!request) throw new NotFoundError('Join request');
    return toPublicJoinRequest(request);
  }

  /** The caller's own join requests, newest first: how a requester reads what became of theirs. */
  async myJoinRequests(userId: string): Promise<PublicJoinRequest[]> {
    const requests = await this.joinRequests().find({ userId }, { sort: { requestedAt: -1 }, limit: 100 });
    return requests.map(toPublicJoinRequest);
  }

  async listFor(userId: string): Promise<PublicGroup[]> {
    const groups = await this.readStore.collection<GroupDoc>(GROUPS).find({ memberIds: userId }, { sort: { _id: 1 } });
    return groups.map(toPublicGroup);
  }

  /** A group its member may see; to anyone else it does not exist. */
  async get(userId: string, groupId: string): Promise<PublicGroup> {
    const group = await this.readStore.collection<GroupDoc>(GROUPS).findOne({ _id: groupId });
    if (!group || !group.memberIds.includes(userId)) throw new NotFoundError('Group');
    return toPublicGroup(group);
  }

  private async memberGroup(userId: string, groupId: string): Promise<GroupDoc> {
    const group = await this.readStore.collection<GroupDoc>(GROUPS).findOne({ _id: groupId });
    if (!group || !group.memberIds.includes(userId)) throw new NotFoundError('Group');
    return group;
  }

  private async openInvite(token: string, now: string): Promise<GroupInviteDoc> {
    const invite = await this.invites().findOne({ token });
    if (!invite) throw new NotFoundError('Invite');
    const status = inviteStatus(invite, now);
    if (status !== 'open') throw new InviteUnusableError(status);
    return invite;
  }

  private invites() {
    return this.readStore.collection<GroupInviteDoc>(GROUP_INVITES);
  }

  private joinRequests() {
    return this.readStore.collection<JoinRequestDoc>(GROUP_JOIN_REQUESTS);
  }

  private async run(groupId: string, command: Parameters<typeof groupDecider.decide>[0]): Promise<void> {
    const result = await this.commands.handle(groupDecider, groupStream(groupId), command);
    if (result.position !== null) await this.projections.waitFor(result.position);
  }

  private async iconValid(actorId: string, iconMediaId: string | null): Promise<boolean> {
    return iconMediaId === null || (await this.media.ownedImage(actorId, iconMediaId));
  }
}

/** An invite link as its admins see it: the projected document under its public id, with what it can still do. */
export type PublicInvite = GroupInvite & {
  id: string;
  status: 'open' | 'expired' | 'revoked' | 'used_up';
};

export interface InvitePreview {
  name: string;
  description: string;
  iconMediaId: string | null;
  memberCount: number;
  approvalRequired: boolean;
  expiresAt: string;
}

export type PublicJoinRequest = Omit<JoinRequest, 'inviteId'> & { id: string };

export type JoinResult = { status: 'joined'; group: PublicGroup } | { status: 'requested'; request: PublicJoinRequest };

/** The same order of reasons as the decider's. */
function inviteStatus(invite: GroupInviteDoc, now: string): PublicInvite['status'] {
  if (invite.revokedAt !== null) return 'revoked';
  if (Date.parse(invite.expiresAt) <= Date.parse(now)) return 'expired';
  if (invite.uses >= invite.maxUses) return 'used_up';
  return 'open';
}

const toPublicInvite = (invite: GroupInviteDoc, now: string): PublicInvite => {
  const { _id, groupId, token, createdBy, createdAt, expiresAt, maxUses, uses, revokedAt } = invite;
  return { id: _id, groupId, token, createdBy, createdAt, expiresAt, maxUses, uses, revokedAt, status: inviteStatus(invite, now) };
};

const toPublicJoinRequest = ({ _id, groupId, userId, status, requestedAt, decidedBy, decidedAt }: JoinRequestDoc): PublicJoinRequest => ({
  id: _id,
  groupId,
  userId,
  status,
  requestedAt,
  decidedBy,
  decidedAt,
});
