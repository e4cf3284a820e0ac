import Router from '@koa/router';
import type { Authenticator } from '../../auth/authenticator.ts';
import type { MessagingService } from '../../messaging/messagingService.ts';
import {
  deleteMessageSchema, editMessageSchema, listConversationsSchema, listMessagesSchema, markSchema, sendMessageSchema,
} from '../../messaging/schemas.ts';
import { id, parse } from '../../validation.ts';
import { actorMetadata, principalOf, requireAuth } from '../context.ts';

export interface MessageRouteDeps {
  messaging: MessagingService;
  authenticator: Authenticator;
  clock: () => Date;
}

/** Direct and group messages, receipts and the conversation list, under /api. */
export function messageRoutes({ messaging, authenticator, clock }: MessageRouteDeps): Router {
  const router = new Router({ prefix: '/api' });
  router.use(requireAuth(authenticator));
  const meta = actorMetadata(clock);

  router.get('/messages', async (ctx) => {
    ctx.body = await messaging.list(principalOf(ctx).userId, parse(listMessagesSchema, ctx.query), meta(ctx));
  });

  router.post('/messages', async (ctx) => {
    const result = await messaging.send(principalOf(ctx).userId, parse(sendMessageSchema, ctx.request.body), meta(ctx));
    ctx.status = result.created ? 201 : 200;
    ctx.body = { message: result.message };
  });

  router.post('/messages/read', async (ctx) => {
    const { messageId, ...conversation } = parse(markSchema, ctx.request.body);
    ctx.body = await messaging.markRead(principalOf(ctx).userId, conversation, messageId, meta(ctx));
  });

  router.get('/messages/:id/history', async (ctx) => {
    ctx.body = await messaging.history(principalOf(ctx).userId, parse(id, ctx.params.id));
  });

  router.put('/messages/:id', async (ctx) => {
    const content = parse(editMessageSchema, ctx.request.body);
    ctx.body = { message: await messaging.edit(principalOf(ctx).userId, parse(id, ctx.params.id), content, meta(ctx)) };
  });

  router.delete('/messages/:id', async (ctx) => {
    const { scope } = parse(deleteMessageSchema, ctx.query);
    await messaging.delete(principalOf(ctx).userId, parse(id, ctx.params.id), scope, meta(ctx));
    ctx.status = 204;
  });

  router.get('/conversations', async (ctx) => {
    ctx.body = { conversations: await messaging.conversations(principalOf(ctx).userId, parse(listConversationsSchema, ctx.query)) };
  });

  return router;
}
