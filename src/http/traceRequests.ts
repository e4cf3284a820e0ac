import type { Context, Next } from 'koa';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Tracing } from '../tracing/tracing.ts';
import { CORRELATION_ID } from '../tracing/batchTrace.ts';
import type { RequestState } from './context.ts';

/**
 * Each request in a server span, active for everything it awaits (decide, append), named by its route template once
 * routed (`POST /api/messages`, never an id) and carrying the server's correlation id.
 */
export const traceRequests = (tracing: Tracing) => (ctx: Context, next: Next) => {
  const { requestId, clientRequestId } = ctx.state as RequestState;
  return tracing.span(
    `${ctx.method}`,
    {
      [CORRELATION_ID]: requestId,
      'http.request.method': ctx.method,
      ...(clientRequestId === undefined ? {} : { 'letsapp.client_request_id': clientRequestId }),
    },
    async (span) => {
      try {
        await next();
      } finally {
        const route = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
        if (typeof route === 'string') {
          span?.updateName(`${ctx.method} ${route}`);
          span?.setAttribute('http.route', route);
        }
        span?.setAttribute('http.response.status_code', ctx.status);
        // Errors are answered downstream (the error middleware): a 5xx is the server's failure, a 4xx the caller's.
        if (ctx.status >= 500) span?.setStatus({ code: SpanStatusCode.ERROR });
      }
    },
    SpanKind.SERVER,
  );
};
