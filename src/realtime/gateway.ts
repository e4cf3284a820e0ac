import uWS from 'uWebSockets.js';
import type { z } from 'zod';
import type { Logger } from 'pino';
import { DomainError, ValidationError } from '../../commands/shared/errors.ts';
import { NotForBotsError } from '../../commands/bots.ts';
import type { Authenticator, Principal } from '../auth/authenticator.ts';
import { bearerToken } from '../auth/authenticator.ts';
import { toErrorResponse } from '../contract/errors.ts';
import {
  CLIENT_FRAMES,
  CLOSE,
  FRAME_ID,
  FRAME_TYPE,
  LIMITS,
  WS_PATH,
  type ClientFrame,
  type ClientFrameType,
} from '../contract/socketProtocol.ts';
import { parse } from '../contract/validation.ts';
import type { Publication } from '../projection/projector.ts';
import type { RateLimits } from '../rateLimit/rateLimits.ts';
import { MAX_TIMER_MS } from '../timers.ts';
import { SpanKind, type Span } from '@opentelemetry/api';
import type { Tracing } from '../tracing/tracing.ts';
import type { Instrumentation } from '../metrics/instrumentation.ts';
import { SocketConnection, type Connection, type Socket, type SocketData } from './connection.ts';

export type { Connection };

type Payload<T extends ClientFrameType> = z.output<(typeof CLIENT_FRAMES)[T]['payload']>;
type ReplyFields<T extends ClientFrameType> = (typeof CLIENT_FRAMES)[T]['reply'] extends z.ZodObject
  ? z.input<NonNullable<(typeof CLIENT_FRAMES)[T]['reply']>>
  : void;

/** Handles one frame type, given its validated payload; its result is sent back as `{type: "<type>.ok", id, ...result}`. */
export type FrameHandler<T extends ClientFrameType> = (
  connection: Connection,
  payload: Payload<T>,
  frameId: string | undefined,
) => Promise<ReplyFields<T>>;
export type FrameHandlers = { [T in ClientFrameType]: FrameHandler<T> };

export interface GatewayDeps {
  authenticator: Authenticator;
  logger: Logger;
  handlers: FrameHandlers;
  rateLimits: RateLimits;
  /** Bytes queued for one socket before it is closed as a slow consumer; LIMITS.maxBufferedBytes by default. */
  maxBufferedBytes?: number;
  /** The server's clock: a socket lives until its token's expiry by this clock. */
  clock: () => Date;
  /** Frames waiting their turn per socket; LIMITS.maxPendingFrames by default (tests lower it). */
  maxPendingFrames?: number;
  /** Told of each socket's life (presence): opened, any inbound frame or pong, closed. */
  observer?: ConnectionObserver;
  /** Traces each frame (OTEL_EXPORTER_OTLP_ENDPOINT). */
  tracing?: Tracing;
  /** Logs refused frames and counts sockets, frames and closes. */
  instrumentation?: Instrumentation;
  /** Where connection ids come from: unique across the instances sharing one database (a counter by default). */
  connectionIds?: { next(): Promise<number> };
}

export interface ConnectionObserver {
  /** The welcome frame waits for what this returns (the socket recorded where other instances look it up). */
  connected(connection: Connection): void | Promise<void>;
  activity(connection: Connection): void;
  disconnected(connection: Connection): void;
}

/**
 * The uWebSockets.js server on `/ws`. A connection authenticates during the upgrade with the access token
 * (`?token=` or `Authorization: Bearer`); a refused one is accepted and closed at once with 4401 and a reason,
 * so every client sees a clear close code.
 */
export class SocketGateway {
  private readonly app = uWS.App();
  private listenSocket: uWS.us_listen_socket | null = null;
  private lastId = 0;
  private readonly connections = new Set<SocketConnection>();
  private readonly byUser = new Map<string, Set<SocketConnection>>();
  private readonly byId = new Map<number, SocketConnection>();
  private readonly maxBufferedBytes: number;

