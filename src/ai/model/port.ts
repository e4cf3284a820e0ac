import { DomainError } from '../../../commands/shared/errors.ts';

/**
 * The port to a generative model (Gemini). One call streams one reply: `delta` chunks as text arrives, then
 * exactly one `end`. Failures are the typed errors below, whichever SDK sits behind the port; a cancel through
 * the request's `signal` ends the iteration quietly (no `end`, no error).
 */

export interface ChatTurn {
  role: 'user' | 'model';
  text: string;
}

export interface ModelRequest {
  apiKey: string;
  model: string;
  systemInstruction: string;
  /** Completed turns, oldest first: alternating, starting with `user`, ending with `model` (or empty). */
  history: readonly ChatTurn[];
  /** The new user turn. */
  message: string;
  /** Files sent inline with the new turn (Gemini takes audio this way, up to 20 MB a request): base64 `data`. */
  inline?: readonly { mimeType: string; data: string }[];
  maxOutputTokens: number;
  temperature?: number;
  signal: AbortSignal;
}

export interface ModelUsage {
  promptTokens: number;
  /** Billed output: the reply's tokens plus any thinking tokens. */
  outputTokens: number;
}

export type ModelChunk =
  | { type: 'delta'; text: string }
  | {
      type: 'end';
      /** Gemini's finish reason: STOP | MAX_TOKENS | SAFETY | RECITATION | OTHER ...; OTHER when the stream ended without one. */
      finishReason: string;
      usage: ModelUsage | null;
    };

export interface AiModel {
  readonly sdk: 'genai' | 'legacy';
  stream(request: ModelRequest): AsyncIterable<ModelChunk>;
}

export interface ModelOptions {
  /** GEMINI_API_BASE_URL: a proxy or a test double standing in for Google. */
  baseUrl?: string;
  /** No text within this many ms of the call (retries included) → AiTimeoutError. */
  firstTokenTimeoutMs: number;
  /** The whole call, retries and streaming included, beyond this → AiTimeoutError. */
  totalTimeoutMs: number;
}

// None of these errors ever carries the API key or Gemini's own error text (which may echo request data).

/** Gemini says the key is not a valid key (400 API_KEY_INVALID). */
export class AiKeyInvalidError extends DomainError {
  constructor() {
    super('invalid_api_key', 422, 'The Gemini API key is not valid');
  }
}

/** The key exists but may not use this API or model (403). */
export class AiKeyForbiddenError extends DomainError {
  constructor() {
    super('api_key_forbidden', 422, 'The Gemini API key is not allowed to use this model');
  }
}

/** Gemini's quota for the key is spent (429); `retryAfterMs` comes from RetryInfo.retryDelay, else 60 s. */
export class AiRateLimitedError extends DomainError {
  constructor(readonly retryAfterMs: number) {
    super('ai_rate_limited', 429, `Gemini rate limit reached; retry in ${Math.ceil(retryAfterMs / 1000)} s`, { retryAfterMs });
  }
}

/** Gemini failed (5xx, an unexpected 4xx) or could not be reached (`upstreamStatus` null). */
export class AiUpstreamError extends DomainError {
  constructor(readonly upstreamStatus: number | null) {
    super('ai_upstream_error', 502, upstreamStatus === null ? 'Gemini could not be reached' : `Gemini answered ${upstreamStatus}`, {
      upstreamStatus,
    });
  }
}

/** Gemini refused the prompt itself (promptFeedback.blockReason) before writing anything. */
export class AiBlockedError extends DomainError {
  constructor(readonly reason: string) {
    super('ai_blocked', 422, `Gemini blocked the prompt (${reason})`, { reason });
  }
}

/** No first text in time, or the whole reply took too long; the request was aborted. */
export class AiTimeoutError extends DomainError {
  constructor(
    readonly phase: 'first_token' | 'total',
    readonly timeoutMs: number,
  ) {
    super(
      'ai_timeout',
      504,
      phase === 'first_token' ? `Gemini sent nothing within ${timeoutMs} ms` : `Gemini did not finish within ${timeoutMs} ms`,
      { phase, timeoutMs },
    );
  }
}
