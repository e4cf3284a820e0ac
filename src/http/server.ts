import type { Duplex } from 'node:stream';
import Koa from 'koa';
import { HttpMethodEnum, koaBody } from 'koa-body';
import type { Logger } from 'pino';
import { errorMiddleware } from './errors.ts';
import { requestId } from './context.ts';
import type Router from '@koa/router';
import type { Tracing } from '../tracing/tracing.ts';
import { traceRequests } from './traceRequests.ts';
import { observeRequests, serveMetrics } from './observe.ts';
import type { Instrumentation } from '../metrics/instrumentation.ts';

export interface HttpAppDeps {
  logger: Logger;
  bodyLimitBytes: number;
  /** The route table, mounted (see mountRoutes.ts). */
  router: Router;
  /** Proxies whose `X-Forwarded-For` entries are believed: the address is the entry the nearest trusted one added. */
  trustProxy: number;
  /** Traces each request (OTEL_EXPORTER_OTLP_ENDPOINT). */
  tracing?: Tracing;
  /** Logs and counts each answered request; with `metricsToken`, `GET /metrics` answers a bearer of it. */
  instrumentation?: Instrumentation;
  metricsToken?: string | null;
}

/** The Koa REST app: request ids, the JSON error shape first, then a JSON-only body parser and the routes. */
export function createHttpApp({ logger, bodyLimitBytes, router, trustProxy, tracing, instrumentation, metricsToken }: HttpAppDeps): Koa {
  const app = new Koa({ proxy: trustProxy > 0, maxIpsCount: trustProxy });
  app.silent = true;
  app.use(requestId());
  if (tracing?.enabled) app.use(traceRequests(tracing));
  // Outside the error mapping, so the status logged and counted is the one answered.
  if (instrumentation) app.use(observeRequests(instrumentation));
  app.use(errorMiddleware(logger));
  if (instrumentation?.metrics && metricsToken) app.use(serveMetrics(instrumentation.metrics, metricsToken));
  app.use(
    koaBody({
      json: true,
      jsonStrict: true,
      jsonLimit: bodyLimitBytes,
      urlencoded: false,
      text: false,
      multipart: false,
      // DELETE /api/users/me carries the password in its body.
      parsedMethods: [HttpMethodEnum.POST, HttpMethodEnum.PUT, HttpMethodEnum.PATCH, HttpMethodEnum.DELETE],
      onError: (error) => {
        throw error;
      },
    }),
  );
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

/**
 * Node answers a request it cannot parse (431 for headers or a URL over `--max-http-header-size`, 400 for
 * malformed HTTP) with an empty body; this gives those answers the one error shape.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const [status, code, message] = tooLarge
    ? ['431 Request Header Fields Too Large', 'headers_too_large', 'Request headers or URL too large']
    : ['400 Bad Request', 'bad_request', 'Malformed HTTP request'];
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
