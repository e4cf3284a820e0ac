import { z } from 'zod';
import { presenceView } from '../../contract/models.ts';
import type { PresenceService } from '../../presence/presenceService.ts';
import { id } from '../../contract/validation.ts';
import { actorMetadata } from '../context.ts';
import { reply, route } from '../routeTable.ts';

export interface PresenceRouteDeps {
  presence: PresenceService;
  clock: () => Date;
}

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const userIdList = z
  .string()
  .regex(new RegExp(`^${UUID}(,${UUID}){0,99}$`), 'Up to 100 comma-separated user ids')
  .transform((value) => value.split(','))
  .pipe(z.array(id).min(1).max(100));

/** Presence over REST: what the caller may see of up to 100 users, and the caller's own mode. */
export function presenceRoutes({ presence, clock }: PresenceRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'get',
      path: '/api/presence',
      operationId: 'getPresence',
      tag: 'people',
      auth: true,
      rateLimit: 'read',
      summary: 'Presence of up to 100 users, as the caller may see it',
      description:
        "Shown only to people who added the user, whom the user added, or who share a direct conversation, per the user's " +
        "`online` / `lastSeen` settings, never across a block; a viewer who hides their own sees no one's. Hidden, invisible and unknown " +
        'users alike look offline with no last seen. `unknown` when presence is turned off (`PRESENCE_ENABLED=false`).',
      query: z.strictObject({ userIds: userIdList.meta({ description: 'Comma-separated user ids' }) }),
      responses: { 200: { description: 'One entry per id, in order', schema: z.strictObject({ users: z.array(presenceView) }) } },
      errors: [],
      handle: async ({ principal, query }) => reply(200, { users: await presence.view(principal.userId, query.userIds) }),
    }),
    route({
      method: 'put',
      path: '/api/presence',
      operationId: 'setPresenceMode',
      tag: 'people',
      auth: true,
      rateLimit: 'presence',
      summary: 'Choose how you appear: auto, away, dnd (do not disturb) or invisible (offline to others, last seen frozen)',
      body: z.strictObject({
        mode: z.enum(['auto', 'away', 'dnd', 'invisible']),
        statusText: z
          .string()
          .trim()
          .max(100)
          .refine((value) => !/\p{Cc}/u.test(value), 'No control characters')
          .nullable()
          .optional(),
        expiresInSeconds: z.number().int().min(60).max(604_800).optional(),
      }),
      responses: {
        200: {
          description: 'The mode now in force',
          schema: z.strictObject({
            presence: z.strictObject({
              mode: z.enum(['auto', 'away', 'dnd', 'invisible']),
              statusText: z.string().nullable(),
              expiresAt: z.iso.datetime().nullable(),
            }),
          }),
        },
      },
      errors: ['presence_disabled', 'concurrency_conflict'],
      handle: async ({ principal, body, ctx }) => reply(200, { presence: await presence.setMode(principal.userId, body, meta(ctx)) }),
    }),
  ];
}
