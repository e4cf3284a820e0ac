import { DomainError } from '../../../commands/shared/errors.ts';
import {
  AiBlockedError,
  AiKeyForbiddenError,
  AiKeyInvalidError,
  AiRateLimitedError,
  AiTimeoutError,
  AiUpstreamError,
  type AiModel,
  type ModelChunk,
  type ModelOptions,
  type ModelRequest,
  type ModelUsage,
} from './port.ts';

/**
 * What every adapter shares: the request contents, reading the streamed responses, mapping failures to the
 * port's errors, retries and timeouts. An adapter (a `ModelDriver`) only makes the SDK call and says what an SDK
 * error was.
 */

/** The request turns as both SDKs take them. */
export interface WireContent {
  role: 'user' | 'model';
  parts: Array<{ text: string } | { inlineData: { mimeType: string; data: string } }>;
}

/** The part of a GenerateContentResponse read here; both SDKs hand back this JSON shape (plus helpers). */
export interface UpstreamChunk {
  candidates?: ReadonlyArray<{
    content?: { parts?: ReadonlyArray<{ text?: string; thought?: boolean }> };
    finishReason?: string;
  }>;
  promptFeedback?: { blockReason?: string };
  usageMetadata?: { promptTokenCount?: number; candidatesTokenCount?: number; thoughtsTokenCount?: number };
}

/** A failed call, free of SDK types. `message` and `details` only serve classification and never leave here. */
export type UpstreamFailure = { kind: 'http'; status: number; message: string; details: readonly unknown[] } | { kind: 'network' };

export interface ModelDriver {
  readonly sdk: AiModel['sdk'];
  /**
   * Makes one HTTP call and resolves once it answered, to its parsed response chunks. Must not retry.
   * Aborting `signal` aborts the call and its body. SDK errors propagate unchanged.
   */
  open(request: ModelRequest, contents: WireContent[], signal: AbortSignal): Promise<AsyncIterable<UpstreamChunk>>;
  /** Says what anything `open` or the iteration threw was. */
  failure(error: unknown): UpstreamFailure;
}

export const MAX_RETRIES = 2;
/** A 429 whose RetryInfo asks for a longer wait is a spent quota (often daily, sticky): fail at once. */
export const MAX_HONOURED_RETRY_DELAY_MS = 2_000;
export const DEFAULT_RATE_LIMIT_RETRY_MS = 60_000;

export function modelFromDriver(driver: ModelDriver, options: ModelOptions, random: () => number = Math.random): AiModel {
  return { sdk: driver.sdk, stream: (request) => guardedStream(driver, options, request, random) };
}

/** History + the new message; the history must alternate starting with `user` (Gemini rejects anything else). */
export function contentsOf(request: Pick<ModelRequest, 'history' | 'message' | 'inline'>): WireContent[] {
  request.history.forEach((turn, index) => {
    const expected = index % 2 === 0 ? 'user' : 'model';
    if (turn.role !== expected) throw new Error(`Model history must alternate starting with user: turn ${index} is ${turn.role}`);
  });
  if (request.history.length % 2 !== 0) throw new Error('Model history must end with a model turn before the new message');
  const turns: WireContent[] = request.history.map((turn) => ({ role: turn.role, parts: [{ text: turn.text }] }));
  // Inline files (a voice note to transcribe) go with the new message, before its text.
  const inline = (request.inline ?? []).map((file) => ({ inlineData: { mimeType: file.mimeType, data: file.data } }));
  return [...turns, { role: 'user', parts: [...inline, { text: request.message }] }];
}

/** Google's error body `{error:{code,message,status,details}}` (or its `error` member) as a failure. */
export function failureFromBody(body: unknown, fallbackStatus: number): UpstreamFailure {
  const error = isRecord(body) && isRecord(body.error) ? body.error : body;
  if (!isRecord(error)) return { kind: 'http', status: fallbackStatus, message: '', details: [] };
  return {
    kind: 'http',
    status: typeof error.code === 'number' ? error.code : fallbackStatus,
    message: typeof error.message === 'string' ? error.message : '',
    details: Array.isArray(error.details) ? error.details : [],
  };
}

