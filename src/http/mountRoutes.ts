import Router from '@koa/router';
import type { Context } from 'koa';
import { bearerToken, type Authenticator, type Principal } from '../auth/authenticator.ts';
import type { RateLimits } from '../rateLimit/rateLimits.ts';
import { RateLimitExceeded } from '../rateLimit/tokenBuckets.ts';
import { ValidationError } from '../../commands/shared/errors.ts';
import { NotForBotsError } from '../../commands/bots.ts';
import { parse } from '../contract/validation.ts';
import { setRateLimitHeaders } from './rateLimitHeaders.ts';
import { bodyIsOptional } from './openapi.ts';
import { koaPath, type AnyRoute } from './routeTable.ts';

export interface MountDeps {
  authenticator: Authenticator;
  rateLimits: RateLimits;
  /**
   * Resolves once the projections have reached every write acknowledged so far: an authenticated request sees every
   * write acknowledged before it arrived (its own and anyone's), though a send answers before its projection.
   */
  caughtUp?: () => Promise<void>;
}

/**
 * Registers every route of the table on one router: authenticate (if the route needs it), charge its rate-limit
 * policy, validate params, query and body with its schemas, then run the handler and answer what it replied.
 */
export function mountRoutes(routes: readonly AnyRoute[], { authenticator, rateLimits, caughtUp }: MountDeps): Router {
  const router = new Router();
  for (const route of routes) {
    const absentBody = bodyIsOptional(route) ? {} : undefined;
    router[route.method](koaPath(route.path), async (ctx: Context) => {
      const bearer = route.auth === true || (route.auth === 'bearer-or-media-token' && ctx.get('authorization') !== '');
      const principal = bearer ? await authenticator.authenticate(bearerToken(ctx.get('authorization') || undefined)) : null;
      if (principal) ctx.state.principal = principal;
      // Leta is not for bot accounts (README "Bots"): every `ai` operation, before its budget is charged.
      if (route.tag === 'ai' && principal?.user.bot) throw new NotForBotsError('use Leta');
      if (route.rateLimit) await charge(ctx, rateLimits, route.rateLimit, principal);
      const params = route.params ? parse(route.params, ctx.params) : {};
      const query = route.query ? parse(route.query, ctx.query) : {};
      if (!route.body && !route.rawBody) refuseBody(ctx);
      const body = route.body ? parse(route.body, ctx.request.body ?? absentBody) : {};
      if (principal && caughtUp && !route.answersWhenDurable) await caughtUp();
      const reply = await route.handle({
        params,
        query,
        body,
        principal: principal as Principal,
        ctx,
      });
      if ('handled' in reply) return;
      ctx.status = reply.status;
      if ('body' in reply) {
        // A handler that chose among its documented content types has set it already.
        const { contentType } = route.responses[reply.status] ?? {};
        if (typeof contentType === 'string' && !ctx.response.get('Content-Type')) ctx.type = contentType;
        ctx.body = reply.body;
      }
    });
  }
  return router;
}

/**
 * An operation without a body takes none: one sent anyway (`{"scope":"everyone"}` on a DELETE whose scope is in the
 * query) is refused as unknown fields are, not ignored while the operation runs with its defaults.
 */
function refuseBody(ctx: Context): void {
  const length = Number(ctx.get('content-length') || 0);
  if (length > 0 || ctx.get('transfer-encoding') !== '') {
    throw new ValidationError('This operation takes no request body (its input is in the path and the query)', {
      issues: [{ field: null, code: 'unexpected_body', message: 'no request body expected' }],
    });
  }
}

/** Charges a route's policy from the buckets every instance shares (PostgreSQL), or this process's without one. */
async function charge(
  ctx: Context,
  rateLimits: RateLimits,
  name: NonNullable<AnyRoute['rateLimit']>,
  principal: Principal | null,
): Promise<void> {
  const policy = rateLimits.policy(name);
  const key = policy.key === 'user' && principal ? principal.userId : ctx.ip;
  try {
    setRateLimitHeaders(ctx, await rateLimits.charge(name, key));
  } catch (error) {
    if (error instanceof RateLimitExceeded) setRateLimitHeaders(ctx, error.allowance);
    throw error;
  }
}
