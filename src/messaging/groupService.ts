import { groupDecider, groupStream, type GroupProfile } from '../../commands/groups.ts';
import { NotFoundError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { isRegistered } from '../people/registered.ts';
import { GROUPS, toPublicGroup, type GroupDoc, type PublicGroup } from '../../projections/groups.ts';
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

  private async run(groupId: string, command: Parameters<typeof groupDecider.decide>[0]): Promise<void> {
    const result = await this.commands.handle(groupDecider, groupStream(groupId), command);
    if (result.position !== null) await this.projections.waitFor(result.position);
  }

  private async iconValid(actorId: string, iconMediaId: string | null): Promise<boolean> {
    return iconMediaId === null || (await this.media.ownedImage(actorId, iconMediaId));
  }
}
