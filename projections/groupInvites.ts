import type { GroupEvent } from '../commands/groups.ts';
import { assertNever, eventOf } from '../commands/shared/events.ts';
import type { ProjectedDoc, Projector } from '../src/projection/projector.ts';

/** A group's invite link as its admins list it; `token` finds it (a preview, a join). */
export interface GroupInvite {
  groupId: string;
  token: string;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  maxUses: number;
  uses: number;
  revokedAt: string | null;
}

export interface GroupInviteDoc extends ProjectedDoc, GroupInvite {}

/** A request to join through a link of a group that requires approval. */
export interface JoinRequest {
  groupId: string;
  userId: string;
  inviteId: string;
  status: 'pending' | 'approved' | 'declined';
  requestedAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
}

export interface JoinRequestDoc extends ProjectedDoc, JoinRequest {}

export const GROUP_INVITES = 'group_invites';
export const GROUP_JOIN_REQUESTS = 'group_join_requests';

export const inviteLinkEventTypes = ['InviteLinkCreated', 'InviteLinkRevoked', 'MemberJoined', 'JoinRequested'] as const;
type InviteLinkEvent = Extract<GroupEvent, { type: (typeof inviteLinkEventTypes)[number] }>;

export const groupInvitesProjector: Projector = {
  name: GROUP_INVITES,
  collections: { [GROUP_INVITES]: [{ key: { token: 1 }, unique: true }, { key: { groupId: 1 } }] },
  handles: new Set(inviteLinkEventTypes),
  async apply(recorded, context) {
    const event = eventOf<InviteLinkEvent>(inviteLinkEventTypes, recorded);
    switch (event.type) {
      case 'InviteLinkCreated': {
        const { inviteId, groupId, token, createdBy, createdAt, expiresAt, maxUses } = event.data;
        return context.project<GroupInviteDoc>(
          GROUP_INVITES,
          inviteId,
          recorded,
          (doc) => doc ?? { _id: inviteId, groupId, token, createdBy, createdAt, expiresAt, maxUses, uses: 0, revokedAt: null },
        );
      }
      case 'InviteLinkRevoked':
        return context.project<GroupInviteDoc>(GROUP_INVITES, event.data.inviteId, recorded, (doc) =>
          doc ? { ...doc, revokedAt: doc.revokedAt ?? event.data.revokedAt } : null,
        );
      // Both are one use of the link.
      case 'MemberJoined':
      case 'JoinRequested':
        return context.project<GroupInviteDoc>(GROUP_INVITES, event.data.inviteId, recorded, (doc) =>
          doc ? { ...doc, uses: doc.uses + 1 } : null,
        );
      default:
        return assertNever(event);
    }
  },
};

export const joinRequestEventTypes = ['JoinRequested', 'JoinRequestApproved', 'JoinRequestDeclined'] as const;
type JoinRequestEvent = Extract<GroupEvent, { type: (typeof joinRequestEventTypes)[number] }>;

export const joinRequestsProjector: Projector = {
  name: GROUP_JOIN_REQUESTS,
  collections: { [GROUP_JOIN_REQUESTS]: [{ key: { groupId: 1, status: 1 } }, { key: { userId: 1 } }] },
  handles: new Set(joinRequestEventTypes),
  async apply(recorded, context) {
    const event = eventOf<JoinRequestEvent>(joinRequestEventTypes, recorded);
    const { requestId } = event.data;
    switch (event.type) {
      case 'JoinRequested': {
        const { groupId, userId, inviteId, requestedAt } = event.data;
        return context.project<JoinRequestDoc>(
          GROUP_JOIN_REQUESTS,
          requestId,
          recorded,
          (doc) => doc ?? { _id: requestId, groupId, userId, inviteId, status: 'pending', requestedAt, decidedBy: null, decidedAt: null },
        );
      }
      case 'JoinRequestApproved':
        return context.project<JoinRequestDoc>(GROUP_JOIN_REQUESTS, requestId, recorded, (doc) =>
          doc ? { ...doc, status: 'approved', decidedBy: event.data.approvedBy, decidedAt: event.data.approvedAt } : null,
        );
      case 'JoinRequestDeclined':
        return context.project<JoinRequestDoc>(GROUP_JOIN_REQUESTS, requestId, recorded, (doc) =>
          doc ? { ...doc, status: 'declined', decidedBy: event.data.declinedBy, decidedAt: event.data.declinedAt } : null,
        );
      default:
        return assertNever(event);
    }
  },
};
