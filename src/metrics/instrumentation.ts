import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.ts';

/**
 * The user of a log line, as a keyed hash: lines of one user can be followed and an operator who knows an id can find
 * its lines (`npm run`-free: the same HMAC), but a leaked log names nobody. Keyed by the JWT secret, so the hash
 * of a known id cannot be computed without it.
 */
export function userHasher(secret: string): (userId: string) => string {
  const key = createHmac('sha256', secret).update('letsapp log user hash').digest();
  return (userId) => createHmac('sha256', key).update(userId).digest('hex').slice(0, 16);
}

/** One answered REST request, as logged and counted. */
export interface AnsweredRequest {
  requestId: string;
  clientRequestId?: string | undefined;
  method: string;
  /** The route template (`/api/messages/:id`), `unmatched` when no route matched: never the path as sent. */
  route: string;
  status: number;
  seconds: number;
  userId?: string | undefined;
}

/** A frame answered with an error frame (or a close), as logged and counted. */
export interface RefusedFrame {
  connectionId: number;
  userId: string;
  /** The frame's type when it had a well-formed one (only the protocol's types are counted by name). */
  frameType?: string | undefined;
  frameId?: string | undefined;
  code: string;
  status: number;
  seconds: number;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * What the transports report of their traffic: one log line per request and per refused frame (request id, route
 * template, status, duration, the user's hash; never a token, a body or a path), and the metrics when they are on.
 */
export class Instrumentation {
  private readonly hashUser: (userId: string) => string;

  constructor(
    private readonly logger: Logger,
    readonly metrics: Metrics | null,
    secret: string,
  ) {
    this.hashUser = userHasher(secret);
  }

  request({ requestId, clientRequestId, method, route, status, seconds, userId }: AnsweredRequest): void {
    const knownMethod = METHODS.has(method) ? method : 'OTHER';
    this.metrics?.httpAnswered(route, knownMethod, status, seconds);
    this.logger.info(
      {
        requestId,
        ...(clientRequestId === undefined ? {} : { clientRequestId }),
        method: knownMethod,
        route,
        status,
        ms: Math.round(seconds * 1000),
        ...(userId === undefined ? {} : { user: this.hashUser(userId) }),
      },
      'request',
    );
  }

  frameRefused({ connectionId, userId, frameType, frameId, code, status, seconds }: RefusedFrame): void {
    this.metrics?.frameRefused(frameType, code);
    this.logger.info(
      {
        connectionId,
        ...(frameType === undefined ? {} : { frameType }),
        ...(frameId === undefined ? {} : { frameId }),
        code,
        status,
        ms: Math.round(seconds * 1000),
        user: this.hashUser(userId),
      },
      'frame refused',
    );
  }

  frameReceived(type: string): void {
    this.metrics?.frameReceived(type);
  }

  frameSent(bytes: string): void {
    this.metrics?.frameSent(bytes);
  }

  socketOpened(): void {
    this.metrics?.socketOpened();
  }

  socketClosed(code: number, wasOpen: boolean): void {
    this.metrics?.socketClosed(code, wasOpen);
  }
}

/** A bearer token compared in constant time (a timing difference would reveal how much of a guess was right). */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/.exec(authorization ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * `GET /metrics` on a port of its own, bound to the loopback interface: whatever can reach it runs on this host
 * (a Prometheus agent, a sidecar), so it asks for no token. Resolves with the bound port.
 */
export async function startMetricsServer(
  metrics: Metrics,
  port: number,
  logger: Logger,
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
      response
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'not_found', message: 'Only GET /metrics is served here' } }));
      return;
    }
    metrics.exposition().then(
      ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType }).end(body),
      (error: unknown) => {
        logger.error({ err: error }, 'metrics exposition failed');
        response
          .writeHead(500, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { code: 'internal_error', message: 'Metrics failed; it has been logged' } }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
