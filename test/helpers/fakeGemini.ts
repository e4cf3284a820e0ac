import { createServer } from 'node:http';

export interface FakeGemini {
  url: string;
  apiKey: string;
  /** The prompts it was sent, newest last (the text of each request's last turn). */
  prompts: string[];
  /** The files each request sent inline with its last turn (base64, as Gemini takes audio), newest last. */
  inlineFiles: Array<Array<{ mimeType: string; data: string }>>;
  /** Streamed replies whose caller hung up before the reply ended (the server aborted its request). */
  aborted(): number;
  /** Resolves when a streamed reply has been aborted by its caller, or rejects after `timeoutMs`. */
  untilAborted(timeoutMs: number): Promise<void>;
  /** Characters of reply text written so far, over every request. */
  charactersSent(): number;
  close(): Promise<void>;
}

export interface FakeGeminiOptions {
  /** Never finish: the chunks are written again and again until the caller hangs up. */
  endless?: boolean;
}

/**
 * Gemini's wire format on loopback, for a server in another process or a browser test (nock only reaches the test's
 * own process): a key check (`GET /v1beta/models/{model}`) that accepts any key, and replies streamed from
 * `:streamGenerateContent?alt=sse` as these chunks, `gapMs` apart, so a client sees them arrive one by one.
 */
export async function fakeGemini(chunks: readonly string[], gapMs = 50, options: FakeGeminiOptions = {}): Promise<FakeGemini> {
  const prompts: string[] = [];
  const inlineFiles: FakeGemini['inlineFiles'] = [];
  let aborted = 0;
  let charactersSent = 0;
  const abortWaiters = new Set<() => void>();
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (part: string) => {
      body += part;
    });
    // A handler's failure fails the request (the socket resets), as a crashed server's would.
    req.on(
      'end',
      () =>
        void (async () => {
          if (req.method === 'GET') {
            res.writeHead(200, { 'Content-Type': 'application/json' });
            return void res.end(JSON.stringify({ name: 'models/gemini-2.5-flash' }));
          }
          type Part = { text?: string; inlineData?: { mimeType: string; data: string } };
          const contents = (JSON.parse(body) as { contents: Array<{ parts: Part[] }> }).contents;
          const parts = contents.at(-1)?.parts ?? [];
          prompts.push(parts.find((part) => part.text !== undefined)?.text ?? '');
          inlineFiles.push(parts.flatMap((part) => (part.inlineData ? [part.inlineData] : [])));
          res.writeHead(200, { 'Content-Type': 'text/event-stream' });
          res.on('close', () => {
            if (res.writableEnded) return;
            aborted++;
            for (const wake of abortWaiters) wake();
          });
          if (options.endless) {
            for (let index = 0; !res.destroyed; index++) {
              const text = chunks[index % chunks.length]!;
              charactersSent += text.length;
              res.write(`data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0 }] })}\r\n\r\n`);
              await new Promise((resolve) => setTimeout(resolve, gapMs));
            }
            return;
          }
          for (const [index, text] of chunks.entries()) {
            const last = index === chunks.length - 1;
            charactersSent += text.length;
            res.write(
              `data: ${JSON.stringify({
                candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...(last ? { finishReason: 'STOP' } : {}) }],
                ...(last ? { usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 5, totalTokenCount: 17 } } : {}),
              })}\r\n\r\n`,
            );
            if (!last) await new Promise((resolve) => setTimeout(resolve, gapMs));
          }
          res.end();
        })().catch(() => res.destroy()),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    apiKey: 'AIzaSy-fake-gemini-key-abcdefghijklmnop',
    prompts,
    inlineFiles,
    aborted: () => aborted,
    untilAborted: (timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        if (aborted > 0) return resolve();
        const timer = setTimeout(() => {
          abortWaiters.delete(wake);
          reject(new Error(`the fake Gemini's reply was not aborted within ${timeoutMs} ms`));
        }, timeoutMs);
        const wake = () => {
          clearTimeout(timer);
          abortWaiters.delete(wake);
          resolve();
        };
        abortWaiters.add(wake);
      }),
    charactersSent: () => charactersSent,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
