import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver stand-in got: its path (without the query), headers and raw body (as the signature covers it). */
export interface ReceivedWebhook {
  path: string;
  query: string;
  headers: IncomingMessage['headers'];
  body: string;
  json: any;
}

/** What a path answers: a status (and headers), or `hang` (never answers). */
export type ReceiverAnswer = { status: number; headers?: Record<string, string> } | 'hang';

/**
 * A webhook receiver on loopback: records every request, and answers each path as told (200 unless `answer` says
 * otherwise, e.g. 500 twice then 200). `connections` counts TCP connections, whether or not a request followed.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  connections = 0;
  private readonly answers = new Map<string, (count: number) => ReceiverAnswer>();
  private readonly waiters = new Set<() => void>();
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<WebhookReceiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new WebhookReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('connection', () => receiver.connections++);
    server.on('request', (request, response) => receiver.handle(request, response));
    return receiver;
  }

  /** How `path` answers its nth request (1-based). */
  answer(path: string, answer: (count: number) => ReceiverAnswer): void {
    this.answers.set(path, answer);
  }

  for(path: string): ReceivedWebhook[] {
    return this.received.filter((request) => request.path === path);
  }

  /** Resolves once `predicate` holds of what was received. */
  waitFor(predicate: (received: ReceivedWebhook[]) => boolean, timeoutMs = 20_000): Promise<void> {
    if (predicate(this.received)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this.received)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`the receiver did not get what was expected in ${timeoutMs} ms (${this.received.length} requests)`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const target = new URL(request.url ?? '/', 'http://receiver');
      const path = target.pathname;
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = null;
      }
      this.received.push({ path, query: target.search, headers: request.headers, body, json });
      const answer = this.answers.get(path)?.(this.for(path).length) ?? { status: 200 };
      if (answer === 'hang') this.hanging.add(response);
      else {
        response.writeHead(answer.status, answer.headers);
        response.end('ok');
      }
      for (const waiter of [...this.waiters]) waiter();
    });
  }

  async close(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
