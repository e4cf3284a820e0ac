/**
 * Which users have sockets on this process, and whether they are active: the in-memory side of presence.
 * It does no I/O of its own. Durable transitions (came online / went offline) go to `onTransition`, which the
 * shell turns into UserCameOnline / UserWentOffline; every live status change goes to `onLiveChange` for
 * ephemeral pushes. Clock and timers are injected so tests run on a fake clock.
 */
export type LiveStatus = 'online' | 'away' | 'offline';

export interface Timer {
  cancel(): void;
}

export interface PresenceTrackerOptions {
  /** A reconnect inside this window after the last socket closed produces nothing at all. */
  offlineGraceMs: number;
  /** No inbound activity on a connection for this long makes it inactive; all inactive or idle → away. */
  idleMs: number;
  now: () => number;
  setTimer: (fn: () => void, ms: number) => Timer;
  onTransition: (userId: string, transition: 'came_online' | 'went_offline', info: { at: number; lastActiveAt: number }) => void;
  onLiveChange: (userId: string, status: LiveStatus) => void;
}

interface Connection {
  /** The client said it is idle (presence.set); inbound frames such as pongs do not undo that. */
  idle: boolean;
  lastActivityAt: number;
  /**
   * Armed exactly while the connection counts as active (not idle, activity within idleMs). It is not re-armed
   * on each frame: when it fires it checks the last activity and re-arms for the remainder if there was any.
   */
  idleTimer: Timer | null;
}

interface UserPresence {
  connections: Map<number, Connection>;
  /** How many connections have an armed idle timer: the user is online while this is above zero. */
  active: number;
  /** Never 'offline': a user who is offline is not in the map at all. */
  live: 'online' | 'away';
  lastActiveAt: number;
  /** Armed while the user has no connection left; the user goes offline when it fires. */
  graceTimer: Timer | null;
}

