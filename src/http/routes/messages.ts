import { z } from 'zod';
import { conversationListItem, message, messageHistory, messagePage, receiptMoved } from '../../contract/models.ts';
import type { MessagingService } from '../../messaging/messagingService.ts';
import type { ScheduledMessageService } from '../../messaging/scheduledMessageService.ts';
import { scheduledMessage, sendOrScheduleMessageSchema } from '../../contract/scheduledSchemas.ts';
import {
  deleteMessageSchema,
  editMessageSchema,
  listConversationsSchema,
  listMessagesSchema,
  markSchema,
} from '../../contract/messagingSchemas.ts';
import { idParams } from '../../contract/validation.ts';
import { actorMetadata } from '../context.ts';
import { noContent, reply, route } from '../routeTable.ts';

export interface MessageRouteDeps {
  messaging: MessagingService;
  scheduled: ScheduledMessageService;
  clock: () => Date;
}

const messageReply = z.strictObject({ message }).meta({ id: 'MessageReply' });
const scheduledReply = z.strictObject({ scheduled: scheduledMessage }).meta({ id: 'ScheduledMessageReply' });

/** Direct and group messages, receipts and the conversation list, under /api. */
export function messageRoutes({ messaging, scheduled, clock }: MessageRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'get',
      path: '/api/messages',
      operationId: 'listMessages',
      tag: 'messages',
      auth: true,
      rateLimit: 'read',
      summary: 'One page of a conversation, newest first',
      description:
        'Give `with` (the other user) or `groupId`; page with `before` or `after` (positions). Reading marks what others sent as delivered.',
      query: listMessagesSchema,
      responses: { 200: { description: 'A page', schema: messagePage } },
      errors: ['not_found'],
      handle: async ({ principal, query, ctx }) => reply(200, await messaging.list(principal.userId, query, meta(ctx))),
    }),
    route({
      method: 'post',
      path: '/api/messages',
      operationId: 'sendMessage',
      tag: 'messages',
      auth: true,
      rateLimit: 'msg',
      summary: 'Send a message to a user or a group',
      description:
        'Durable when answered; answered before the projections catch up (any later request waits for them). A retry ' +
        'with the same `clientMessageId` answers 200 with the first message. With `sendAt` (a text, 10 s to 1 year ahead) ' +
        'it is scheduled instead: 202 with the scheduled message, sent at its time as a normal message (see Scheduled messages).',
      answersWhenDurable: true,
      body: sendOrScheduleMessageSchema,
      responses: {
        201: { description: 'Sent', schema: messageReply },
        200: { description: 'A retry: the message sent the first time', schema: messageReply },
        202: { description: 'Scheduled (a retry with the same `clientMessageId` answers the same one)', schema: scheduledReply },
      },
      errors: [
        'forbidden',
        'admins_only',
        'blocked',
        'not_found',
        'invalid_attachment',
        'message_exists',
        'schedule_exists',
        'concurrency_conflict',
      ],
      handle: async ({ principal, body: { sendAt, ...body }, ctx }) => {
        if (sendAt !== undefined) {
          const { text, recipientId, groupId, clientMessageId } = body;
          const result = await scheduled.schedule(
            principal.userId,
            { text: text!, recipientId, groupId, clientMessageId, sendAt },
            meta(ctx),
          );
          return reply(202, { scheduled: result.scheduled });
        }
        const result = await messaging.send(principal.userId, body, meta(ctx));
        return result.created ? reply(201, { message: result.message }) : reply(200, { message: result.message });
      },
    }),
    route({
      method: 'post',
      path: '/api/messages/read',
      operationId: 'markRead',
      tag: 'messages',
      auth: true,
      rateLimit: 'receipts',
      summary: "Move the caller's read watermark up to a message",
      body: markSchema,
      responses: { 200: { description: 'The watermark', schema: receiptMoved } },
      errors: ['not_found', 'concurrency_conflict'],
      handle: async ({ principal, body: { messageId, ...conversation }, ctx }) =>
        reply(200, await messaging.markRead(principal.userId, conversation, messageId, meta(ctx))),
    }),
    route({
      method: 'get',
      path: '/api/messages/{id}/history',
      operationId: 'messageHistory',
      tag: 'messages',
      auth: true,
      rateLimit: 'read',
      summary: 'The original and every edit of a message, from the event log',
      params: idParams,
      responses: { 200: { description: 'Every version', schema: messageHistory } },
      errors: ['not_found'],
      handle: async ({ principal, params }) => reply(200, await messaging.history(principal.userId, params.id)),
    }),
    route({
      method: 'put',
      path: '/api/messages/{id}',
      operationId: 'editMessage',
      tag: 'messages',
      auth: true,
      rateLimit: 'msg',
      summary: 'Edit a message (the sender only)',
      params: idParams,
      body: editMessageSchema,
      responses: { 200: { description: 'The edited message', schema: messageReply } },
      errors: ['forbidden', 'not_found', 'message_deleted', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) =>
        reply(200, { message: await messaging.edit(principal.userId, params.id, body, meta(ctx)) }),
    }),
    route({
      method: 'delete',
      path: '/api/messages/{id}',
      operationId: 'deleteMessage',
      tag: 'messages',
      auth: true,
      rateLimit: 'msg',
      summary: 'Delete a message for everyone (the sender) or for the caller only',
      params: idParams,
      query: deleteMessageSchema,
      responses: { 204: { description: 'Deleted' } },
      errors: ['forbidden', 'not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, query, ctx }) => {
        await messaging.delete(principal.userId, params.id, query.scope, meta(ctx));
        return noContent();
      },
    }),
    route({
      method: 'get',
      path: '/api/conversations',
      operationId: 'listConversations',
      tag: 'messages',
      auth: true,
      rateLimit: 'read',
      summary: "The caller's conversations, most recent activity first, with unread counts",
      query: listConversationsSchema,
      responses: {
        200: { description: 'A page of conversations', schema: z.strictObject({ conversations: z.array(conversationListItem) }) },
      },
      errors: [],
      handle: async ({ principal, query }) => reply(200, { conversations: await messaging.conversations(principal.userId, query) }),
    }),
  ];
}
