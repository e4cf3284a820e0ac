/** The socket protocol's constants, documented in the README ("Socket protocol"). */
export const WS_PATH = '/ws';

/** Close codes sent by the server (4000–4999 are application codes). */
export const CLOSE = {
  /** Missing, malformed, expired or revoked token; the reason says which. */
  UNAUTHORIZED: 4401,
  /** The client did not read fast enough; reconnect and resume with `sync`. */
  SLOW_CONSUMER: 4408,
  /** Too many frames too fast (reason `rate_limited`: per socket or per user), or too many awaiting their turn
   * (reason `too_many_pending_frames`). */
  RATE_LIMITED: 4429,
  /** The user already has LIMITS.maxSocketsPerUser sockets open; close one first. */
  TOO_MANY_CONNECTIONS: 4409,
  /** A frame larger than LIMITS.maxFrameBytes. */
  FRAME_TOO_LARGE: 1009,
  /** The server is shutting down; reconnect and resume with `sync`. */
  GOING_AWAY: 1001,
} as const;

export const LIMITS = {
  /** Larger frames close the connection with 1009 frame_too_large. */
  maxFrameBytes: 64 * 1024,
  /** Beyond this the transport drops the connection without a close frame (1006 at the client). */
  hardFrameBytes: 1024 * 1024,
  /** Bytes queued for one socket before it is closed as a slow consumer. */
  maxBufferedBytes: 4 * 1024 * 1024,
  idleTimeoutSeconds: 120,
  /** Frames a socket may send per second on average, with this burst. */
  framesPerSecond: 50,
  frameBurst: 200,
  /** Frames one user may send per second over all their sockets, with this burst. */
  userFramesPerSecond: 100,
  userFrameBurst: 300,
  /** Open sockets per user (devices and tabs); one more is closed with 4409. */
  maxSocketsPerUser: 10,
  /**
   * Frames received but not yet handled, per socket; one more closes it with 4429 too_many_pending_frames. Above
   * the burst, so only a socket whose frames are handled slower than it may send them reaches it; it bounds
   * what one socket holds in memory to this many frames of at most maxFrameBytes.
   */
  maxPendingFrames: 256,
  /** Timers are armed at most this far ahead (setTimeout clamps anything over 2^31-1 ms to 1 ms). */
  maxTimerMs: 2 ** 31 - 1,
  /** A typing indicator is shown this long unless renewed. */
  typingExpiresMs: 5_000,
} as const;

/** What the client sends: `{ "type": ..., "id"?: string, ... }`. `id` is echoed in the reply. */
export interface ClientFrame {
  type: string;
  id?: string;
  [field: string]: unknown;
}
