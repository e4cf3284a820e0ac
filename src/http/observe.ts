import type { Context, Middleware, Next } from 'koa';
import { UnauthorizedError } from '../../commands/shared/errors.ts';
import { bearerMatches, type Instrumentation } from '../metrics/instrumentation.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { RequestState } from './context.ts';

/** The route template the router matched (`/api/messages/:id`), or `unmatched`: a path as sent is never a label. */
const routeOf = (ctx: Context): string =>
  ((ctx as Context & { _matchedRoute?: unknown })._matchedRoute as string | undefined) ?? 'unmatched';

/** One log line and the HTTP metrics per answered request (after the error mapping has chosen its status). */
export function observeRequests(instrumentation: Instrumentation): Middleware {
  return async (ctx: Context, next: Next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const { requestId, clientRequestId, principal } = ctx.state as RequestState;
      instrumentation.request({
        requestId,
        clientRequestId,
        method: ctx.method,
        route: routeOf(ctx),
        status: ctx.status,
        seconds: (performance.now() - started) / 1000,
        userId: principal?.userId,
      });
    }
  };
}

/** `GET /metrics` on the API's port, for a bearer of METRICS_TOKEN only (401 otherwise, nothing about the server). */
export function serveMetrics(metrics: Metrics, token: string): Middleware {
  return async (ctx: Context, next: Next) => {
    if (ctx.path !== '/metrics' || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) {
      await next();
      return;
    }
    (ctx as Context & { _matchedRoute?: string })._matchedRoute = '/metrics';
    if (!bearerMatches(ctx.get('authorization') || undefined, token)) {
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
      throw new UnauthorizedError('GET /metrics needs Authorization: Bearer <METRICS_TOKEN>');
    }
    const { contentType, body } = await metrics.exposition();
    ctx.type = contentType;
    ctx.body = body;
  };
}
