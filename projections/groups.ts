import type { GroupEvent, GroupProfile, GroupRole, GroupSettings } from '../commands/groups.ts';
import { DEFAULT_GROUP_SETTINGS, groupEventTypes } from '../commands/groups.ts';
import { assertNever, eventOf } from '../commands/shared/events.ts';
import type { ProjectedDoc, Projector } from '../src/projection/projector.ts';
import type { Collection } from '../src/readstore/port.ts';

export interface GroupMember {
  userId: string;
  role: GroupRole;
  joinedAt: string;
}

export interface GroupDoc extends ProjectedDoc, GroupProfile {
  ownerId: string;
  /** Current members' ids, multikey-indexed: "the groups of a user" is an indexed query. */
  memberIds: string[];
  members: GroupMember[];
  /** Absent on documents projected before settings existed: those groups have the defaults. */
  settings?: GroupSettings;
  createdAt: string;
  updatedAt: string;
}

export interface PublicGroup extends GroupProfile {
  id: string;
  ownerId: string;
  members: GroupMember[];
  settings: GroupSettings;
  createdAt: string;
  updatedAt: string;
}

export const toPublicGroup = ({
  _id,
  name,
  description,
  iconMediaId,
  ownerId,
  members,
  settings,
  createdAt,
  updatedAt,
}: GroupDoc): PublicGroup => ({
  id: _id,
  name,
  description,
  iconMediaId,
  ownerId,
  members,
  settings: { ...DEFAULT_GROUP_SETTINGS, ...settings },
  createdAt,
  updatedAt,
});

export const isGroupAdmin = (doc: GroupDoc, userId: string) =>
  doc.members.some((member) => member.userId === userId && (member.role === 'owner' || member.role === 'admin'));

export const GROUPS = 'groups';

/** Who may read a conversation now: both ends of a direct one, the current members of a group. */
export async function participantsOf(groups: Collection<GroupDoc>, conversationId: string): Promise<string[]> {
  if (conversationId.startsWith('dm:')) return conversationId.split(':').slice(1);
  return (await groups.findOne({ _id: conversationId.slice('group:'.length) }))?.memberIds ?? [];
}

function setMember(doc: GroupDoc, userId: string, role: GroupRole | null, at: string): GroupDoc {
  const others = doc.members.filter((member) => member.userId !== userId);
  const existing = doc.members.find((member) => member.userId === userId);
  const members = role === null ? others : [...others, { userId, role, joinedAt: existing?.joinedAt ?? at }];
  return { ...doc, members, memberIds: members.map((member) => member.userId), updatedAt: at };
}

export const groupsProjector: Projector = {
  name: GROUPS,
  // By icon: the media collector keeps an unattached upload that is a group's icon, and a viewer may see it.
  collections: { [GROUPS]: [{ key: { memberIds: 1 }, multikey: true }, { key: { iconMediaId: 1 } }] },
  handles: new Set(groupEventTypes),
  async apply(recorded, context) {
    const event = eventOf<GroupEvent>(groupEventTypes, recorded);
    const { groupId } = event.data;
    const update = (reducer: (doc: GroupDoc) => GroupDoc) =>
      context.project<GroupDoc>(GROUPS, groupId, recorded, (doc) => doc && reducer(doc));
    switch (event.type) {
      case 'GroupCreated': {
        const { ownerId, profile, memberIds, createdAt } = event.data;
        const members: GroupMember[] = [
          { userId: ownerId, role: 'owner', joinedAt: createdAt },
          ...memberIds.map((userId) => ({ userId, role: 'member' as const, joinedAt: createdAt })),
        ];
        return context.project<GroupDoc>(
          GROUPS,
          groupId,
          recorded,
          (doc) =>
            doc ?? {
              _id: groupId,
              ...profile,
              ownerId,
              members,
              memberIds: members.map((m) => m.userId),
              createdAt,
              updatedAt: createdAt,
            },
        );
      }
      case 'GroupUpdated':
        return update((doc) => ({ ...doc, ...event.data.changes, updatedAt: event.data.updatedAt }));
      case 'MemberAdded':
        return update((doc) => setMember(doc, event.data.userId, event.data.role, event.data.addedAt));
      case 'MemberRoleChanged':
        return update((doc) => setMember(doc, event.data.userId, event.data.role, event.data.changedAt));
      case 'MemberRemoved':
        return update((doc) => setMember(doc, event.data.userId, null, event.data.removedAt));
      case 'MemberLeft':
        return update((doc) => setMember(doc, event.data.userId, null, event.data.leftAt));
      case 'MemberJoined':
        return update((doc) => setMember(doc, event.data.userId, 'member', event.data.joinedAt));
      case 'JoinRequestApproved': {
        const { userId, approvedAt } = event.data;
        return update((doc) => (doc.memberIds.includes(userId) ? doc : setMember(doc, userId, 'member', approvedAt)));
      }
      case 'GroupSettingsChanged':
        return update((doc) => ({
          ...doc,
          settings: { ...DEFAULT_GROUP_SETTINGS, ...doc.settings, ...event.data.changes },
          updatedAt: event.data.changedAt,
        }));
      // Links and requests have collections of their own (groupInvites.ts).
      case 'InviteLinkCreated':
      case 'InviteLinkRevoked':
      case 'JoinRequested':
      case 'JoinRequestDeclined':
        return;
      case 'OwnershipTransferred': {
        const { fromUserId, toUserId, transferredAt } = event.data;
        return update((doc) => ({
          ...setMember(setMember(doc, fromUserId, 'admin', transferredAt), toUserId, 'owner', transferredAt),
          ownerId: toUserId,
        }));
      }
      default:
        return assertNever(event);
    }
  },
};
