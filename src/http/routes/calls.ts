import { z } from 'zod';
import type { CallService } from '../../calls/callService.ts';
import { clientMessageId } from '../../contract/messagingSchemas.ts';
import { id, idParams, queryInteger } from '../../contract/validation.ts';
import { actorMetadata } from '../context.ts';
import { reply, route } from '../routeTable.ts';

export interface CallRouteDeps {
  calls: CallService;
  clock: () => Date;
}

const call = z
  .strictObject({
    id: z.uuid(),
    state: z.enum(['ringing', 'active', 'ended']),
    media: z.enum(['audio', 'video']),
    callerId: z.uuid(),
    invitees: z.array(z.uuid()),
    groupId: z.uuid().nullable(),
    direction: z.enum(['outgoing', 'incoming']),
    peerId: z.uuid().nullable(),
    outcome: z.enum(['answered', 'missed', 'rejected', 'cancelled', 'failed']).nullable(),
    reason: z.enum(['hangup', 'rejected', 'missed', 'cancelled', 'busy', 'disconnected', 'failed', 'max_duration']).nullable(),
    ringDeadline: z.iso.datetime(),
    startedAt: z.iso.datetime(),
    answeredAt: z.iso.datetime().nullable(),
    endedAt: z.iso.datetime().nullable(),
    durationMs: z.number().int().nullable(),
    position: z.number().int(),
  })
  .meta({ id: 'Call' });
const iceServer = z
  .strictObject({ urls: z.array(z.string()), username: z.string().optional(), credential: z.string().optional() })
  .meta({ id: 'IceServer' });
const callReply = z.strictObject({ call }).meta({ id: 'CallReply' });
const connection = z.strictObject({
  connectionId: z.number().int().min(1).meta({ description: 'The socket that takes the call (from its welcome frame)' }),
});

/** Calls under /api/calls: the seed's initiate, answer and end, with reject, history and TURN credentials. */
export function callRoutes({ calls, clock }: CallRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'get',
      path: '/api/calls/turn-credentials',
      operationId: 'turnCredentials',
      tag: 'calls',
      auth: true,
      rateLimit: 'call',
      summary: 'ICE servers for WebRTC: STUN, and TURN with short-lived credentials (coturn use-auth-secret) when configured',
      responses: {
        200: {
          description: 'ICE servers',
          schema: z.strictObject({ iceServers: z.array(iceServer), ttl: z.number().int(), expiresAt: z.iso.datetime() }),
        },
      },
      errors: [],
      handle: ({ principal }) => reply(200, calls.turn(principal.userId)),
    }),
    route({
      method: 'post',
      path: '/api/calls/initiate',
      operationId: 'initiateCall',
      tag: 'calls',
      auth: true,
      rateLimit: 'call',
      summary: 'Call a user or a group: every device of every invitee rings (`call.incoming`) until the first answer or the ring timeout',
      body: z
        .strictObject({
          calleeId: id.optional(),
          groupId: id.optional(),
          media: z.enum(['audio', 'video']),
          clientCallId: clientMessageId.optional(),
        })
        .refine((value) => (value.calleeId === undefined) !== (value.groupId === undefined), {
          message: 'Give exactly one of calleeId and groupId',
          path: ['calleeId'],
        }),
      responses: { 201: { description: 'Ringing', schema: z.strictObject({ call, iceServers: z.array(iceServer) }) } },
      errors: ['not_found', 'blocked', 'call_in_progress', 'concurrency_conflict'],
      handle: async ({ principal, body, ctx }) => reply(201, await calls.initiate(principal.userId, body, meta(ctx))),
    }),
    route({
      method: 'post',
      path: '/api/calls/{id}/answer',
      operationId: 'answerCall',
      tag: 'calls',
      auth: true,
      rateLimit: 'call-signal',
      summary: 'Answer (direct) or join (group) a call on one of your sockets: the first answer wins, the other devices stop ringing',
      params: idParams,
      body: connection,
      responses: { 200: { description: 'Answered', schema: callReply } },
      errors: ['not_found', 'already_answered', 'call_ended', 'call_full', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) =>
        reply(200, { call: await calls.answer(principal.userId, params.id, body.connectionId, meta(ctx)) }),
    }),
    route({
      method: 'post',
      path: '/api/calls/{id}/reject',
      operationId: 'rejectCall',
      tag: 'calls',
      auth: true,
      rateLimit: 'call-signal',
      summary: 'Say no: a direct call ends (`rejected`); a group call rings on for the others',
      params: idParams,
      responses: { 200: { description: 'Rejected', schema: callReply } },
      errors: ['not_found', 'already_answered', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => reply(200, { call: await calls.reject(principal.userId, params.id, meta(ctx)) }),
    }),
    route({
      method: 'post',
      path: '/api/calls/{id}/end',
      operationId: 'endCall',
      tag: 'calls',
      auth: true,
      rateLimit: 'call-signal',
      summary:
        'Hang up (idempotent): ends a direct call (cancels one still ringing); in a group call the caller ends it for everyone, anyone else leaves',
      params: idParams,
      body: z.strictObject({ reason: z.enum(['hangup', 'busy', 'failed']).default('hangup') }),
      responses: { 200: { description: 'Ended', schema: callReply } },
      errors: ['not_found', 'concurrency_conflict'],
      handle: async ({ principal, params, body, ctx }) =>
        reply(200, { call: await calls.end(principal.userId, params.id, body.reason, meta(ctx)) }),
    }),
    route({
      method: 'get',
      path: '/api/calls',
      operationId: 'listCalls',
      tag: 'calls',
      auth: true,
      rateLimit: 'read',
      summary: 'Your call history, newest first: direction, outcome (answered, missed, rejected, cancelled, failed), times, duration',
      query: z.strictObject({
        before: queryInteger(z.number().int().min(0)).optional(),
        limit: queryInteger(z.number().int().min(1).max(100)).default(50),
      }),
      responses: {
        200: {
          description: 'A page',
          schema: z.strictObject({
            calls: z.array(call),
            hasMore: z.boolean(),
            cursors: z.strictObject({ before: z.number().int().nullable() }),
          }),
        },
      },
      errors: [],
      handle: async ({ principal, query }) => reply(200, await calls.history(principal.userId, query)),
    }),
    route({
      method: 'get',
      path: '/api/calls/{id}',
      operationId: 'getCall',
      tag: 'calls',
      auth: true,
      rateLimit: 'read',
      summary: 'One of your calls (non-parties: 404)',
      params: idParams,
      responses: { 200: { description: 'The call', schema: callReply } },
      errors: ['not_found'],
      handle: async ({ principal, params }) => reply(200, { call: await calls.get(principal.userId, params.id) }),
    }),
  ];
}
