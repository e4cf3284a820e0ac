import test, { type ExecutionContext } from 'ava';
import nock from 'nock';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import {
  AiBlockedError,
  AiKeyForbiddenError,
  AiKeyInvalidError,
  AiRateLimitedError,
  AiTimeoutError,
  AiUpstreamError,
  createModel,
  type AiModel,
  type ModelChunk,
  type ModelOptions,
  type ModelRequest,
} from '../../src/ai/model/index.ts';

// One fixture set, run against both adapters. Each test uses its own model name, so its interceptors are its own
// and the tests can run concurrently — except those that measure time: they run serially (ava runs serial tests
// first), after a warm-up call through each SDK, so a busy machine does not make them flaky.

nock.disableNetConnect();
nock.enableNetConnect('127.0.0.1'); // only the loopback stand-in below, which proves the connection is closed
test.after.always(() => nock.cleanAll());

const BASE = 'http://gemini.test';
const GOOGLE = 'https://generativelanguage.googleapis.com';
const KEY = 'AIzaSy-unit-test-SECRET-key-0123456789';
const OPTIONS: ModelOptions = { baseUrl: BASE, firstTokenTimeoutMs: 4_000, totalTimeoutMs: 8_000 };

type Json = Record<string, unknown>;
type Reply = { status: number; body: string | Json | (() => NodeJS.ReadableStream); delayMs?: number } | { networkError: string };
interface Seen {
  headers: Record<string, string | string[] | undefined>;
  body: Json;
}

let models = 0;
const newModelName = () => `gemini-test-${++models}`;

const part = (text: string, finishReason?: string) => ({
  candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...(finishReason ? { finishReason } : {}) }],
});
const finish = (finishReason: string, usage = { promptTokenCount: 12, candidatesTokenCount: 4, totalTokenCount: 16 }) => ({
  candidates: [{ content: { role: 'model', parts: [] }, index: 0, finishReason }],
  usageMetadata: usage,
});
const frames = (...chunks: Json[]) => chunks.map((chunk) => `data: ${JSON.stringify(chunk)}\r\n\r\n`).join('');
const ok = (...chunks: Json[]): Reply => ({ status: 200, body: frames(...chunks) });
const googleError = (status: number, statusText: string, message: string, details: Json[] = []): Reply => ({
  status,
  body: { error: { code: status, message, status: statusText, ...(details.length ? { details } : {}) } },
});
const retryInfo = (retryDelay: string) => ({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay });
const quota = (retryDelay?: string) =>
  googleError(429, 'RESOURCE_EXHAUSTED', 'You exceeded your current quota', retryDelay ? [retryInfo(retryDelay)] : []);
