import type { ErrorCode } from '../src/contract/errorCodes.ts';

/** Codes the client itself gives when no answer came: the socket closed, or no reply in time. */
export type TransportErrorCode = 'disconnected' | 'timeout' | 'network_error';

/** Worth sending again unchanged: the server did not decide, or asked to come back later. */
const RETRYABLE = new Set<string>([
  'disconnected',
  'timeout',
  'network_error',
  'rate_limited',
  'concurrency_conflict',
  'busy',
  'internal_error',
  'unavailable',
]);

/**
 * A refusal, as the server words it (`{"error": {"code", "message", "details"}}` over REST and in socket `error`
 * frames), with the HTTP status where there was one.
 */
export class LetsAppError extends Error {
  override readonly name = 'LetsAppError';

  constructor(
    readonly code: ErrorCode | TransportErrorCode,
    message: string,
    readonly status: number | null = null,
    readonly details: unknown = null,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code) || (this.status !== null && this.status >= 500);
  }

  /** The access token is no good any more (expired, revoked, malformed): log in again. */
  get unauthorized(): boolean {
    return this.status === 401 || ['missing_token', 'invalid_token', 'token_expired', 'token_revoked'].includes(this.code);
  }

  static fromBody(body: unknown, status: number | null, retryAfterMs: number | null = null): LetsAppError {
    const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
    if (error && typeof error.code === 'string') {
      // Socket error frames have no Retry-After header; a 429's details carry the wait.
      const hinted = (error.details as { retryAfterMs?: unknown } | null | undefined)?.retryAfterMs;
      const wait = retryAfterMs ?? (typeof hinted === 'number' ? hinted : null);
      return new LetsAppError(
        error.code as ErrorCode,
        typeof error.message === 'string' ? error.message : error.code,
        status,
        error.details ?? null,
        wait,
      );
    }
    return new LetsAppError('internal_error', `Unexpected answer${status === null ? '' : ` (HTTP ${status})`}`, status, body, retryAfterMs);
  }
}
