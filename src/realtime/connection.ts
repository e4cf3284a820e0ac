import type uWS from 'uWebSockets.js';
import type { Principal } from '../auth/authenticator.ts';
import type { Publication } from '../projection/projector.ts';
import { CLOSE } from '../contract/socketProtocol.ts';

/** A socket as frame handlers and live delivery see it. */
export interface Connection {
  readonly id: number;
  readonly principal: Principal;
  /** Serialized once by the caller, the same bytes may go to many sockets. */
  send(bytes: string): void;
  close(code: number, reason: string): void;
  /** A live update; sent only once the client has synced, and never at or below the last position sent. */
  deliver(publication: Publication): void;
  /** Holds live updates back while a sync replays what the client missed. */
  beginSync(): void;
  /** Goes live from `position`: held-back updates after it are sent, older ones were covered by the sync. */
  endSync(position: number): void;
  /** A sync that failed: the socket is not live (nothing is sent) until the client syncs again. */
  abortSync(): void;
  /** More than a quarter of the send buffer is queued: a replay should wait for `drained()` before sending more. */
  readonly congested: boolean;
  /** Resolves once the client has read what was sent down to a quarter of the send buffer (or the socket closed). */
  drained(): Promise<void>;
}

/** What uWebSockets.js keeps per socket: the upgrade's outcome, then the connection. */
export interface SocketData {
  principal: Principal | null;
  refusal: { code: string; message: string } | null;
  /** Taken during the upgrade: unique across the instances sharing one database. */
  connectionId: number | null;
  connection: SocketConnection | null;
}

export type Socket = uWS.WebSocket<SocketData>;

/** One authenticated socket: its ordered frame queue, its live/sync state and its bounded send buffer. */
export class SocketConnection implements Connection {
  /** Frames of one socket are handled strictly in order; a failing frame does not block the next. */
  queue: Promise<void> = Promise.resolve();
  /** Frames received and not yet handled: bounded by LIMITS.maxPendingFrames. */
  pending = 0;
  closed = false;
  expiry: NodeJS.Timeout | null = null;
  /** Told of each frame sent (metrics count them by type). */
  sent: ((bytes: string) => void) | null = null;

  /** Replays waiting for the client to read what was queued (see `congested`). */
  private drainWaiters: Array<() => void> = [];
  private live = false;
  private lastPosition = 0;
  private held: Publication[] | null = null;
  /** The call this device is ringing for: another call's `call.incoming` is not sent meanwhile. */
  private ringingFor: string | null = null;

  constructor(
    readonly id: number,
    readonly principal: Principal,
    private readonly socket: Socket,
    private readonly maxBufferedBytes: number,
  ) {}

  deliver(publication: Publication): void {
    if (this.held) {
      this.held.push(publication);
      return;
    }
    if (!this.live || publication.position <= this.lastPosition) return;
    this.lastPosition = publication.position;
    const ring = publication.ring;
    if (ring?.state === 'start') {
      // Busy ringing for another call: this device is not rung again (the call is in the user's history).
      if (this.ringingFor !== null && this.ringingFor !== ring.callId) return;
      this.ringingFor = ring.callId;
    } else if (ring?.state === 'stop' && ring.callId === this.ringingFor) {
      this.ringingFor = null;
    }
    this.send(publication.bytes);
  }

  beginSync(): void {
    this.held ??= [];
  }

  /** Outside uWebSockets.js callbacks every send is its own write; corked, a batch goes out in one. */
  cork(fn: () => void): void {
    if (this.closed) return;
    this.socket.cork(fn);
  }

  endSync(position: number): void {
    const held = this.held ?? [];
    this.held = null;
    this.live = true;
    this.lastPosition = position;
    for (const publication of held) this.deliver(publication);
  }

  /** Synced and not closed: live updates reach it (Web Push leaves its user alone). */
  get isLive(): boolean {
    return this.live && !this.closed;
  }

  get congested(): boolean {
    return !this.closed && this.socket.getBufferedAmount() > this.maxBufferedBytes / 4;
  }

  drained(): Promise<void> {
    if (!this.congested) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** uWebSockets.js reports that the client read some of what was queued (the gateway also calls it on close). */
  onDrain(): void {
    if (this.congested) return;
    const waiting = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiting) resolve();
  }

  abortSync(): void {
    this.held = null;
    this.live = false;
  }

  send(bytes: string): void {
    if (this.closed) return;
    this.socket.send(bytes, false);
    this.sent?.(bytes);
    if (this.socket.getBufferedAmount() > this.maxBufferedBytes) this.close(CLOSE.SLOW_CONSUMER, 'slow_consumer');
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end(code, reason);
  }
}
