import { z } from 'zod';
import { editScheduledMessageSchema, listScheduledMessagesSchema, scheduledMessage } from '../../contract/scheduledSchemas.ts';
import { idParams } from '../../contract/validation.ts';
import type { ScheduledMessageService } from '../../messaging/scheduledMessageService.ts';
import { actorMetadata } from '../context.ts';
import { noContent, reply, route } from '../routeTable.ts';

export interface ScheduledMessageRouteDeps {
  scheduled: ScheduledMessageService;
  clock: () => Date;
}

/** The sender's scheduled messages (scheduled with `sendAt` on POST /api/messages): list, edit, cancel. */
export function scheduledMessageRoutes({ scheduled, clock }: ScheduledMessageRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'get',
      path: '/api/scheduled-messages',
      operationId: 'listScheduledMessages',
      tag: 'messages',
      auth: true,
      rateLimit: 'read',
      summary: "The caller's scheduled messages, soonest first",
      description: 'Pending ones carry their text; sent ones name the message they became; failed ones say why (`reason`).',
      query: listScheduledMessagesSchema,
      responses: { 200: { description: 'Scheduled messages', schema: z.strictObject({ scheduled: z.array(scheduledMessage) }) } },
      errors: [],
      handle: async ({ principal, query }) => reply(200, { scheduled: await scheduled.list(principal.userId, query) }),
    }),
    route({
      method: 'put',
      path: '/api/scheduled-messages/{id}',
      operationId: 'editScheduledMessage',
      tag: 'messages',
      auth: true,
      rateLimit: 'msg',
      summary: 'Change the text or the time of a pending scheduled message (the sender only)',
      description: 'Until 1 s before its time; the new time again 10 s to 1 year ahead.',
      params: idParams,
      body: editScheduledMessageSchema,
      responses: { 200: { description: 'The scheduled message', schema: z.strictObject({ scheduled: scheduledMessage }) } },
      errors: ['not_found', 'schedule_closed', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) =>
        reply(200, { scheduled: await scheduled.edit(principal.userId, params.id, body, meta(ctx)) }),
    }),
    route({
      method: 'delete',
      path: '/api/scheduled-messages/{id}',
      operationId: 'cancelScheduledMessage',
      tag: 'messages',
      auth: true,
      rateLimit: 'msg',
      summary: 'Cancel a pending scheduled message, or dismiss a failed one; its text is erased',
      params: idParams,
      responses: { 204: { description: 'Cancelled' } },
      errors: ['not_found', 'schedule_closed', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        await scheduled.cancel(principal.userId, params.id, meta(ctx));
        return noContent();
      },
    }),
  ];
}