  constructor(private readonly deps: GatewayDeps) {
    this.maxBufferedBytes = deps.maxBufferedBytes ?? LIMITS.maxBufferedBytes;
    this.app.ws<SocketData>(WS_PATH, {
      compression: uWS.DISABLED,
      maxPayloadLength: LIMITS.hardFrameBytes,
      maxBackpressure: this.maxBufferedBytes * 2,
      idleTimeout: LIMITS.idleTimeoutSeconds,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (socket) => this.open(socket),
      message: (socket, message) => {
        if (message.byteLength > LIMITS.maxFrameBytes) {
          const connection = socket.getUserData().connection;
          if (connection) this.refused(connection, undefined, undefined, 'frame_too_large', 413, performance.now());
          connection?.close(CLOSE.FRAME_TOO_LARGE, 'frame_too_large');
          return;
        }
        // uWebSockets.js reuses `message` after this callback returns: decode it now.
        this.message(socket, Buffer.from(message).toString('utf8'));
      },
      drain: (socket) => socket.getUserData().connection?.onDrain(),
      pong: (socket) => {
        const connection = socket.getUserData().connection;
        if (connection && !connection.closed) this.deps.observer?.activity(connection);
      },
      close: (socket, code) => {
        this.deps.instrumentation?.socketClosed(code, socket.getUserData().connection !== null);
        this.closed(socket);
      },
    });
    this.app.any('/*', (res) => {
      res
        .writeStatus('404 Not Found')
        .writeHeader('Content-Type', 'application/json')
        .end(JSON.stringify({ error: { code: 'not_found', message: `WebSocket endpoint is ${WS_PATH}` } }));
    });
  }