const unavailable = googleError(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.');

/** Answers the model's streamGenerateContent calls with `replies`, one per call, and records each call. */
function gemini(model: string, replies: Reply[], host = BASE) {
  const seen: Seen[] = [];
  const scope = nock(host);
  for (const reply of replies) {
    const interceptor = scope.post(`/v1beta/models/${model}:streamGenerateContent`).query({ alt: 'sse' });
    if ('networkError' in reply) {
      interceptor.replyWithError(reply.networkError);
      continue;
    }
    (reply.delayMs ? interceptor.delay(reply.delayMs) : interceptor).reply(function (_uri, body) {
      seen.push({ headers: this.req.headers, body: body as Json });
      const payload = typeof reply.body === 'function' ? reply.body() : reply.body;
      const type = reply.status === 200 ? 'text/event-stream' : 'application/json';
      return [reply.status, payload, { 'Content-Type': type }];
    });
  }
  return { seen, scope };
}

const request = (model: string, overrides: Partial<ModelRequest> = {}): ModelRequest => ({
  apiKey: KEY,
  model,
  systemInstruction: 'You are Leta, a friendly assistant.',
  history: [
    { role: 'user', text: 'hi' },
    { role: 'model', text: 'hello!' },
    { role: 'user', text: 'how are you?' },
    { role: 'model', text: 'fine' },
  ],
  message: 'tell me a joke',
  maxOutputTokens: 256,
  temperature: 0.7,
  signal: new AbortController().signal,
  ...overrides,
});

async function collect(stream: AsyncIterable<ModelChunk>): Promise<ModelChunk[]> {
  const chunks: ModelChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

const deltas = (chunks: ModelChunk[]) => chunks.flatMap((chunk) => (chunk.type === 'delta' ? [chunk.text] : []));
const ends = (chunks: ModelChunk[]) => chunks.filter((chunk) => chunk.type === 'end');

/** The iteration fails with `type`; the error, however serialized, never contains the API key. */
async function failsWith<E extends Error>(
  t: ExecutionContext,
  stream: AsyncIterable<ModelChunk>,
  type: abstract new (...args: never[]) => E,
  seen: ModelChunk[] = [],
): Promise<E> {
  const error = await t.throwsAsync(
    async () => {
      for await (const chunk of stream) seen.push(chunk);
    },
    { instanceOf: type },
  );
  const serialized = [
    JSON.stringify(error),
    JSON.stringify(Reflect.get(error ?? {}, 'details')),
    error!.message,
    String(error!.stack),
  ].join('\n');
  t.false(serialized.includes(KEY), 'the api key leaks into the error');
  return error!;
}

test.before('warm up both SDKs', async () => {
  for (const sdk of ['genai', 'legacy'] as const) {
    const name = newModelName();
    gemini(name, [ok(part('warm', 'STOP'))]);
    await collect(createModel(sdk, OPTIONS).stream(request(name)));
  }
});

for (const sdk of ['genai', 'legacy'] as const) {
  const model = (options: Partial<ModelOptions> = {}): AiModel => createModel(sdk, { ...OPTIONS, ...options });

  test(`${sdk}: streams deltas as text arrives, then one end with the finish reason and usage`, async (t) => {
    const name = newModelName();
    const { seen, scope } = gemini(name, [ok(part('Why did'), part(' the chicken'), part(' cross?'), finish('STOP'))]);
    const ai = model();
    t.is(ai.sdk, sdk);
    const chunks = await collect(ai.stream(request(name)));
    t.deepEqual(deltas(chunks), ['Why did', ' the chicken', ' cross?'], 'the final chunk without text yields no delta');
    t.deepEqual(chunks.at(-1), { type: 'end', finishReason: 'STOP', usage: { promptTokens: 12, outputTokens: 4 } });
    t.is(ends(chunks).length, 1);
    t.true(scope.isDone());
    t.is(seen.length, 1);
  });

  test(`${sdk}: sends the key header, alternating contents ending with the new message, the instruction and the generation config`, async (t) => {
    const name = newModelName();
    const { seen } = gemini(name, [ok(part('ha', 'STOP'))]);
    await collect(model().stream(request(name)));
    const [call] = seen;
    t.is(call!.headers['x-goog-api-key'], KEY);
    const contents = call!.body.contents as { role: string; parts: { text: string }[] }[];
    t.deepEqual(
      contents.map((content) => content.role),
      ['user', 'model', 'user', 'model', 'user'],
    );
    t.deepEqual(
      contents.map((content) => content.parts[0]!.text),
      ['hi', 'hello!', 'how are you?', 'fine', 'tell me a joke'],
    );
    const instruction = call!.body.systemInstruction as { parts: { text: string }[] };
    t.true(
      instruction.parts
        .map((p) => p.text)
        .join('')
        .includes('You are Leta, a friendly assistant.'),
    );
    t.like(call!.body.generationConfig, { maxOutputTokens: 256, temperature: 0.7 });
  });

  test(`${sdk}: without a base URL it calls Google's endpoint`, async (t) => {
    const name = newModelName();
    const { scope } = gemini(name, [ok(part('hi', 'STOP'))], GOOGLE);
    const chunks = await collect(
      createModel(sdk, { firstTokenTimeoutMs: 4_000, totalTimeoutMs: 8_000 }).stream(request(name, { history: [] })),
    );
    t.deepEqual(deltas(chunks), ['hi']);
    t.true(scope.isDone());
  });

  test(`${sdk}: a history that does not alternate from user is refused before any call`, async (t) => {
    const name = newModelName();
    const { seen } = gemini(name, [ok(part('hi', 'STOP'))]);
    await t.throwsAsync(collect(model().stream(request(name, { history: [{ role: 'model', text: 'I start' }] }))), {
      message: /alternate/,
    });
    await t.throwsAsync(
      collect(
        model().stream(
          request(name, {
            history: [
              { role: 'user', text: 'a' },
              { role: 'user', text: 'b' },
            ],
          }),
        ),
      ),
      { message: /alternate/ },
    );
    t.is(seen.length, 0);
  });

  test(`${sdk}: 429 asking for a long wait (daily quota) fails at once with its retryDelay`, async (t) => {
    const name = newModelName();
    const { seen } = gemini(name, [quota('30s'), ok(part('never', 'STOP'))]);
    const error = await failsWith(t, model().stream(request(name)), AiRateLimitedError);
    t.like(error, { code: 'ai_rate_limited', status: 429, retryAfterMs: 30_000, details: { retryAfterMs: 30_000 } });
    t.is(seen.length, 1, 'no retry');
  });

  test(`${sdk}: 429 asking for a short wait is retried and the reply streams`, async (t) => {
    const name = newModelName();
    const { seen, scope } = gemini(name, [quota('0.3s'), ok(part('ok', 'STOP'))]);
    const started = Date.now();
    const chunks = await collect(model().stream(request(name)));
    t.deepEqual(deltas(chunks), ['ok']);
    t.is(seen.length, 2);
    t.true(scope.isDone());
    t.true(Date.now() - started >= 300, 'the retryDelay was honoured');
  });

  test(`${sdk}: 429 without RetryInfo is retried twice, then fails with the default retryAfterMs`, async (t) => {
    const name = newModelName();
    const { seen } = gemini(name, [quota(), quota(), quota(), ok(part('never', 'STOP'))]);
    const error = await failsWith(t, model().stream(request(name)), AiRateLimitedError);
    t.is(error.retryAfterMs, 60_000);
    t.is(seen.length, 3, 'one call and at most two retries');
  });

  test(`${sdk}: 503 twice then 200 is retried and succeeds`, async (t) => {
    const name = newModelName();
    const { seen, scope } = gemini(name, [unavailable, unavailable, ok(part('back', 'STOP'))]);
    const chunks = await collect(model().stream(request(name)));
    t.deepEqual(deltas(chunks), ['back']);
    t.is(seen.length, 3);
    t.true(scope.isDone());
  });

  test(`${sdk}: 503 on every attempt fails as an upstream error after two retries`, async (t) => {
    const name = newModelName();
    const { seen } = gemini(name, [unavailable, unavailable, unavailable, ok(part('never', 'STOP'))]);
    const error = await failsWith(t, model().stream(request(name)), AiUpstreamError);
    t.like(error, { details: { upstreamStatus: 503 } });
    t.is(seen.length, 3);
  });

  test(`${sdk}: a retry that would outlast the first-token deadline fails with the real error at once`, async (t) => {
    const name = newModelName();
    const { seen } = gemini(name, [quota('2s'), ok(part('never', 'STOP'))]);
    const error = await failsWith(t, model({ firstTokenTimeoutMs: 1_500 }).stream(request(name)), AiRateLimitedError);
    t.is(error.retryAfterMs, 2_000);
    t.is(seen.length, 1);
  });

  test(`${sdk}: 400 API_KEY_INVALID is an invalid key, whatever Gemini's message echoes`, async (t) => {
    const name = newModelName();
    const { seen } = gemini(name, [
      googleError(400, 'INVALID_ARGUMENT', `API key not valid. Please pass a valid API key. (${KEY})`, [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'API_KEY_INVALID',
          domain: 'googleapis.com',
          metadata: { key: KEY },
        },
      ]),
    ]);
    const error = await failsWith(t, model().stream(request(name)), AiKeyInvalidError);
    t.like(error, { code: 'invalid_api_key', status: 422 });
    t.is(seen.length, 1);
  });

  test(`${sdk}: 403 is a forbidden key`, async (t) => {
    const name = newModelName();
    gemini(name, [googleError(403, 'PERMISSION_DENIED', `Permission denied for key ${KEY}`)]);
    const error = await failsWith(t, model().stream(request(name)), AiKeyForbiddenError);
    t.like(error, { code: 'api_key_forbidden', status: 422 });
  });

  test(`${sdk}: 500 is an upstream error and is not retried`, async (t) => {
    const name = newModelName();
    const { seen } = gemini(name, [googleError(500, 'INTERNAL', 'An internal error has occurred.'), ok(part('never', 'STOP'))]);
    const error = await failsWith(t, model().stream(request(name)), AiUpstreamError);
    t.like(error, { code: 'ai_upstream_error', status: 502, details: { upstreamStatus: 500 } });
    t.is(seen.length, 1);
  });

  test(`${sdk}: a network failure is an upstream error without a status`, async (t) => {
    const name = newModelName();
    gemini(name, [{ networkError: `ECONNRESET while sending ${KEY}` }]);
    const error = await failsWith(t, model().stream(request(name)), AiUpstreamError);
    t.like(error, { details: { upstreamStatus: null } });
  });

  test(`${sdk}: an error frame after text is an upstream error, not retried, the text already delivered`, async (t) => {
    const name = newModelName();
    const { seen } = gemini(name, [
      ok(part('partial'), { error: { code: 503, message: 'overloaded', status: 'UNAVAILABLE' } }),
      ok(part('never', 'STOP')),
    ]);
    const received: ModelChunk[] = [];
    const error = await failsWith(t, model().stream(request(name)), AiUpstreamError, received);
    t.like(error, { details: { upstreamStatus: 503 } });
    t.deepEqual(deltas(received), ['partial']);
    t.is(seen.length, 1);
  });

  test(`${sdk}: a blocked prompt fails with its block reason`, async (t) => {
    const name = newModelName();
    gemini(name, [
      ok({
        promptFeedback: { blockReason: 'SAFETY', safetyRatings: [{ category: 'HARM_CATEGORY_HARASSMENT', probability: 'HIGH' }] },
        usageMetadata: { promptTokenCount: 5 },
      }),
    ]);
    const error = await failsWith(t, model().stream(request(name)), AiBlockedError);
    t.like(error, { code: 'ai_blocked', status: 422, details: { reason: 'SAFETY' } });
  });

  test(`${sdk}: SAFETY mid-stream ends the reply with SAFETY after the text so far`, async (t) => {
    const name = newModelName();
    gemini(name, [
      ok(part('Once upon'), part(' a time', 'SAFETY'), {
        candidates: [
          {
            finishReason: 'SAFETY',
            index: 0,
            safetyRatings: [{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true }],
          },
        ],
      }),
    ]);
    const chunks = await collect(model().stream(request(name)));
    t.deepEqual(deltas(chunks), ['Once upon', ' a time'], 'text sent with the SAFETY finish is kept');
    t.deepEqual(ends(chunks), [{ type: 'end', finishReason: 'SAFETY', usage: null }]);
  });

  test(`${sdk}: MAX_TOKENS ends the reply with MAX_TOKENS`, async (t) => {
    const name = newModelName();
    gemini(name, [
      ok(part('A long'), {
        ...part(' answ', 'MAX_TOKENS'),
        usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 256, thoughtsTokenCount: 10 },
      }),
    ]);
    const chunks = await collect(model().stream(request(name)));
    t.deepEqual(deltas(chunks), ['A long', ' answ']);
    t.deepEqual(chunks.at(-1), { type: 'end', finishReason: 'MAX_TOKENS', usage: { promptTokens: 9, outputTokens: 266 } });
  });

  test.serial(`${sdk}: no first text within firstTokenTimeoutMs is a timeout`, async (t) => {
    const name = newModelName();
    gemini(name, [{ ...ok(part('too late', 'STOP')), delayMs: 2_000 }]);
    const started = Date.now();
    const error = await failsWith(t, model({ firstTokenTimeoutMs: 150 }).stream(request(name)), AiTimeoutError);
    t.like(error, { code: 'ai_timeout', status: 504, details: { phase: 'first_token' } });
    t.true(Date.now() - started < 1_500, 'did not wait for the late answer');
  });

  test.serial(`${sdk}: a stream that stalls past totalTimeoutMs is a timeout after the text so far`, async (t) => {
    const name = newModelName();
    const body = new PassThrough();
    t.teardown(() => body.destroy());
    gemini(name, [{ status: 200, body: () => body }]);
    body.write(frames(part('first')));
    const received: ModelChunk[] = [];
    const error = await failsWith(t, model({ totalTimeoutMs: 500 }).stream(request(name)), AiTimeoutError, received);
    t.like(error, { details: { phase: 'total' } });
    t.deepEqual(deltas(received), ['first']);
  });

  test.serial(`${sdk}: a cancel through the signal ends the iteration quietly`, async (t) => {
    const name = newModelName();
    const body = new PassThrough();
    t.teardown(() => body.destroy());
    gemini(name, [{ status: 200, body: () => body }]);
    body.write(frames(part('first')));
    const controller = new AbortController();
    const received: ModelChunk[] = [];
    for await (const chunk of model().stream(request(name, { signal: controller.signal }))) {
      received.push(chunk);
      controller.abort();
    }
    t.deepEqual(received, [{ type: 'delta', text: 'first' }], 'no end, no error');
  });

  test.serial(`${sdk}: a cancel before the first text ends quietly too`, async (t) => {
    const name = newModelName();
    gemini(name, [{ ...ok(part('late', 'STOP')), delayMs: 1_500 }]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    t.deepEqual(await collect(model().stream(request(name, { signal: controller.signal }))), []);
  });

  test(`${sdk}: an already-cancelled request calls nothing`, async (t) => {
    const name = newModelName();
    const { seen } = gemini(name, [ok(part('never', 'STOP'))]);
    t.deepEqual(await collect(model().stream(request(name, { signal: AbortSignal.abort() }))), []);
    t.is(seen.length, 0);
  });

  test.serial(`${sdk}: a timeout, a cancel and a consumer that stops reading each close the upstream connection`, async (t) => {
    const closed: Promise<unknown>[] = [];
    const server = createServer((_request, response: ServerResponse) => {
      closed.push(once(response, 'close'));
      response.writeHead(200, { 'Content-Type': 'text/event-stream' });
      response.write(frames(part('first'))); // and then nothing
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.teardown(() => {
      server.closeAllConnections();
      server.close();
    });
    const ai = model({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, totalTimeoutMs: 500 });
    // Left open, the connection would stay open until the server closes it; 5 s only bounds how long a busy machine
    // may take to see the close (1 s failed once in a CI run).
    const closedWithin = (index: number) =>
      Promise.race([closed[index]!.then(() => true), new Promise((resolve) => setTimeout(resolve, 5_000, false))]);

    const received: ModelChunk[] = [];
    await failsWith(t, ai.stream(request('m')), AiTimeoutError, received);
    t.deepEqual(deltas(received), ['first']);
    t.true(await closedWithin(0), 'closed after the timeout');

    const controller = new AbortController();
    for await (const chunk of ai.stream(request('m', { signal: controller.signal }))) if (chunk.type === 'delta') controller.abort();
    t.true(await closedWithin(1), 'closed after the cancel');

    for await (const chunk of ai.stream(request('m'))) if (chunk.type === 'delta') break;
    t.true(await closedWithin(2), 'closed after the consumer stopped');
  });
}
