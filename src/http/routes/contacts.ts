import { z } from 'zod';
import { blockedUser, contact } from '../../contract/models.ts';
import type { ContactService } from '../../people/contactService.ts';
import { addContactSchema, listContactsSchema, renameContactSchema, userIdParams } from '../../contract/peopleSchemas.ts';
import { actorMetadata } from '../context.ts';
import { noContent, reply, route } from '../routeTable.ts';

export interface ContactRouteDeps {
  contacts: ContactService;
  clock: () => Date;
}

const contactReply = z.strictObject({ contact }).meta({ id: 'ContactReply' });

/** The caller's contacts and blocks, under /api/contacts and /api/blocks. */
export function contactRoutes({ contacts, clock }: ContactRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'get',
      path: '/api/contacts',
      operationId: 'listContacts',
      tag: 'people',
      auth: true,
      rateLimit: 'read',
      summary: "The caller's contacts, in the order they were added",
      query: listContactsSchema,
      responses: {
        200: {
          description: 'A page; pass `nextCursor` as `cursor` for the next',
          schema: z.strictObject({ contacts: z.array(contact), nextCursor: z.number().int().nullable() }),
        },
      },
      errors: [],
      handle: async ({ principal, query }) => reply(200, await contacts.list(principal.userId, query)),
    }),
    route({
      method: 'post',
      path: '/api/contacts',
      operationId: 'addContact',
      tag: 'people',
      auth: true,
      rateLimit: 'contacts',
      summary: 'Add a contact by user id or username',
      body: addContactSchema,
      responses: { 201: { description: 'Added', schema: contactReply }, 200: { description: 'Already a contact', schema: contactReply } },
      errors: ['not_found', 'contacts_limit', 'concurrency_conflict'],
      handle: async ({ principal, body, ctx }) => {
        const { contact: added, created } = await contacts.add(principal.userId, body, meta(ctx));
        return created ? reply(201, { contact: added }) : reply(200, { contact: added });
      },
    }),
    route({
      method: 'patch',
      path: '/api/contacts/{userId}',
      operationId: 'renameContact',
      tag: 'people',
      auth: true,
      rateLimit: 'contacts',
      summary: "Set or clear (null) a contact's nickname",
      params: userIdParams,
      body: renameContactSchema,
      responses: { 200: { description: 'The contact', schema: contactReply } },
      errors: ['not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) =>
        reply(200, { contact: await contacts.rename(principal.userId, params.userId, body.nickname, meta(ctx)) }),
    }),
    route({
      method: 'delete',
      path: '/api/contacts/{userId}',
      operationId: 'removeContact',
      tag: 'people',
      auth: true,
      rateLimit: 'contacts',
      summary: 'Remove a contact (also when absent)',
      params: userIdParams,
      responses: { 204: { description: 'Not a contact now' } },
      errors: ['concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        await contacts.remove(principal.userId, params.userId, meta(ctx));
        return noContent();
      },
    }),
    route({
      method: 'get',
      path: '/api/blocks',
      operationId: 'listBlocks',
      tag: 'people',
      auth: true,
      rateLimit: 'read',
      summary: 'The users the caller has blocked',
      responses: { 200: { description: 'Blocked users', schema: z.strictObject({ blocked: z.array(blockedUser) }) } },
      errors: [],
      handle: async ({ principal }) => reply(200, { blocked: await contacts.blocked(principal.userId) }),
    }),
    route({
      method: 'put',
      path: '/api/blocks/{userId}',
      operationId: 'blockUser',
      tag: 'people',
      auth: true,
      rateLimit: 'contacts',
      summary: 'Block a user',
      description:
        'Stops direct messages both ways (403 `blocked`), their adding you to groups (skipped silently), and presence, ' +
        'last seen, typing, receipts and profile details both ways. Group messages still flow. Nothing is delivered later on unblock.',
      params: userIdParams,
      responses: { 204: { description: 'Blocked' } },
      errors: ['not_found', 'blocks_limit', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        await contacts.block(principal.userId, params.userId, meta(ctx));
        return noContent();
      },
    }),
    route({
      method: 'delete',
      path: '/api/blocks/{userId}',
      operationId: 'unblockUser',
      tag: 'people',
      auth: true,
      rateLimit: 'contacts',
      summary: 'Unblock a user (also when not blocked)',
      params: userIdParams,
      responses: { 204: { description: 'Not blocked now' } },
      errors: ['concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        await contacts.unblock(principal.userId, params.userId, meta(ctx));
        return noContent();
      },
    }),
  ];
}
