import { z } from 'zod';
import { group } from '../../contract/models.ts';
import type { GroupService } from '../../messaging/groupService.ts';
import { addMemberSchema, createGroupSchema, transferOwnershipSchema, updateGroupSchema } from '../../contract/messagingSchemas.ts';
import { id, idParams } from '../../contract/validation.ts';
import {
  changeGroupSettingsSchema,
  createInviteSchema,
  groupInvite,
  invitePreview,
  inviteParams,
  joinRequest,
  joinRequestParams,
  joinResult,
  tokenParams,
} from '../../contract/groupInviteSchemas.ts';
import { actorMetadata } from '../context.ts';
import { noContent, reply, route } from '../routeTable.ts';

export interface GroupRouteDeps {
  groups: GroupService;
  clock: () => Date;
}

const groupReply = z.strictObject({ group }).meta({ id: 'GroupReply' });
const memberParams = z.strictObject({ id, userId: id });

const inviteReply = z.strictObject({ invite: groupInvite }).meta({ id: 'GroupInviteReply' });
const requestReply = z.strictObject({ request: joinRequest }).meta({ id: 'GroupJoinRequestReply' });

/** Groups, their members and roles, under /api/groups; their settings, invite links and join requests. */
export function groupRoutes({ groups, clock }: GroupRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'post',
      path: '/api/groups',
      operationId: 'createGroup',
      tag: 'groups',
      auth: true,
      rateLimit: 'groups',
      summary: 'Create a group; the caller owns it',
      body: createGroupSchema,
      responses: { 201: { description: 'Created', schema: groupReply } },
      errors: ['not_found', 'group_exists', 'group_full', 'invalid_attachment', 'concurrency_conflict'],
      handle: async ({ principal, body, ctx }) => reply(201, { group: await groups.create(principal.userId, body, meta(ctx)) }),
    }),
    route({
      method: 'get',
      path: '/api/groups',
      operationId: 'listGroups',
      tag: 'groups',
      auth: true,
      rateLimit: 'read',
      summary: "The caller's groups",
      responses: { 200: { description: 'Groups the caller is a member of', schema: z.strictObject({ groups: z.array(group) }) } },
      errors: [],
      handle: async ({ principal }) => reply(200, { groups: await groups.listFor(principal.userId) }),
    }),
    route({
      method: 'get',
      path: '/api/groups/{id}',
      operationId: 'getGroup',
      tag: 'groups',
      auth: true,
      rateLimit: 'read',
      summary: 'A group the caller is a member of',
      params: idParams,
      responses: { 200: { description: 'The group', schema: groupReply } },
      errors: ['not_found'],
      handle: async ({ principal, params }) => reply(200, { group: await groups.get(principal.userId, params.id) }),
    }),
    route({
      method: 'put',
      path: '/api/groups/{id}',
      operationId: 'updateGroup',
      tag: 'groups',
      auth: true,
      rateLimit: 'groups',
      summary: "Change the group's name, description or icon (admins)",
      params: idParams,
      body: updateGroupSchema,
      responses: { 200: { description: 'The group', schema: groupReply } },
      errors: ['forbidden', 'admins_only', 'not_found', 'invalid_attachment', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) =>
        reply(200, { group: await groups.update(principal.userId, params.id, body, meta(ctx)) }),
    }),
    route({
      method: 'post',
      path: '/api/groups/{id}/members',
      operationId: 'addGroupMember',
      tag: 'groups',
      auth: true,
      rateLimit: 'groups',
      summary: "Add a member or change a member's role (admins; only the owner changes an admin)",
      params: idParams,
      body: addMemberSchema,
      responses: { 200: { description: 'The group', schema: groupReply } },
      errors: ['forbidden', 'admins_only', 'not_found', 'owner_role', 'group_full', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) =>
        reply(200, { group: await groups.addMember(principal.userId, params.id, body.userId, body.role, meta(ctx)) }),
    }),
    route({
      method: 'delete',
      path: '/api/groups/{id}/members/{userId}',
      operationId: 'removeGroupMember',
      tag: 'groups',
      auth: true,
      rateLimit: 'groups',
      summary: 'Remove a member (admins; only the owner removes an admin), or leave (your own id)',
      params: memberParams,
      responses: { 204: { description: 'Removed' } },
      errors: ['forbidden', 'not_found', 'owner_cannot_leave', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        await groups.removeMember(principal.userId, params.id, params.userId, meta(ctx));
        return noContent();
      },
    }),
    route({
      method: 'post',
      path: '/api/groups/{id}/owner',
      operationId: 'transferGroupOwnership',
      tag: 'groups',
      auth: true,
      rateLimit: 'groups',
      summary: 'Hand ownership to another member (the owner)',
      params: idParams,
      body: transferOwnershipSchema,
      responses: { 200: { description: 'The group', schema: groupReply } },
      errors: ['forbidden', 'not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) =>
        reply(200, { group: await groups.transferOwnership(principal.userId, params.id, body.userId, meta(ctx)) }),
    }),
    route({
      method: 'put',
      path: '/api/groups/{id}/settings',
      operationId: 'changeGroupSettings',
      tag: 'groups',
      auth: true,
      rateLimit: 'groups',
      summary: 'Change who may send, edit the info and add members, and whether joins need approval (admins)',
      params: idParams,
      body: changeGroupSettingsSchema,
      responses: { 200: { description: 'The group', schema: groupReply } },
      errors: ['admins_only', 'not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) =>
        reply(200, { group: await groups.changeSettings(principal.userId, params.id, body, meta(ctx)) }),
    }),
    route({
      method: 'post',
      path: '/api/groups/{id}/invites',
      operationId: 'createGroupInvite',
      tag: 'groups',
      auth: true,
      rateLimit: 'groups',
      summary: 'Create an invite link with an expiry and a maximum number of uses (whoever may add members)',
      params: idParams,
      body: createInviteSchema,
      responses: { 201: { description: 'The link; its `token` is the secret part', schema: inviteReply } },
      errors: ['admins_only', 'not_found', 'invite_links_limit', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) =>
        reply(201, { invite: await groups.createInvite(principal.userId, params.id, body, meta(ctx)) }),
    }),
    route({
      method: 'get',
      path: '/api/groups/{id}/invites',
      operationId: 'listGroupInvites',
      tag: 'groups',
      auth: true,
      rateLimit: 'read',
      summary: "The group's invite links, newest first (whoever may add members)",
      params: idParams,
      responses: { 200: { description: 'The links', schema: z.strictObject({ invites: z.array(groupInvite) }) } },
      errors: ['admins_only', 'not_found'],
      handle: async ({ principal, params }) =>
        reply(200, { invites: await groups.listInvites(principal.userId, params.id, clock().toISOString()) }),
    }),
    route({
      method: 'delete',
      path: '/api/groups/{id}/invites/{inviteId}',
      operationId: 'revokeGroupInvite',
      tag: 'groups',
      auth: true,
      rateLimit: 'groups',
      summary: 'Revoke an invite link (its creator or an admin)',
      params: inviteParams,
      responses: { 204: { description: 'Revoked' } },
      errors: ['admins_only', 'not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        await groups.revokeInvite(principal.userId, params.id, params.inviteId, meta(ctx));
        return noContent();
      },
    }),
    route({
      method: 'get',
      path: '/api/group-invites/{token}',
      operationId: 'previewGroupInvite',
      tag: 'groups',
      auth: true,
      rateLimit: 'group-invites',
      summary: 'What an invite link leads to (name, icon, member count), without joining',
      params: tokenParams,
      responses: { 200: { description: 'The preview', schema: z.strictObject({ preview: invitePreview }) } },
      errors: ['not_found', 'invite_expired', 'invite_revoked', 'invite_used_up'],
      handle: async ({ params }) => reply(200, { preview: await groups.previewInvite(params.token, clock().toISOString()) }),
    }),
    route({
      method: 'post',
      path: '/api/group-invites/{token}/join',
      operationId: 'joinGroupByInvite',
      tag: 'groups',
      auth: true,
      rateLimit: 'group-invites',
      summary: 'Join through an invite link, or ask to when the group approves joins',
      params: tokenParams,
      responses: {
        200: { description: 'Joined (or already a member)', schema: joinResult },
        202: { description: 'Asked: an admin approves or declines', schema: joinResult },
      },
      errors: ['not_found', 'invite_expired', 'invite_revoked', 'invite_used_up', 'group_full', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        const result = await groups.joinViaInvite(principal.userId, params.token, meta(ctx));
        return result.status === 'joined' ? reply(200, result) : reply(202, result);
      },
    }),
    route({
      method: 'get',
      path: '/api/groups/{id}/join-requests',
      operationId: 'listGroupJoinRequests',
      tag: 'groups',
      auth: true,
      rateLimit: 'read',
      summary: "The group's pending join requests, oldest first (admins)",
      params: idParams,
      responses: { 200: { description: 'The requests', schema: z.strictObject({ requests: z.array(joinRequest) }) } },
      errors: ['admins_only', 'not_found'],
      handle: async ({ principal, params }) => reply(200, { requests: await groups.listJoinRequests(principal.userId, params.id) }),
    }),
    route({
      method: 'post',
      path: '/api/groups/{id}/join-requests/{requestId}/approve',
      operationId: 'approveGroupJoinRequest',
      tag: 'groups',
      auth: true,
      rateLimit: 'groups',
      summary: 'Approve a join request: the requester becomes a member (admins)',
      params: joinRequestParams,
      responses: { 200: { description: 'The request', schema: requestReply } },
      errors: ['admins_only', 'not_found', 'join_request_decided', 'group_full', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) =>
        reply(200, { request: await groups.decideJoinRequest(principal.userId, params.id, params.requestId, 'approve', meta(ctx)) }),
    }),
    route({
      method: 'post',
      path: '/api/groups/{id}/join-requests/{requestId}/decline',
      operationId: 'declineGroupJoinRequest',
      tag: 'groups',
      auth: true,
      rateLimit: 'groups',
      summary: 'Decline a join request (admins)',
      params: joinRequestParams,
      responses: { 200: { description: 'The request', schema: requestReply } },
      errors: ['admins_only', 'not_found', 'join_request_decided', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) =>
        reply(200, { request: await groups.decideJoinRequest(principal.userId, params.id, params.requestId, 'decline', meta(ctx)) }),
    }),
    route({
      method: 'get',
      path: '/api/group-join-requests',
      operationId: 'listMyJoinRequests',
      tag: 'groups',
      auth: true,
      rateLimit: 'read',
      summary: "The caller's own join requests and what became of them, newest first (at most 100)",
      responses: { 200: { description: 'The requests', schema: z.strictObject({ requests: z.array(joinRequest) }) } },
      errors: [],
      handle: async ({ principal }) => reply(200, { requests: await groups.myJoinRequests(principal.userId) }),
    }),
  ];
}
