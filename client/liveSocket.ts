import { DEFAULT_BACKOFF, reconnectDelay, type BackoffOptions } from './backoff.ts';
import { Emitter } from './emitter.ts';
import { LetsAppError } from './errors.ts';
import {
  CLOSE_CODES,
  isLiveFrame,
  type AnyServerFrame,
  type ClientFrameType,
  type ClientPayload,
  type ReplyOf,
  type ServerFrame,
  type ServerFrameType,
} from './frames.ts';

/** What a WebSocket needs to offer: the browser's, or `ws` in Node 20 (which has no global WebSocket). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketFactory = new (url: string) => WebSocketLike;

const OPEN = 1;

/** offline: waiting to reconnect; syncing: connected, catching up; live: caught up, updates arrive as they happen. */
export type ConnectionState = 'idle' | 'connecting' | 'syncing' | 'live' | 'offline' | 'unauthorized' | 'closed';

export interface SnapshotEvent {
  position: number;
  conversations: ServerFrame<'sync.snapshot'>['conversations'];
  /** The feed could not replay from the saved position (too old, or from another server): start over from this list. */
  reset: boolean;
}

export type LiveSocketEvents = { [T in ServerFrameType]: ServerFrame<T> } & {
  state: { state: ConnectionState; code?: number; reason?: string; retryInMs?: number };
  /** Caught up after (re)connecting: everything up to `position` was delivered, in order, once. */
  synced: { position: number };
  snapshot: SnapshotEvent;
  /** The token was refused (`reason`: token_expired, token_revoked, …): log in again and call `connect`. */
  unauthorized: { reason: string };
  /** Every live frame, after its own event, once its position is past the last one seen. */
  update: ServerFrame<ServerFrameType> & { position: number };
};

export interface LiveSocketOptions {
  /** `ws://host:port/ws`. */
  url: string;
  token: () => string | null;
  WebSocket: WebSocketFactory;
  /** The last feed position this client has seen: read once per connection, written as frames arrive. */
  loadPosition: () => Promise<number | null>;
  savePosition: (position: number) => Promise<void>;
  backoff?: BackoffOptions;
  /** A request without its reply in this long fails with `timeout` (the socket is not closed for it). */
  requestTimeoutMs?: number;
}

