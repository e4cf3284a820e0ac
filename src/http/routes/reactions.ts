import { messageReactions, reactorPage } from '../../contract/reactionModels.ts';
import { listReactionsSchema, reactionParams } from '../../contract/reactionSchemas.ts';
import { idParams } from '../../contract/validation.ts';
import type { ReactionService } from '../../messaging/reactionService.ts';
import { actorMetadata } from '../context.ts';
import { reply, route } from '../routeTable.ts';

export interface ReactionRouteDeps {
  reactions: ReactionService;
  clock: () => Date;
}

/** Reactions to messages, under /api/messages/{id}/reactions. */
export function reactionRoutes({ reactions, clock }: ReactionRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'put',
      path: '/api/messages/{id}/reactions/{emoji}',
      operationId: 'addReaction',
      tag: 'messages',
      auth: true,
      rateLimit: 'reactions',
      summary: 'React to a message with one emoji (again: no change)',
      description: `At most 20 distinct emoji per message. Not across a block (with the peer, or with the sender in a group).`,
      params: reactionParams,
      responses: { 200: { description: "The message's reactions", schema: messageReactions } },
      errors: ['not_found', 'blocked', 'message_deleted', 'reactions_limit', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) =>
        reply(200, await reactions.set(principal.userId, params.id, params.emoji, true, meta(ctx))),
    }),
    route({
      method: 'delete',
      path: '/api/messages/{id}/reactions/{emoji}',
      operationId: 'removeReaction',
      tag: 'messages',
      auth: true,
      rateLimit: 'reactions',
      summary: "Take back the caller's reaction (none: no change)",
      params: reactionParams,
      responses: { 200: { description: "The message's reactions", schema: messageReactions } },
      errors: ['not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) =>
        reply(200, await reactions.set(principal.userId, params.id, params.emoji, false, meta(ctx))),
    }),
    route({
      method: 'get',
      path: '/api/messages/{id}/reactions',
      operationId: 'listReactions',
      tag: 'messages',
      auth: true,
      rateLimit: 'read',
      summary: 'Who reacted to a message (with `emoji`, or with any), oldest first',
      description: "Page with `after` (the previous page's `cursor`). People with a block either way with the caller are left out.",
      params: idParams,
      query: listReactionsSchema,
      responses: { 200: { description: 'A page of reactors', schema: reactorPage } },
      errors: ['not_found'],
      handle: async ({ principal, params, query }) => reply(200, await reactions.who(principal.userId, params.id, query)),
    }),
  ];
}
