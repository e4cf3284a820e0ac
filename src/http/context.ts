import type { Context, Next } from 'koa';
import { UnauthorizedError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import type { Principal } from '../auth/authenticator.ts';
import { newId } from '../ids.ts';

export interface RequestState {
  requestId: string;
  principal?: Principal;
}

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Gives each request an id (the caller's `X-Request-Id` when well-formed) and echoes it back. */
export const requestId = () => async (ctx: Context, next: Next) => {
  const supplied = ctx.get('x-request-id');
  ctx.state.requestId = REQUEST_ID.test(supplied) ? supplied : newId();
  ctx.set('X-Request-Id', ctx.state.requestId);
  await next();
};

export function principalOf(ctx: Context): Principal {
  const principal = (ctx.state as RequestState).principal;
  if (!principal) throw new UnauthorizedError();
  return principal;
}

/** Command metadata for an authenticated request, acting as its principal. */
export const actorMetadata = (clock: () => Date) => (ctx: Context): CommandMetadata =>
  commandMetadata(ctx, clock(), principalOf(ctx).userId);

/** Command metadata for a request: a fresh command id, correlated with the request id. */
export function commandMetadata(ctx: Context, now: Date, userId: string | null): CommandMetadata {
  const { requestId } = ctx.state as RequestState;
  return { commandId: newId(), correlationId: requestId, causationId: requestId, userId, now: now.toISOString() };
}
