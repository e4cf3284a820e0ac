import { followedThreads, threadChanged, threadPage, threadPageQuery } from '../../contract/threadSchemas.ts';
import { idParams } from '../../contract/validation.ts';
import type { ThreadService } from '../../messaging/threadService.ts';
import { actorMetadata } from '../context.ts';
import { reply, route } from '../routeTable.ts';

export interface ThreadRouteDeps {
  threads: ThreadService;
  clock: () => Date;
}

/** Threads (a root message and the replies sent with `threadRootId`), under /api/threads. */
export function threadRoutes({ threads, clock }: ThreadRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'get',
      path: '/api/threads',
      operationId: 'listFollowedThreads',
      tag: 'messages',
      auth: true,
      rateLimit: 'read',
      summary: 'The threads you follow, latest reply first, with unread counts',
      responses: { 200: { description: 'Your threads', schema: followedThreads } },
      errors: [],
      handle: async ({ principal }) => reply(200, await threads.followed(principal.userId)),
    }),
    route({
      method: 'get',
      path: '/api/threads/{id}',
      operationId: 'getThread',
      tag: 'messages',
      auth: true,
      rateLimit: 'read',
      summary: 'A thread: its root, your view of it, and one page of replies (newest first)',
      description: "Page with `before` (the previous page's `cursors.before`). Whoever may read the root may read its thread.",
      params: idParams,
      query: threadPageQuery,
      responses: { 200: { description: 'A page of the thread', schema: threadPage } },
      errors: ['not_found'],
      handle: async ({ principal, params, query }) => reply(200, await threads.get(principal.userId, params.id, query)),
    }),
    route({
      method: 'put',
      path: '/api/threads/{id}/follow',
      operationId: 'followThread',
      tag: 'messages',
      auth: true,
      rateLimit: 'reactions',
      summary: 'Follow a thread: get its frames and count its unread replies (already following: no change)',
      params: idParams,
      responses: { 200: { description: 'Your view of the thread', schema: threadChanged } },
      errors: ['not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => reply(200, await threads.follow(principal.userId, params.id, true, meta(ctx))),
    }),
    route({
      method: 'delete',
      path: '/api/threads/{id}/follow',
      operationId: 'unfollowThread',
      tag: 'messages',
      auth: true,
      rateLimit: 'reactions',
      summary: 'Unfollow a thread (replying in it again follows it again)',
      params: idParams,
      responses: { 200: { description: 'Your view of the thread', schema: threadChanged } },
      errors: ['not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => reply(200, await threads.follow(principal.userId, params.id, false, meta(ctx))),
    }),
    route({
      method: 'post',
      path: '/api/threads/{id}/read',
      operationId: 'markThreadRead',
      tag: 'messages',
      auth: true,
      rateLimit: 'receipts',
      summary: 'Mark every reply of a thread so far read',
      params: idParams,
      responses: { 200: { description: 'Your view of the thread', schema: threadChanged } },
      errors: ['not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => reply(200, await threads.markRead(principal.userId, params.id, meta(ctx))),
    }),
  ];
}
