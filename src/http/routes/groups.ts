import { z } from 'zod';
import { group } from '../../contract/models.ts';
import type { GroupService } from '../../messaging/groupService.ts';
import { addMemberSchema, createGroupSchema, transferOwnershipSchema, updateGroupSchema } from '../../contract/messagingSchemas.ts';
import { id, idParams } from '../../contract/validation.ts';
import { actorMetadata } from '../context.ts';
import { noContent, reply, route } from '../routeTable.ts';

export interface GroupRouteDeps {
  groups: GroupService;
  clock: () => Date;
}

const groupReply = z.strictObject({ group }).meta({ id: 'GroupReply' });
const memberParams = z.strictObject({ id, userId: id });

/** Groups, their members and roles, under /api/groups. */
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
      errors: ['forbidden', 'not_found', 'invalid_attachment', 'concurrency_conflict'],
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
      errors: ['forbidden', 'not_found', 'owner_role', 'group_full', 'concurrency_conflict'],
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
  ];
}