  /**
   * Listens exclusively (no SO_REUSEPORT): a second server on the same port fails here instead of silently taking
   * a share of the connections. Resolves with the port, or null when it cannot be bound (in use, or not allowed).
   */
  listen(host: string, port: number): Promise<number | null> {
    return new Promise((resolve) => {
      this.app.listen(host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (!socket) return resolve(null);
        this.listenSocket = socket;
        resolve(uWS.us_socket_local_port(socket));
      });
    });
  }

  private upgrade(res: uWS.HttpResponse, req: uWS.HttpRequest, context: uWS.us_socket_context_t): void {
    // Everything needed from `req` must be read now: it is gone after the first await.
    const token = req.getQuery('token') || bearerToken(req.getHeader('authorization') || undefined);
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    void this.deps.authenticator
      .authenticate(token)
      .then(async (principal: Principal) => ({
        principal,
        refusal: null,
        connectionId: this.deps.connectionIds ? await this.deps.connectionIds.next() : ++this.lastId,
      }))
      .catch((error: unknown) => ({
        principal: null,
        connectionId: null,
        refusal:
          error instanceof DomainError
            ? { code: error.code, message: error.message }
            : { code: 'unauthorized', message: 'Authentication failed' },
      }))
      .then(({ principal, refusal, connectionId }) => {
        if (aborted) return;
        res.cork(() => res.upgrade<SocketData>({ principal, refusal, connectionId, connection: null }, key, protocol, extensions, context));
      });
  }

  private open(socket: Socket): void {
    const data = socket.getUserData();
    if (!data.principal) {
      const refusal = data.refusal ?? { code: 'unauthorized', message: 'Authentication failed' };
      const bytes = JSON.stringify({ type: 'error', error: refusal });
      socket.send(bytes);
      this.deps.instrumentation?.frameSent(bytes);
      socket.end(CLOSE.UNAUTHORIZED, refusal.code);
      return;
    }
    const userId = data.principal.userId;
    if ((this.byUser.get(userId)?.size ?? 0) >= LIMITS.maxSocketsPerUser) {
      socket.send(
        JSON.stringify({
          type: 'error',
          error: {
            code: 'too_many_connections',
            message: `At most ${LIMITS.maxSocketsPerUser} sockets per user`,
          },
        }),
      );
      socket.end(CLOSE.TOO_MANY_CONNECTIONS, 'too_many_connections');
      return;
    }
    const connection = new SocketConnection(data.connectionId ?? ++this.lastId, data.principal, socket, this.maxBufferedBytes);
    data.connection = connection;
    const { instrumentation } = this.deps;
    if (instrumentation) {
      instrumentation.socketOpened();
      connection.sent = (bytes) => instrumentation.frameSent(bytes);
    }
    this.armExpiry(connection);
    this.connections.add(connection);
    this.byId.set(connection.id, connection);
    let sockets = this.byUser.get(userId);
    if (!sockets) this.byUser.set(userId, (sockets = new Set()));
    sockets.add(connection);
    const recorded = this.deps.observer?.connected(connection);
    // Welcomed once its id can be looked up from any instance (a REST answer naming it may go to another); frames
    // wait their turn behind the welcome.
    const welcome = () =>
      connection.send(JSON.stringify({ type: 'welcome', userId: connection.principal.userId, connectionId: connection.id }));
    if (recorded) connection.queue = recorded.then(welcome, welcome);
    else welcome();
  }

  /**
   * A socket lives no longer than its token: the client reconnects with a fresh one and resumes with `sync`.
   * Re-armed in steps, as a token may outlive the longest delay setTimeout takes.
   */
  private armExpiry(connection: SocketConnection): void {
    const remaining = Date.parse(connection.principal.expiresAt) - this.deps.clock().getTime();
    if (remaining <= 0) {
      connection.close(CLOSE.UNAUTHORIZED, 'token_expired');
      return;
    }
    connection.expiry = setTimeout(() => this.armExpiry(connection), Math.min(remaining, MAX_TIMER_MS));
    connection.expiry.unref();
  }

  private message(socket: Socket, text: string): void {
    const connection = socket.getUserData().connection;
    if (!connection || connection.closed) return;
    try {
      // Per socket, and over all of a user's sockets, so opening more sockets does not buy more frames. Flood guards
      // of this process's sockets: taken here without a round trip, even when the feature budgets are shared.
      this.deps.rateLimits.take('frames', connectionKey(connection));
      this.deps.rateLimits.take('user-frames', connection.principal.userId);
    } catch (error) {
      const { status, body } = toErrorResponse(error, this.deps.logger, { connectionId: connection.id });
      this.refused(connection, undefined, undefined, body.error.code, status, performance.now());
      connection.send(JSON.stringify({ type: 'error', ...body }));
      connection.close(CLOSE.RATE_LIMITED, 'rate_limited');
      return;
    }
    this.deps.observer?.activity(connection);
    if (connection.pending >= (this.deps.maxPendingFrames ?? LIMITS.maxPendingFrames)) {
      this.refused(connection, undefined, undefined, 'too_many_pending_frames', 429, performance.now());
      connection.close(CLOSE.RATE_LIMITED, 'too_many_pending_frames');
      return;
    }
    connection.pending++;
    connection.queue = connection.queue.then(async () => {
      // Frames still waiting when their socket closed (revoked, rate limited, slow) are dropped, not run.
      if (!connection.closed) await this.handleFrame(connection, text);
      connection.pending--;
    });
  }

  private handleFrame(connection: SocketConnection, text: string): Promise<void> {
    const tracing = this.deps.tracing;
    if (!tracing?.enabled) return this.runFrame(connection, text, null);
    return tracing.span(
      'ws frame',
      { 'letsapp.connection_id': connection.id },
      (span) => this.runFrame(connection, text, span),
      SpanKind.SERVER,
    );
  }

  private async runFrame(connection: SocketConnection, text: string, span: Span | null): Promise<void> {
    let frame: ClientFrame | null = null;
    const started = performance.now();
    try {
      frame = parseFrame(text);
      this.deps.instrumentation?.frameReceived(frame.type);
      if (!Object.hasOwn(CLIENT_FRAMES, frame.type)) throw new ValidationError(`Unknown frame type: ${frame.type}`, { type: frame.type });
      const type = frame.type as ClientFrameType;
      span?.updateName(`ws ${type}`);
      const spec = CLIENT_FRAMES[type];
      // Leta is not for bot accounts, as on REST.
      if (type.startsWith('ai.') && connection.principal.user.bot) throw new NotForBotsError('use Leta');
      // The same budget as the REST routes of this policy: an error frame, the socket stays open.
      if (spec.policy) await this.deps.rateLimits.charge(spec.policy, connection.principal.userId);
      const { type: _type, id, ...payload } = frame;
      // Each handler's payload and reply types are checked in `FrameHandlers`; here they are just passed along.
      const handler = this.deps.handlers[type] as (connection: Connection, payload: unknown, frameId?: string) => Promise<object | void>;
      const result = await handler(connection, parse(spec.payload, payload), id);
      if (spec.reply) connection.send(JSON.stringify({ type: `${type}.ok`, id, ...result }));
    } catch (error) {
      const { status, body } = toErrorResponse(error, this.deps.logger, { connectionId: connection.id, frameType: frame?.type });
      if (!frame) this.deps.instrumentation?.frameReceived('invalid');
      this.refused(connection, frame?.type, frame?.id, body.error.code, status, started);
      span?.setAttribute('letsapp.error_code', body.error.code);
      connection.send(JSON.stringify({ type: 'error', id: frame?.id, ...body }));
    }
  }

  private refused(
    connection: SocketConnection,
    frameType: string | undefined,
    frameId: string | undefined,
    code: string,
    status: number,
    started: number,
  ): void {
    this.deps.instrumentation?.frameRefused({
      connectionId: connection.id,
      userId: connection.principal.userId,
      frameType,
      frameId,
      code,
      status,
      seconds: (performance.now() - started) / 1000,
    });
  }

  private closed(socket: Socket): void {
    const connection = socket.getUserData().connection;
    if (!connection) return;
    connection.closed = true;
    connection.onDrain();
    if (connection.expiry) clearTimeout(connection.expiry);
    this.deps.rateLimits.forget('frames', connectionKey(connection));
    this.connections.delete(connection);
    this.byId.delete(connection.id);
    const sockets = this.byUser.get(connection.principal.userId);
    sockets?.delete(connection);
    if (sockets?.size === 0) this.byUser.delete(connection.principal.userId);
    this.deps.observer?.disconnected(connection);
  }

  /** Delivers a committed batch of live updates: per socket, all of its frames in one corked write. */
  deliverAll(publications: readonly Publication[]): void {
    const bySocket = new Map<SocketConnection, Publication[]>();
    for (const publication of publications) {
      for (const userId of publication.userIds) {
        for (const connection of this.byUser.get(userId) ?? []) {
          let queue = bySocket.get(connection);
          if (!queue) bySocket.set(connection, (queue = []));
          queue.push(publication);
        }
      }
    }
    for (const [connection, queue] of bySocket)
      connection.cork(() => {
        for (const publication of queue) connection.deliver(publication);
      });
  }

  /** Whose an open socket is, or null. */
  ownerOf(connectionId: number): string | null {
    return this.byId.get(connectionId)?.principal.userId ?? null;
  }

  isConnected(userId: string): boolean {
    return (this.byUser.get(userId)?.size ?? 0) > 0;
  }

  /** Whether one of the user's sockets here is synced (live updates reach it). */
  hasLiveSocket(userId: string): boolean {
    for (const connection of this.byUser.get(userId) ?? []) if (connection.isLive) return true;
    return false;
  }

  /** Sends to one socket; false when it is not open. */
  sendToConnection(connectionId: number, bytes: string): boolean {
    const connection = this.byId.get(connectionId);
    if (!connection || connection.closed) return false;
    connection.send(bytes);
    return true;
  }

  /** Sends the same bytes to every socket of `userId`. */
  sendToUser(userId: string, bytes: string): void {
    const sockets = this.byUser.get(userId);
    if (sockets) for (const connection of sockets) connection.send(bytes);
  }

  /** Closes every socket opened with a revoked token. */
  revokeToken(tokenId: string): void {
    for (const connection of this.connections) {
      if (connection.principal.tokenId === tokenId) connection.close(CLOSE.UNAUTHORIZED, 'token_revoked');
    }
  }

  /** Closes every socket of a user (suspended by an operator), whatever token opened it. */
  closeUser(userId: string, reason: 'account_suspended' | 'account_deleted'): void {
    for (const connection of [...(this.byUser.get(userId) ?? [])]) connection.close(CLOSE.UNAUTHORIZED, reason);
  }

  /**
   * Shutdown, first step: no new sockets, while the open ones are still served. Resolves once every frame each socket
   * had sent is answered (its ack queued ahead of the close), or at `deadline`.
   */
  async settle(deadline: number): Promise<void> {
    if (this.listenSocket) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    });
    const answered = async (connection: SocketConnection) => {
      // Frames that arrive while earlier ones run join the queue: wait until it stops growing.
      for (let queue = connection.queue; ; queue = connection.queue) {
        await queue;
        if (queue === connection.queue || connection.closed) return;
      }
    };
    await Promise.race([Promise.all([...this.connections].map(answered)), expired]);
    clearTimeout(timer);
  }

  /** Tells every socket 1001 after what is already queued for it; frames received after this are not run. */
  close(): Promise<void> {
    if (this.listenSocket) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    for (const connection of [...this.connections]) connection.close(CLOSE.GOING_AWAY, 'server_shutdown');
    return Promise.resolve();
  }
}

/** uWebSockets.js's `ListenOptions.LIBUS_LISTEN_EXCLUSIVE_PORT` (the enum exists in its types only, not at runtime). */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;

declare module 'uWebSockets.js' {
  interface TemplatedApp {
    /** Listens to hostname & port with listen options (the native binding takes all four; its types omit this form). */
    listen(
      host: RecognizedString,
      port: number,
      options: number,
      cb: (listenSocket: us_listen_socket | false) => void | Promise<void>,
    ): TemplatedApp;
  }
}

const connectionKey = (connection: SocketConnection) => `socket:${connection.id}`;

function parseFrame(text: string): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationError('Frame is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ValidationError('A frame is a JSON object');
  const { type, id } = value as Record<string, unknown>;
  if (typeof type !== 'string' || !FRAME_TYPE.test(type)) throw new ValidationError('type: a frame needs a string type', { field: 'type' });
  if (id !== undefined && (typeof id !== 'string' || !FRAME_ID.test(id))) {
    throw new ValidationError('id: frame ids are 1–64 letters, digits or _.:-', { field: 'id' });
  }
  return value as ClientFrame;
}
