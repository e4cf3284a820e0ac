/**
 * Typed domain errors. Each carries a stable machine code and the HTTP status it maps to, so the REST
 * middleware and the socket gateway answer every failure the same way without knowing where it came from.
 */
export type ErrorDetails = Record<string, unknown> | undefined;

export class DomainError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details?: ErrorDetails,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends DomainError {
  constructor(message: string, details?: ErrorDetails) {
    super('validation_failed', 400, message, details);
  }
}

export class UnauthorizedError extends DomainError {
  constructor(message = 'Authentication required', code = 'unauthorized') {
    super(code, 401, message);
  }
}

export class ForbiddenError extends DomainError {
  constructor(message = 'You are not allowed to do that', details?: ErrorDetails) {
    super('forbidden', 403, message, details);
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string, details?: ErrorDetails) {
    super('not_found', 404, `${what} not found`, details);
  }
}

export class ConflictError extends DomainError {
  constructor(code: string, message: string, details?: ErrorDetails) {
    super(code, 409, message, details);
  }
}

/** The stream moved on since it was read: the handler retries, a client seeing it may retry too. */
export class ConcurrencyError extends DomainError {
  constructor(stream: string, expected: unknown, actual: unknown) {
    super('concurrency_conflict', 409, `Stream ${stream} was changed concurrently`, { stream, expected, actual });
  }
}

export class PayloadTooLargeError extends DomainError {
  constructor(message = 'Request body too large', details?: ErrorDetails) {
    super('payload_too_large', 413, message, details);
  }
}

/** Over a rate-limit policy's budget: the details name the policy and when one more request will be allowed. */
export class RateLimitedError extends DomainError {
  constructor(
    readonly policy: string,
    readonly retryAfterMs: number,
  ) {
    super('rate_limited', 429, `Too many requests (${policy}); retry in ${Math.ceil(retryAfterMs / 1000)} s`, { policy, retryAfterMs });
  }
}

export class UnavailableError extends DomainError {
  constructor(message: string, details?: ErrorDetails) {
    super('unavailable', 503, message, details);
  }
}