/** The JSON object in a string that is, or ends with, one (genai puts the error body in its messages). */
export function parseJsonIn(text: string): unknown {
  for (const start of [0, text.indexOf('{')]) {
    if (start < 0) continue;
    try {
      return JSON.parse(text.slice(start));
    } catch {
      // not JSON from here
    }
  }
  return undefined;
}

export function errorFor(failure: UpstreamFailure): DomainError {
  if (failure.kind === 'network') return new AiUpstreamError(null);
  const { status } = failure;
  if ((status === 400 || status === 401) && isInvalidKey(failure)) return new AiKeyInvalidError();
  if (status === 403) return new AiKeyForbiddenError();
  if (status === 429) return new AiRateLimitedError(retryDelayMs(failure.details) ?? DEFAULT_RATE_LIMIT_RETRY_MS);
  return new AiUpstreamError(status);
}

/** How long to wait before retrying, or null: only 429 and 503, a 429 only when it asks for no long wait. */
export function retryWaitMs(failure: UpstreamFailure, attempt: number, random: () => number): number | null {
  if (failure.kind !== 'http' || attempt >= MAX_RETRIES) return null;
  const base = 250 * 2 ** attempt; // 250–500 ms, then 500–1000 ms
  const backoff = Math.round(base + random() * base);
  if (failure.status === 503) return backoff;
  if (failure.status !== 429) return null;
  const asked = retryDelayMs(failure.details);
  if (asked === null) return backoff;
  return asked <= MAX_HONOURED_RETRY_DELAY_MS ? Math.max(asked, backoff) : null;
}

function isInvalidKey(failure: { message: string; details: readonly unknown[] }): boolean {
  return (
    failure.details.some((detail) => isRecord(detail) && detail.reason === 'API_KEY_INVALID') || /API key not valid/i.test(failure.message)
  );
}

/** google.rpc.RetryInfo's retryDelay, a Duration in JSON ("17s", "0.5s"), in ms. */
function retryDelayMs(details: readonly unknown[]): number | null {
  for (const detail of details) {
    if (!isRecord(detail) || typeof detail['@type'] !== 'string' || !detail['@type'].endsWith('google.rpc.RetryInfo')) continue;
    const delay = detail.retryDelay;
    if (typeof delay === 'string') {
      const match = /^(\d+(?:\.\d+)?)s$/.exec(delay.trim());
      if (match) return Math.ceil(Number(match[1]) * 1000);
    }
    if (isRecord(delay) && (typeof delay.seconds === 'number' || typeof delay.seconds === 'string')) {
      return Math.ceil(Number(delay.seconds) * 1000 + (typeof delay.nanos === 'number' ? delay.nanos / 1e6 : 0));
    }
  }
  return null;
}

interface ReadChunk {
  text: string;
  finishReason: string | null;
  blockReason: string | null;
  usage: ModelUsage | null;
  failure: UpstreamFailure | null;
}

/** Reads parts directly (not the SDKs' `text` helpers: legacy's throws on a block and drops text sent with SAFETY). */
function readChunk(chunk: UpstreamChunk): ReadChunk {
  // The legacy SDK passes an in-stream error frame through as a chunk; genai throws it as an ApiError.
  const error = (chunk as { error?: unknown }).error;
  const failure = isRecord(error) ? failureFromBody(error, 500) : null;
  const candidate = chunk.candidates?.[0];
  const text = (candidate?.content?.parts ?? [])
    .filter((part) => part.thought !== true)
    .map((part) => part.text ?? '')
    .join('');
  const finish = candidate?.finishReason;
  const usage = chunk.usageMetadata
    ? {
        promptTokens: chunk.usageMetadata.promptTokenCount ?? 0,
        outputTokens: (chunk.usageMetadata.candidatesTokenCount ?? 0) + (chunk.usageMetadata.thoughtsTokenCount ?? 0),
      }
    : null;
  return {
    text,
    finishReason: finish && finish !== 'FINISH_REASON_UNSPECIFIED' ? finish : null,
    blockReason: chunk.promptFeedback?.blockReason ?? null,
    usage,
    failure,
  };
}

/** Thrown inside `guardedStream` for a failure that arrived as a chunk rather than as an SDK error. */
class FailureChunk extends Error {
  constructor(readonly failure: UpstreamFailure) {
    super('Gemini sent an error frame');
  }
}