/** The longest delay a Node timer honours; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class PresenceTracker {
  /** Users with a connection or inside the grace; everyone else is offline and forgotten. */
  private readonly users = new Map<string, UserPresence>();
  private stopped = false;

  constructor(private readonly options: PresenceTrackerOptions) {
    for (const name of ['offlineGraceMs', 'idleMs'] as const) {
      const ms = options[name];
      if (!Number.isInteger(ms) || ms <= 0 || ms > MAX_TIMER_MS)
        throw new RangeError(`${name} must be a whole number of ms in 1..${MAX_TIMER_MS}`);
    }
  }

  /** A socket opened. The first one of an offline user brings the user online. */
  connected(userId: string, connectionId: number): void {
    if (this.stopped) return;
    const at = this.options.now();
    const existing = this.users.get(userId);
    if (existing === undefined) {
      const user: UserPresence = { connections: new Map(), active: 0, live: 'online', lastActiveAt: at, graceTimer: null };
      this.users.set(userId, user);
      this.addConnection(userId, user, connectionId, at);
      this.options.onTransition(userId, 'came_online', { at, lastActiveAt: at });
      this.options.onLiveChange(userId, 'online');
      return;
    }
    // A reconnect inside the grace: the user never went offline, so nothing is recorded.
    existing.graceTimer?.cancel();
    existing.graceTimer = null;
    const connection = existing.connections.get(connectionId);
    if (connection === undefined) this.addConnection(userId, existing, connectionId, at);
    else this.touch(userId, existing, connection, at);
    this.refresh(userId, existing);
  }

  /** Any inbound frame or pong. O(1) and no timer work while the connection is already active. */
  activity(userId: string, connectionId: number): void {
    if (this.stopped) return;
    const user = this.users.get(userId);
    const connection = user?.connections.get(connectionId);
    if (user === undefined || connection === undefined) return; // a late frame of a closed socket
    this.touch(userId, user, connection, this.options.now());
    this.refresh(userId, user);
  }

  /** The client reports idle or active. Saying "active" is activity; saying "idle" holds until it says otherwise. */
  setIdle(userId: string, connectionId: number, idle: boolean): void {
    if (this.stopped) return;
    const user = this.users.get(userId);
    const connection = user?.connections.get(connectionId);
    if (user === undefined || connection === undefined) return;
    connection.idle = idle;
    if (idle) this.deactivate(user, connection);
    else this.touch(userId, user, connection, this.options.now());
    this.refresh(userId, user);
  }

  /** A socket closed. The last one starts the grace; the live status holds until it expires or the user is back. */
  disconnected(userId: string, connectionId: number): void {
    if (this.stopped) return;
    const user = this.users.get(userId);
    const connection = user?.connections.get(connectionId);
    if (user === undefined || connection === undefined) return;
    this.deactivate(user, connection);
    user.connections.delete(connectionId);
    user.lastActiveAt = this.options.now();
    if (user.connections.size > 0) {
      this.refresh(userId, user);
      return;
    }
    user.graceTimer = this.options.setTimer(() => this.expireGrace(userId, user), this.options.offlineGraceMs);
  }

  status(userId: string): LiveStatus {
    return this.users.get(userId)?.live ?? 'offline';
  }

  /** The last activity, connect or disconnect of a user who is not offline; null once offline. */
  lastActiveAt(userId: string): number | null {
    return this.users.get(userId)?.lastActiveAt ?? null;
  }

  /**
   * Users for whom `came_online` fired and `went_offline` has not: connected (online or away) or inside the
   * grace. What the shell marks offline with reason `server_restart` on shutdown, after `stop()`.
   */
  onlineUsers(): string[] {
    return [...this.users.keys()];
  }

  /** Users remembered (connected or inside the grace). */
  get size(): number {
    return this.users.size;
  }

  /**
   * Cancels every timer and freezes the tracker: later calls (sockets closing during shutdown) are ignored, so
   * nothing fires after stop and the reads still answer as at the moment of stopping.
   */
  stop(): void {
    this.stopped = true;
    for (const user of this.users.values()) {
      user.graceTimer?.cancel();
      user.graceTimer = null;
      for (const connection of user.connections.values()) {
        connection.idleTimer?.cancel();
        connection.idleTimer = null;
      }
    }
  }

  private addConnection(userId: string, user: UserPresence, connectionId: number, at: number): void {
    const connection: Connection = { idle: false, lastActivityAt: at, idleTimer: null };
    user.connections.set(connectionId, connection);
    this.touch(userId, user, connection, at);
  }

  /** Records activity; a connection that is not idle becomes (or stays) active. */
  private touch(userId: string, user: UserPresence, connection: Connection, at: number): void {
    connection.lastActivityAt = at;
    user.lastActiveAt = at;
    if (connection.idle || connection.idleTimer !== null) return;
    user.active += 1;
    this.armIdle(userId, user, connection, this.options.idleMs);
  }

  private deactivate(user: UserPresence, connection: Connection): void {
    if (connection.idleTimer === null) return;
    connection.idleTimer.cancel();
    connection.idleTimer = null;
    user.active -= 1;
  }

  private armIdle(userId: string, user: UserPresence, connection: Connection, ms: number): void {
    connection.idleTimer = this.options.setTimer(() => {
      const quietFor = this.options.now() - connection.lastActivityAt;
      if (quietFor < this.options.idleMs) {
        this.armIdle(userId, user, connection, this.options.idleMs - quietFor);
        return;
      }
      connection.idleTimer = null;
      user.active -= 1;
      this.refresh(userId, user);
    }, ms);
  }

  /** Publishes the live status if it changed. Without connections (inside the grace) it holds still. */
  private refresh(userId: string, user: UserPresence): void {
    if (user.connections.size === 0) return;
    const live = user.active > 0 ? 'online' : 'away';
    if (live === user.live) return;
    user.live = live;
    this.options.onLiveChange(userId, live);
  }

  private expireGrace(userId: string, user: UserPresence): void {
    // Forgotten first, so the tracker is consistent whatever the callbacks do.
    this.users.delete(userId);
    user.graceTimer = null;
    this.options.onTransition(userId, 'went_offline', { at: this.options.now(), lastActiveAt: user.lastActiveAt });
    this.options.onLiveChange(userId, 'offline');
  }
}
