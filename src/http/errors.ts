import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { toErrorResponse } from '../contract/errors.ts';

export function errorMiddleware(logger: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      // Koa and the router answer unmatched routes with bare text: give them the JSON shape too.
      if (ctx.status === 404 && ctx.body == null) {
        ctx.status = 404;
        ctx.body = { error: { code: 'not_found', message: `No route for ${ctx.method} ${ctx.path}` } };
      } else if (ctx.status === 405 || ctx.status === 501) {
        const status = ctx.status;
        ctx.body = { error: { code: 'method_not_allowed', message: `${ctx.method} is not allowed on ${ctx.path}` } };
        ctx.status = status;
      }
    } catch (error) {
      const { status, body } = toErrorResponse(error, logger, {
        requestId: ctx.state.requestId,
        clientRequestId: ctx.state.clientRequestId,
        path: ctx.path,
      });
      ctx.status = status;
      ctx.body = body;
      const retryAfterMs = body.error.details?.retryAfterMs;
      if (typeof retryAfterMs === 'number') ctx.set('Retry-After', String(Math.ceil(retryAfterMs / 1000)));
    }
  };
}
