import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { DomainError, PayloadTooLargeError, ValidationError } from '../../commands/shared/errors.ts';

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/**
 * Maps anything thrown to the one error shape `{"error":{"code","message","details"}}`. Domain errors keep
 * their code and status; body-parser failures become 400/413; the rest is logged and answered as a bare 500.
 */
export function toErrorResponse(error: unknown, logger: Logger, context: Record<string, unknown>): { status: number; body: ErrorBody } {
  const domain = asDomainError(error);
  if (domain) {
    const body: ErrorBody = { error: { code: domain.code, message: domain.message } };
    if (domain.details) body.error.details = domain.details;
    return { status: domain.status, body };
  }
  logger.error({ err: error, ...context }, 'unhandled error');
  return { status: 500, body: { error: { code: 'internal_error', message: 'Something went wrong; it has been logged' } } };
}

/** Errors raised by libraries (koa-body, raw-body) carry an HTTP status and a type we can translate. */
function asDomainError(error: unknown): DomainError | null {
  if (error instanceof DomainError) return error;
  const status = (error as { status?: unknown })?.status;
  const type = (error as { type?: unknown })?.type;
  if (status === 413 || type === 'entity.too.large') return new PayloadTooLargeError();
  if (status === 415) return new DomainError('unsupported_media_type', 415, 'Send JSON with Content-Type: application/json');
  if (status === 400 || type === 'entity.parse.failed') return new ValidationError('Malformed request body: expected valid JSON');
  return null;
}

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
      const { status, body } = toErrorResponse(error, logger, { requestId: ctx.state.requestId, clientRequestId: ctx.state.clientRequestId, path: ctx.path });
      ctx.status = status;
      ctx.body = body;
      const retryAfterMs = body.error.details?.retryAfterMs;
      if (typeof retryAfterMs === 'number') ctx.set('Retry-After', String(Math.ceil(retryAfterMs / 1000)));
    }
  };
}