interface PendingRequest {
  resolve: (frame: AnyServerFrame) => void;
  reject: (error: LetsAppError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The socket, kept connected: it reconnects with backoff and jitter, resumes with `sync` from the last position
 * seen (so an update is neither missed nor delivered twice across a disconnect), answers requests by frame id and
 * emits every server frame as a typed event.
 */
export class LiveSocket extends Emitter<LiveSocketEvents> {
  private socket: WebSocketLike | null = null;
  private state: ConnectionState = 'idle';
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private position: number | null = null;
  private nextId = 0;
  private readonly pending = new Map<string, PendingRequest>();
  private saving: Promise<void> = Promise.resolve();
  /** Counts `open` and `close` calls: an `open` still waiting for its position after a newer one gives up. */
  private generation = 0;
  /** Of the current connection (from `welcome`): call signaling names connections. */
  connectionId: number | null = null;

  constructor(private readonly options: LiveSocketOptions) {
    super();
  }

  get current(): ConnectionState {
    return this.state;
  }

  get lastPosition(): number | null {
    return this.position;
  }

  /** Connects (again, after `unauthorized` or `close`); a no-op while connected or connecting. */
  connect(): void {
    if (this.socket || this.retryTimer || this.state === 'connecting') return;
    this.attempt = 0;
    void this.open();
  }

  /** Skips the wait of a scheduled reconnect (the app learnt the network is back). */
  reconnectNow(): void {
    if (!this.retryTimer) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    void this.open();
  }

  /** Disconnects for good (log out); `connect` starts again. */
  close(): void {
    this.generation++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const socket = this.socket;
    this.socket = null;
    this.failPending('disconnected');
    socket?.close(1000, 'client_closed');
    this.setState('closed');
  }

  /** A REST call was refused for the token: the same as the socket being closed with 4401. */
  refused(reason: string): void {
    this.emit('unauthorized', { reason });
  }

  /** Forgets the saved position: the next connection starts from a snapshot. */
  forgetPosition(): Promise<void> {
    this.position = null;
    return Promise.resolve();
  }

  /** Sends a request frame and resolves with its reply, or rejects with the server's `error` frame for it. */
  request<T extends ClientFrameType>(type: T, payload: ClientPayload<T>): Promise<ReplyOf<T>> {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN || this.state !== 'live') {
      return Promise.reject(new LetsAppError('disconnected', 'Not connected'));
    }
    const id = `r${++this.nextId}`;
    return new Promise<ReplyOf<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new LetsAppError('timeout', `No reply to ${type} in time`));
      }, this.options.requestTimeoutMs ?? 15_000);
      this.pending.set(id, { resolve: resolve as (frame: AnyServerFrame) => void, reject, timer });
      socket.send(JSON.stringify({ ...payload, type, id }));
    });
  }

  private async open(): Promise<void> {
    this.retryTimer = null;
    const generation = ++this.generation;
    if (!this.options.token()) {
      this.setState('unauthorized');
      this.emit('unauthorized', { reason: 'missing_token' });
      return;
    }
    this.setState('connecting');
    const saved = this.position === null ? await this.options.loadPosition() : this.position;
    // Closed, or another session opened, while the position loaded: this attempt is not the current one.
    if (generation !== this.generation) return;
    this.position ??= saved;
    // Read after the wait, so it is the session's token as of now.
    const token = this.options.token();
    if (!token) return;
    const socket = new this.options.WebSocket(`${this.options.url}?token=${encodeURIComponent(token)}`);
    this.socket = socket;
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      let frame: AnyServerFrame;
      try {
        frame = JSON.parse(String(event.data)) as AnyServerFrame;
      } catch {
        return;
      }
      this.receive(socket, frame);
    };
    socket.onclose = (event) => {
      if (this.socket === socket) this.lost(event.code, event.reason);
    };
    socket.onerror = () => {
      /* a close event follows */
    };
  }

  private receive(socket: WebSocketLike, frame: AnyServerFrame): void {
    switch (frame.type) {
      case 'welcome':
        this.connectionId = frame.connectionId;
        this.setState('syncing');
        socket.send(
          JSON.stringify(this.position === null ? { type: 'sync', id: 'sync' } : { type: 'sync', id: 'sync', since: this.position }),
        );
        break;
      case 'sync.snapshot':
      case 'sync.reset':
        // Where the snapshot stands, even below the saved position (a reset may come from a store that was rebuilt
        // or from another server): keeping the higher one would drop every update as already seen.
        this.position = null;
        this.advance(frame.position);
        this.emit('snapshot', { position: frame.position, conversations: frame.conversations, reset: frame.type === 'sync.reset' });
        this.goLive(frame.position);
        break;
      case 'sync.ok':
        this.advance(frame.position);
        this.goLive(frame.position);
        break;
      case 'error':
        if (frame.id === 'sync') {
          // The server refused the sync itself (rate limited): try again on a fresh connection.
          socket.close(4000, 'sync_failed');
          break;
        }
        this.settle(frame.id, frame);
        break;
      default:
        if (isLiveFrame(frame)) {
          if (this.position !== null && frame.position <= this.position) return;
          this.advance(frame.position);
          this.emit(frame.type, frame);
          this.emit('update', frame);
          return;
        }
        // A reply settles its request and is an event too (`presence.snapshot` for a resubscription after reconnecting).
        if ('id' in frame && typeof frame.id === 'string' && this.pending.has(frame.id)) this.settle(frame.id, frame);
        this.emit(frame.type, frame);
    }
  }

  private settle(id: string | undefined, frame: AnyServerFrame): void {
    const request = id === undefined ? undefined : this.pending.get(id);
    if (!request || id === undefined) {
      if (frame.type === 'error') this.emit('error', frame);
      return;
    }
    this.pending.delete(id);
    clearTimeout(request.timer);
    if (frame.type === 'error' || frame.type === 'ai.error') request.reject(LetsAppError.fromBody(frame, null));
    else request.resolve(frame);
  }

  private advance(position: number): void {
    if (this.position !== null && position <= this.position) return;
    this.position = position;
    // In order, so an older position never overwrites a newer one.
    this.saving = this.saving.then(() => this.options.savePosition(position)).catch(() => undefined);
  }

  private goLive(position: number): void {
    this.attempt = 0;
    this.setState('live');
    this.emit('synced', { position });
  }

  private lost(code: number, reason: string): void {
    this.socket = null;
    this.connectionId = null;
    this.failPending('disconnected');
    if (code === CLOSE_CODES.UNAUTHORIZED) {
      this.setState('unauthorized', { code, reason });
      this.emit('unauthorized', { reason });
      return;
    }
    const backoff = this.options.backoff ?? DEFAULT_BACKOFF;
    // Too many sockets open for this user: another tab must close first, so wait the longest.
    const retryInMs = code === CLOSE_CODES.TOO_MANY_CONNECTIONS ? backoff.maxMs : reconnectDelay(this.attempt++, backoff);
    this.setState('offline', { code, reason, retryInMs });
    this.retryTimer = setTimeout(() => void this.open(), retryInMs);
  }

  private failPending(code: 'disconnected'): void {
    for (const [id, request] of this.pending) {
      clearTimeout(request.timer);
      request.reject(new LetsAppError(code, 'The connection closed before the reply'));
      this.pending.delete(id);
    }
  }

  private setState(state: ConnectionState, detail: { code?: number; reason?: string; retryInMs?: number } = {}): void {
    this.state = state;
    this.emit('state', { state, ...detail });
  }
}
