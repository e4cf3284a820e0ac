import { createServer } from 'node:http';

export interface FakeGemini {
  url: string;
  apiKey: string;
  /** The prompts it was sent, newest last (the text of each request's last turn). */
  prompts: string[];
  close(): Promise<void>;
}

/**
 * Gemini's wire format on loopback, for a server in another process or a browser test (nock only reaches the test's
 * own process): a key check (`GET /v1beta/models/{model}`) that accepts any key, and replies streamed from
 * `:streamGenerateContent?alt=sse` as these chunks, `gapMs` apart, so a client sees them arrive one by one.
 */
export async function fakeGemini(chunks: readonly string[], gapMs = 50): Promise<FakeGemini> {
  const prompts: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (part: string) => { body += part; });
    req.on('end', async () => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return void res.end(JSON.stringify({ name: 'models/gemini-2.5-flash' }));
      }
      const contents = (JSON.parse(body) as { contents: Array<{ parts: Array<{ text: string }> }> }).contents;
      prompts.push(contents.at(-1)?.parts[0]?.text ?? '');
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      for (const [index, text] of chunks.entries()) {
        const last = index === chunks.length - 1;
        res.write(`data: ${JSON.stringify({
          candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...last ? { finishReason: 'STOP' } : {} }],
          ...last ? { usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 5, totalTokenCount: 17 } } : {},
        })}\r\n\r\n`);
        if (!last) await new Promise((resolve) => setTimeout(resolve, gapMs));
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    apiKey: 'AIzaSy-fake-gemini-key-abcdefghijklmnop',
    prompts,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
