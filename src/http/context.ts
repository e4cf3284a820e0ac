import type { Context, Next } from 'koa';
import { UnauthorizedError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import type { Principal } from '../auth/authenticator.ts';
import { newId } from '../ids.ts';

export interface RequestState {
  /** Made by the server: the correlation id of every event this request causes. */
  requestId: string;
  /** The caller's `X-Request-Id` when well-formed: echoed and recorded beside the correlation id, never as it. */
  clientRequestId?: string;
  principal?: Principal;
}

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Gives each request an id of the server's own (`X-Correlation-Id`): a client choosing it could make its events look
 * caused by another request. The caller's well-formed `X-Request-Id` is kept beside it and echoed back.
 */
export const requestId = () => async (ctx: Context, next: Next) => {
  const supplied = ctx.get('x-request-id');
  const state = ctx.state as RequestState;
  state.requestId = newId();
  if (REQUEST_ID.test(supplied)) state.clientRequestId = supplied;
  ctx.set('X-Request-Id', state.clientRequestId ?? state.requestId);
  ctx.set('X-Correlation-Id', state.requestId);
  await next();
};

export function principalOf(ctx: Context): Principal {
  const principal = (ctx.state as RequestState).principal;
  if (!principal) throw new UnauthorizedError();
  return principal;
}

/** Command metadata for an authenticated request, acting as its principal. */
export const actorMetadata =
  (clock: () => Date) =>
  (ctx: Context): CommandMetadata =>
    commandMetadata(ctx, clock(), principalOf(ctx).userId);

/** Command metadata for a request: a fresh command id, correlated with the server's request id (the client's beside it). */
export function commandMetadata(ctx: Context, now: Date, userId: string | null): CommandMetadata {
  const { requestId, clientRequestId, principal } = ctx.state as RequestState;
  return {
    commandId: newId(),
    correlationId: requestId,
    causationId: requestId,
    userId,
    // A bot acting with its token: its messages are marked as a bot's (projections/messageDocs.ts).
    ...(principal?.user.bot && principal.userId === userId ? { actorIsBot: true as const } : {}),
    now: now.toISOString(),
    ...(clientRequestId === undefined ? {} : { clientRequestId }),
  };
}
