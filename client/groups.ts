import type { Contract, ResponseOf, RestClient } from './rest.ts';

export type GroupSettings = ResponseOf<Contract<'put', '/api/groups/{id}/settings'>>['group']['settings'];
export type GroupInvite = ResponseOf<Contract<'post', '/api/groups/{id}/invites'>>['invite'];
export type GroupInvitePreview = ResponseOf<Contract<'get', '/api/group-invites/{token}'>>['preview'];
export type GroupJoinResult = ResponseOf<Contract<'post', '/api/group-invites/{token}/join'>>;
export type GroupJoinRequest = ResponseOf<Contract<'get', '/api/group-join-requests'>>['requests'][number];

/** The token of an invite link: the whole link (`…#join=<token>`, `…/group-invites/<token>`) or the token itself. */
export function inviteTokenOf(linkOrToken: string): string {
  const match = /([A-Za-z0-9_-]{32})\/?$/.exec(linkOrToken.trim());
  if (!match) throw new TypeError('Not an invite link or token');
  return match[1]!;
}

/** Group settings, invite links and join requests (`client.groups`). Refusals are thrown as LetsAppError. */
export class GroupsApi {
  constructor(private readonly api: RestClient) {}

  /** Admins only (`admins_only` otherwise). */
  async changeSettings(groupId: string, settings: Partial<GroupSettings>) {
    return (await this.api.request('put', '/api/groups/{id}/settings', { params: { id: groupId }, body: settings })).group;
  }

  async createInvite(groupId: string, options: { expiresInSeconds?: number; maxUses?: number } = {}): Promise<GroupInvite> {
    return (await this.api.request('post', '/api/groups/{id}/invites', { params: { id: groupId }, body: options })).invite;
  }

  async listInvites(groupId: string): Promise<GroupInvite[]> {
    return (await this.api.request('get', '/api/groups/{id}/invites', { params: { id: groupId } })).invites;
  }

  async revokeInvite(groupId: string, inviteId: string): Promise<void> {
    await this.api.request('delete', '/api/groups/{id}/invites/{inviteId}', { params: { id: groupId, inviteId } });
  }

  /** What a link leads to, without joining; 410 (`invite_expired`, `invite_revoked`, `invite_used_up`) when it is no good. */
  async previewInvite(linkOrToken: string): Promise<GroupInvitePreview> {
    return (await this.api.request('get', '/api/group-invites/{token}', { params: { token: inviteTokenOf(linkOrToken) } })).preview;
  }

  /** `joined` with the group, or `requested` with the request when the group approves joins. */
  async joinByInvite(linkOrToken: string): Promise<GroupJoinResult> {
    return this.api.request('post', '/api/group-invites/{token}/join', { params: { token: inviteTokenOf(linkOrToken) } });
  }

  /** Pending requests (admins). */
  async listJoinRequests(groupId: string): Promise<GroupJoinRequest[]> {
    return (await this.api.request('get', '/api/groups/{id}/join-requests', { params: { id: groupId } })).requests;
  }

  async approveJoinRequest(groupId: string, requestId: string): Promise<GroupJoinRequest> {
    return (await this.api.request('post', '/api/groups/{id}/join-requests/{requestId}/approve', { params: { id: groupId, requestId } }))
      .request;
  }

  async declineJoinRequest(groupId: string, requestId: string): Promise<GroupJoinRequest> {
    return (await this.api.request('post', '/api/groups/{id}/join-requests/{requestId}/decline', { params: { id: groupId, requestId } }))
      .request;
  }

  /** The caller's own requests and what became of them. */
  async myJoinRequests(): Promise<GroupJoinRequest[]> {
    return (await this.api.request('get', '/api/group-join-requests')).requests;
  }
}
