import { z } from 'zod';
import { conversationTimer, setTimerSchema, timerQuerySchema } from '../../contract/disappearingSchemas.ts';
import type { DisappearingService } from '../../messaging/disappearingService.ts';
import { actorMetadata } from '../context.ts';
import { reply, route } from '../routeTable.ts';

export interface DisappearingRouteDeps {
  disappearing: DisappearingService;
  clock: () => Date;
}

const timerReply = z.strictObject({ timer: conversationTimer }).meta({ id: 'ConversationTimerReply' });

/** Disappearing messages: a conversation's timer, under /api/conversations/timer. */
export function disappearingRoutes({ disappearing, clock }: DisappearingRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'get',
      path: '/api/conversations/timer',
      operationId: 'getDisappearingTimer',
      tag: 'messages',
      auth: true,
      rateLimit: 'read',
      summary: "A conversation's disappearing-messages timer",
      description: 'Give `with` (the other user) or `groupId`.',
      query: timerQuerySchema,
      responses: { 200: { description: 'The timer', schema: timerReply } },
      errors: ['not_found'],
      handle: async ({ principal, query }) => reply(200, { timer: await disappearing.get(principal.userId, query) }),
    }),
    route({
      method: 'put',
      path: '/api/conversations/timer',
      operationId: 'setDisappearingTimer',
      tag: 'messages',
      auth: true,
      rateLimit: 'msg',
      summary: 'Set how long messages stay in a conversation (either participant; in a group, its admins)',
      description:
        'Messages sent from now on disappear that long after they are sent (earlier ones keep the expiry they were sent with): ' +
        'removed from every view, their content key destroyed, `message.expired` pushed. Everyone in the conversation ' +
        'gets `conversation.timer`.',
      body: setTimerSchema,
      responses: { 200: { description: 'The timer as it now stands', schema: timerReply } },
      errors: ['forbidden', 'not_found', 'concurrency_conflict'],
      handle: async ({ principal, body: { timer, ...conversation }, ctx }) =>
        reply(200, { timer: await disappearing.set(principal.userId, conversation, timer, meta(ctx)) }),
    }),
  ];
}
