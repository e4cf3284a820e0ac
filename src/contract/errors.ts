import type { Logger } from 'pino';
import { DomainError, PayloadTooLargeError, ValidationError } from '../../commands/shared/errors.ts';

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/**
 * Maps anything thrown to the one error shape `{"error":{"code","message","details"}}` and its HTTP status: the
 * REST middleware answers with it, the socket gateway sends its body in `error` frames. Domain errors keep their
 * code and status; body-parser failures become 400/413; the rest is logged and answered as a bare 500.
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
