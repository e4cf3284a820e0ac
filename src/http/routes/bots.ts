import { botList, botWithToken, createBotSchema } from '../../contract/botSchemas.ts';
import { idParams } from '../../contract/validation.ts';
import type { BotService } from '../../auth/botService.ts';
import { actorMetadata } from '../context.ts';
import { noContent, reply, route } from '../routeTable.ts';

export interface BotRouteDeps {
  bots: BotService;
  /** BOTS_MAX_PER_OWNER, for the description. */
  maxPerOwner: number;
  clock: () => Date;
}

const TOKEN_USE =
  'The bot sends `Authorization: Bearer <token>` on REST and on the socket (`?token=` or the header), like an access token; ' +
  'it does not expire. Only its hash is kept: a lost token is replaced with POST /api/bots/{id}/token.';

/** POST/GET /api/bots, POST/DELETE /api/bots/{id}/token, DELETE /api/bots/{id}: the caller's bot accounts. */
export function botRoutes({ bots, maxPerOwner, clock }: BotRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'post',
      path: '/api/bots',
      operationId: 'createBot',
      tag: 'bots',
      auth: true,
      rateLimit: 'bots',
      summary: 'Make a bot account owned by the caller; its token is in the answer, once',
      description:
        `A bot is a user marked \`isBot\` everywhere it appears (profiles, \`senderIsBot\` on its messages). ${TOKEN_USE} ` +
        `At most ${maxPerOwner} bots per owner (\`BOTS_MAX_PER_OWNER\`). A bot cannot log in with a password, make bots or use Leta.`,
      body: createBotSchema,
      responses: { 201: { description: 'Made: the bot and its token', schema: botWithToken } },
      errors: ['username_taken', 'bots_limit', 'not_for_bots', 'user_exists', 'concurrency_conflict'],
      handle: async ({ principal, body, ctx }) => reply(201, await bots.create(principal, body, meta(ctx))),
    }),
    route({
      method: 'get',
      path: '/api/bots',
      operationId: 'listBots',
      tag: 'bots',
      auth: true,
      rateLimit: 'read',
      summary: "The caller's bots, oldest first (never their tokens)",
      responses: { 200: { description: 'The bots', schema: botList } },
      errors: ['not_for_bots'],
      handle: async ({ principal }) => reply(200, { bots: await bots.list(principal) }),
    }),
    route({
      method: 'post',
      path: '/api/bots/{id}/token',
      operationId: 'rotateBotToken',
      tag: 'bots',
      auth: true,
      rateLimit: 'bots',
      summary: 'Issue the bot a new token; the old one is refused at once',
      description: `The old token's sockets are closed (4401 \`token_revoked\`) on every instance. ${TOKEN_USE} 404 for a bot that is not the caller's.`,
      params: idParams,
      responses: { 201: { description: 'The new token, shown once', schema: botWithToken } },
      errors: ['not_found', 'not_for_bots', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => reply(201, await bots.issueToken(principal, params.id, meta(ctx))),
    }),
    route({
      method: 'delete',
      path: '/api/bots/{id}/token',
      operationId: 'revokeBotToken',
      tag: 'bots',
      auth: true,
      rateLimit: 'bots',
      summary: "Revoke the bot's token without issuing another",
      description:
        "Its sockets are closed (4401 `token_revoked`); POST /api/bots/{id}/token issues a new one. 404 for a bot that is not the caller's.",
      params: idParams,
      responses: { 204: { description: 'Revoked (or it had none)' } },
      errors: ['not_found', 'not_for_bots', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        await bots.revokeToken(principal, params.id, meta(ctx));
        return noContent();
      },
    }),
    route({
      method: 'delete',
      path: '/api/bots/{id}',
      operationId: 'deleteBot',
      tag: 'bots',
      auth: true,
      rateLimit: 'bots',
      summary: 'Delete a bot account',
      description:
        'An account deletion (DELETE /api/users/me) done by its owner, without a password or a window: its sockets are closed ' +
        '(4401 `account_deleted`), its token refused, its groups left, its data key destroyed and its username free again. Its messages ' +
        "stay with the people who received them. 404 for a bot that is not the caller's.",
      params: idParams,
      responses: { 204: { description: 'Deleted' } },
      errors: ['not_found', 'not_for_bots', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        await bots.delete(principal, params.id, meta(ctx));
        return noContent();
      },
    }),
  ];
}