const STOPPED = Symbol('stopped');

async function* guardedStream(
  driver: ModelDriver,
  options: ModelOptions,
  request: ModelRequest,
  random: () => number,
): AsyncGenerator<ModelChunk> {
  if (request.signal.aborted) return;
  const contents = contentsOf(request);
  const startedAt = Date.now();
  const controller = new AbortController();
  let timedOut: AiTimeoutError | null = null;
  const expire = (error: AiTimeoutError) => () => {
    if (controller.signal.aborted) return;
    timedOut = error;
    controller.abort();
  };
  const cancel = () => controller.abort();
  request.signal.addEventListener('abort', cancel, { once: true });
  const firstTokenTimer = setTimeout(expire(new AiTimeoutError('first_token', options.firstTokenTimeoutMs)), options.firstTokenTimeoutMs);
  const totalTimer = setTimeout(expire(new AiTimeoutError('total', options.totalTimeoutMs)), options.totalTimeoutMs);
  // Every wait races this, so a timeout or a cancel ends the call even if an SDK ignores its signal.
  const stopped = new Promise<typeof STOPPED>((resolve) =>
    controller.signal.addEventListener('abort', () => resolve(STOPPED), { once: true }),
  );
  const untilStopped = <T>(promise: Promise<T>): Promise<T | typeof STOPPED> => {
    promise.catch(() => {}); // lost races must not become unhandled rejections
    return Promise.race([promise, stopped]);
  };
  /** Once stopped: a timeout is thrown, a cancel ends the iteration quietly (the caller returns). */
  const throwIfTimedOut = (): void => {
    if (timedOut) throw timedOut;
  };

  let yieldedText = false;
  try {
    for (let attempt = 0; ; attempt += 1) {
      let iterator: AsyncIterator<UpstreamChunk> | null = null;
      try {
        const opened = await untilStopped(driver.open(request, contents, controller.signal));
        if (opened === STOPPED) {
          throwIfTimedOut();
          return;
        }
        iterator = opened[Symbol.asyncIterator]();
        let finishReason: string | null = null;
        let usage: ModelUsage | null = null;
        for (;;) {
          const step = await untilStopped(iterator.next());
          if (step === STOPPED) {
            throwIfTimedOut();
            return;
          }
          if (step.done) break;
          const chunk = readChunk(step.value);
          if (chunk.failure) throw new FailureChunk(chunk.failure);
          if (chunk.blockReason && !yieldedText && !chunk.text) throw new AiBlockedError(chunk.blockReason);
          usage = chunk.usage ?? usage;
          // A block reported after text ends the reply like a finish reason.
          finishReason = chunk.finishReason ?? chunk.blockReason ?? finishReason;
          if (chunk.text) {
            if (!yieldedText) clearTimeout(firstTokenTimer);
            yieldedText = true;
            yield { type: 'delta', text: chunk.text };
          }
        }
        iterator = null;
        yield { type: 'end', finishReason: finishReason ?? 'OTHER', usage };
        return;
      } catch (error) {
        if (controller.signal.aborted) {
          throwIfTimedOut();
          return;
        }
        if (error instanceof DomainError) throw error;
        const failure = error instanceof FailureChunk ? error.failure : driver.failure(error);
        const wait = yieldedText ? null : retryWaitMs(failure, attempt, random);
        // A wait that would outlast a deadline ends in the real error, not in a timeout.
        if (wait === null || Date.now() + wait >= startedAt + Math.min(options.firstTokenTimeoutMs, options.totalTimeoutMs))
          throw errorFor(failure);
        let timer: NodeJS.Timeout | undefined;
        await untilStopped(new Promise<void>((resolve) => (timer = setTimeout(resolve, wait))));
        clearTimeout(timer);
        if (controller.signal.aborted) {
          throwIfTimedOut();
          return;
        }
      } finally {
        // Left early (error, cancel, consumer stopped): close the SDK stream without waiting on it.
        if (iterator?.return) iterator.return().catch(() => {});
      }
    }
  } finally {
    clearTimeout(firstTokenTimer);
    clearTimeout(totalTimer);
    request.signal.removeEventListener('abort', cancel);
    controller.abort(); // tears down a call the consumer stopped reading
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
