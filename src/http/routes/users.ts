import { z } from 'zod';
import { foundUser, ownProfile, userProfile } from '../../contract/models.ts';
import type { ProfileService } from '../../people/profileService.ts';
import { publishKeySchema, searchUsersSchema, updateProfileSchema } from '../../contract/peopleSchemas.ts';
import { idParams } from '../../contract/validation.ts';
import { actorMetadata } from '../context.ts';
import { reply, route } from '../routeTable.ts';

export interface UserRouteDeps {
  profiles: ProfileService;
  clock: () => Date;
}

const ownProfileReply = z.strictObject({ profile: ownProfile }).meta({ id: 'OwnProfileReply' });

/** Profiles under /api/users: the caller's own first, so `profile` and `search` are not read as ids. */
export function userRoutes({ profiles, clock }: UserRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'get',
      path: '/api/users/profile',
      operationId: 'getOwnProfile',
      tag: 'people',
      auth: true,
      rateLimit: 'read',
      summary: "The caller's profile, privacy settings and assistant preferences",
      responses: { 200: { description: 'The profile', schema: ownProfileReply } },
      errors: [],
      handle: async ({ principal }) => reply(200, { profile: await profiles.own(principal.userId) }),
    }),
    route({
      method: 'put',
      path: '/api/users/profile',
      operationId: 'updateOwnProfile',
      tag: 'people',
      auth: true,
      rateLimit: 'profile',
      summary: 'Change the display name, about text, privacy settings or assistant preferences',
      description:
        'Only the fields given change. One event for the profile and one for the privacy settings; the people who may see ' +
        'the user get one `user.updated` frame. Privacy: `lastSeen`, `online`, `avatar`, `about` are each `everyone`, `contacts` ' +
        "(the people you added) or `nobody`; `readReceipts: false` hides your read receipts and shows you no one else's.",
      body: updateProfileSchema,
      responses: { 200: { description: 'The profile', schema: ownProfileReply } },
      errors: ['concurrency_conflict'],
      handle: async ({ principal, body, ctx }) => reply(200, { profile: await profiles.update(principal.userId, body, meta(ctx)) }),
    }),
    route({
      method: 'put',
      path: '/api/users/encryption-key',
      operationId: 'publishEncryptionKey',
      tag: 'people',
      auth: true,
      rateLimit: 'profile',
      summary: 'Publish a public key for end-to-end encrypted direct messages',
      description:
        'An X25519 public key under an id of your choosing; others encrypt to your newest key and name it in `recipientKeyId`. ' +
        'Older keys stay published so older messages stay readable. The same key under the same id again changes nothing; another ' +
        "key under a used id is refused. The secret key stays on your devices (see the client's `client/e2e.ts`).",
      body: publishKeySchema,
      responses: { 200: { description: 'The profile with its keys', schema: ownProfileReply } },
      errors: ['key_id_taken', 'encryption_keys_limit', 'concurrency_conflict'],
      handle: async ({ principal, body, ctx }) => reply(200, { profile: await profiles.publishKey(principal.userId, body, meta(ctx)) }),
    }),
    route({
      // The key id in the query: under `/api/users/encryption-key/{keyId}` a key named `api-key` was also the path of
      // `/api/users/{userId}/api-key`, and which operation ran depended on the order the routes were registered in.
      method: 'delete',
      path: '/api/users/encryption-key',
      operationId: 'retireEncryptionKey',
      tag: 'people',
      auth: true,
      rateLimit: 'profile',
      summary: 'Retire one of your end-to-end encryption keys',
      description:
        'Others stop encrypting to it; it stays on your profile (with `retiredAt`) so the messages already encrypted with it ' +
        'can still be opened. At most 20 keys are in use at once; retiring one makes room for a rotation.',
      query: z.strictObject({ keyId: publishKeySchema.shape.keyId }),
      responses: { 200: { description: 'The profile with its keys', schema: ownProfileReply } },
      errors: ['not_found', 'concurrency_conflict'],
      handle: async ({ principal, query, ctx }) =>
        reply(200, { profile: await profiles.retireKey(principal.userId, query.keyId, meta(ctx)) }),
    }),
    route({
      method: 'get',
      path: '/api/users/search',
      operationId: 'searchUsers',
      tag: 'people',
      auth: true,
      rateLimit: 'search',
      summary: 'Users whose username starts with `q` (at least 3 characters; at most 20 results; never by email)',
      query: searchUsersSchema,
      responses: {
        200: { description: 'Matches, without anyone with a block either way', schema: z.strictObject({ users: z.array(foundUser) }) },
      },
      errors: [],
      handle: async ({ principal, query }) => reply(200, { users: await profiles.search(principal.userId, query.q) }),
    }),
    route({
      method: 'get',
      path: '/api/users/{id}',
      operationId: 'getUser',
      tag: 'people',
      auth: true,
      rateLimit: 'read',
      summary: 'Another user as the caller may see them',
      params: idParams,
      responses: { 200: { description: 'The user', schema: z.strictObject({ user: userProfile }) } },
      errors: ['not_found'],
      handle: async ({ principal, params }) => reply(200, { user: await profiles.view(principal.userId, params.id) }),
    }),
  ];
}
