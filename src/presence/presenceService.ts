import type { Logger } from 'pino';
import { presenceDecider, presenceStream, type PresenceCommand, type PresenceMode } from '../../commands/presence.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { ConflictError } from '../../commands/shared/errors.ts';
import { PRESENCE, type PresenceDoc } from '../../projections/presence.ts';
import type { CommandHandler } from '../commandHandler.ts';
import type { ServerFrame } from '../contract/socketProtocol.ts';
import { newId } from '../ids.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { PresenceSessions } from './presenceSessions.ts';
import { PresenceTracker, type LiveStatus } from './presenceTracker.ts';
import { presenceVisibility, visibilityOf, type PresenceVisibility } from './presenceVisibility.ts';

export interface PresenceSettings {
  enabled: boolean;
  offlineGraceMs: number;
  idleMs: number;
  pushCoalesceMs: number;
  /** A session not renewed for this long belongs to an instance that stopped: it is expired and its users go offline. */
  sessionTtlMs?: number;
}

/** What one instance's sockets say of a user, told to the other instances (offline: none left there). */
export interface InstancePresence {
  instanceId: string;
  userId: string;
  status: LiveStatus;
}

/** A device's socket as presence sees it: whose it is, and where a serialized `presence` frame goes. */
export interface PresenceSocket {
  readonly id: number;
  readonly principal: { readonly userId: string };
  send(bytes: string): void;
}

export type PresenceStatus = 'online' | 'away' | 'dnd' | 'offline' | 'unknown';

export interface PresenceView {
  userId: string;
  status: PresenceStatus;
  lastSeenAt: string | null;
  statusText: string | null;
}

/** A session not renewed for this long belongs to an instance that stopped: it can be expired. */
export const PRESENCE_SESSION_TTL_MS = 30_000;

/** Last seen is shown to the minute: finer would say too much about someone's habits. */
const LAST_SEEN_GRANULARITY_MS = 60_000;
const roundDown = (ms: number) => new Date(Math.floor(ms / LAST_SEEN_GRANULARITY_MS) * LAST_SEEN_GRANULARITY_MS).toISOString();

/**
 * Presence and last seen: the tracker's view of this process's sockets, two events per session at most (online,
 * offline after the grace), the chosen mode, and live `presence` frames only to sockets that subscribed to a user
 * and may see them, coalesced per socket (last value wins) and sent only when what that socket sees changed.
 */
export class PresenceService {
  private readonly tracker: PresenceTracker | null;
  /** Target user → sockets subscribed to them. */
  private readonly subscribers = new Map<string, Set<PresenceSocket>>();
  /** Socket → the users it subscribed to, and what it was last shown of each (snapshot or frame). */
  private readonly subscriptions = new Map<PresenceSocket, Map<string, string | null>>();
  /** Socket → user → the view waiting for the next flush, and its frame. */
  private readonly pending = new Map<PresenceSocket, Map<string, { view: string; bytes: string }>>();
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly work = new Set<Promise<unknown>>();
  /** Per socket, its session writes in order (an end never overtakes its open). */
  private readonly sessionWrites = new Map<number, Promise<void>>();
  private readonly heartbeat: NodeJS.Timeout;
  /** This instance's open sockets: re-recorded by the heartbeat if their sessions were expired meanwhile. */
  private readonly local = new Map<number, string>();
  /** What other instances' sockets say of a user (online or away; forgotten when they say offline). */
  private readonly remote = new Map<string, Map<string, 'online' | 'away'>>();
  private readonly sessionTtlMs: number;
  private stopped = false;

  constructor(
    private readonly deps: {
      commands: CommandHandler;
      readStore: ReadStore;
      projections: Projections;
      logger: Logger;
      clock: () => Date;
      settings: PresenceSettings;
      /**
       * Which sockets are open on which instance (PostgreSQL with DATABASE_URL): this instance records its own, presence
       * on or off, as they are also where another instance finds a connection (a call answered through it).
       */
      sessions: PresenceSessions;
      instanceId: string;
      /** Tells the other instances what this one's sockets say of a user (the cluster bus). */
      announce?: (presence: InstancePresence) => void;
    },
  ) {
    const { settings, clock } = deps;
    this.sessionTtlMs = settings.sessionTtlMs ?? PRESENCE_SESSION_TTL_MS;
    // Three renewals before a session expires; each beat also expires other instances' stale sessions (whoever deletes
    // a row first handles it, so each dead session is handled once in the cluster).
    this.heartbeat = setInterval(() => this.own(this.beat()), Math.max(100, Math.floor(this.sessionTtlMs / 3)));
    this.heartbeat.unref();
    this.tracker = settings.enabled
      ? new PresenceTracker({
          offlineGraceMs: settings.offlineGraceMs,
          idleMs: settings.idleMs,
          now: () => clock().getTime(),
          setTimer: (fn, ms) => {
            const timer = setTimeout(fn, ms);
            timer.unref();
            return { cancel: () => clearTimeout(timer) };
          },
          onTransition: (userId, transition, { at, lastActiveAt }) =>
            this.own(
              transition === 'came_online'
                ? this.run(userId, { type: 'MarkOnline', data: { userId } }, at)
                : this.wentOffline(userId, roundDown(lastActiveAt), at),
            ),
          // Going offline is pushed once its last seen is in the read model (wentOffline).
          onLiveChange: (userId, status) => {
            if (status === 'offline') return;
            // Told once the sessions are recorded, which the other instances check what they are told against.
            this.own(
              Promise.allSettled([...this.sessionWrites.values()]).then(() =>
                this.deps.announce?.({ instanceId: this.deps.instanceId, userId, status }),
              ),
            );
            this.own(this.changed(userId));
          },
        })
      : null;
  }

  get enabled(): boolean {
    return this.tracker !== null;
  }

  /** Resolves once the socket's session is recorded (or failed to be): from then on any instance finds it. */
  connected(connection: PresenceSocket): Promise<void> {
    this.local.set(connection.id, connection.principal.userId);
    const session = { instanceId: this.deps.instanceId, connectionId: connection.id, userId: connection.principal.userId };
    const recorded = this.writeSession(connection.id, () => this.deps.sessions.open(session, this.deps.clock(), this.sessionExpiry()));
    this.tracker?.connected(connection.principal.userId, connection.id);
    return recorded;
  }

  activity(connection: PresenceSocket): void {
    this.tracker?.activity(connection.principal.userId, connection.id);
  }

  setIdle(connection: PresenceSocket, idle: boolean): void {
    this.tracker?.setIdle(connection.principal.userId, connection.id, idle);
  }

  disconnected(connection: PresenceSocket): void {
    this.unsubscribe(connection);
    this.pending.delete(connection);
    this.local.delete(connection.id);
    // Owned by writeSession (logged on failure, awaited by stop).
    void this.writeSession(connection.id, () => this.deps.sessions.end(this.deps.instanceId, connection.id));
    this.tracker?.disconnected(connection.principal.userId, connection.id);
  }

  private sessionExpiry(): Date {
    return new Date(this.deps.clock().getTime() + this.sessionTtlMs);
  }

  private writeSession(connectionId: number, write: () => Promise<void>): Promise<void> {
    // Sockets closing on shutdown: stop() ends the instance's sessions at once.
    if (this.stopped) return Promise.resolve();
    const next = (this.sessionWrites.get(connectionId) ?? Promise.resolve()).then(write);
    const tracked = next.catch((error: unknown) => this.deps.logger.error({ err: error, connectionId }, 'presence session write failed'));
    this.sessionWrites.set(connectionId, tracked);
    this.own(
      tracked.finally(() => {
        if (this.sessionWrites.get(connectionId) === tracked) this.sessionWrites.delete(connectionId);
      }),
    );
    return tracked;
  }

  /**
   * The heartbeat: renews this instance's sessions (re-recording them if another instance expired them while this
   * one could not reach the database), then expires the sessions nobody renewed: an instance that died. Their users
   * with no session left anywhere go offline, and every instance is told.
   */
  private async beat(): Promise<void> {
    const renewed = await this.deps.sessions.renew(this.deps.instanceId, this.sessionExpiry());
    if (renewed < this.local.size) {
      for (const [connectionId, userId] of this.local) {
        await this.deps.sessions.open({ instanceId: this.deps.instanceId, connectionId, userId }, this.deps.clock(), this.sessionExpiry());
      }
    }
    const expired = await this.deps.sessions.expire(this.deps.clock());
    if (expired.length === 0) return;
    const byUser = new Map<string, { instanceIds: Set<string>; lastRenewedAt: number }>();
    for (const session of expired) {
      const user = byUser.get(session.userId) ?? { instanceIds: new Set<string>(), lastRenewedAt: 0 };
      user.instanceIds.add(session.instanceId);
      user.lastRenewedAt = Math.max(user.lastRenewedAt, Date.parse(session.expiresAt) - this.sessionTtlMs);
      byUser.set(session.userId, user);
    }
    const now = this.deps.clock();
    const stillLive = await this.deps.sessions.liveUsers([...byUser.keys()], now);
    for (const [userId, { instanceIds, lastRenewedAt }] of byUser) {
      this.deps.logger.warn(
        { userId, instanceIds: [...instanceIds] },
        'presence sessions of an instance that stopped renewing them expired',
      );
      if (this.enabled && !stillLive.has(userId) && this.tracker?.status(userId) === 'offline') {
        const position = await this.run(
          userId,
          { type: 'MarkOffline', data: { userId, lastSeenAt: roundDown(lastRenewedAt), reason: 'server_restart' } },
          now.getTime(),
        );
        if (position !== null) await this.deps.projections.waitFor(position);
      }
      for (const instanceId of instanceIds) {
        this.deps.announce?.({ instanceId, userId, status: 'offline' });
        this.heard({ instanceId, userId, status: 'offline' });
      }
    }
  }

  /** Another instance says what its sockets say of a user: subscribers here are told what changed. */
  heard(presence: InstancePresence): void {
    if (!this.tracker || presence.instanceId === this.deps.instanceId) return;
    let instances = this.remote.get(presence.userId);
    if (presence.status === 'offline') {
      instances?.delete(presence.instanceId);
      if (instances?.size === 0) this.remote.delete(presence.userId);
    } else {
      if (!instances) this.remote.set(presence.userId, (instances = new Map<string, 'online' | 'away'>()));
      instances.set(presence.instanceId, presence.status);
    }
    this.own(this.changed(presence.userId));
  }

  /**
   * A user's live status over every instance: online anywhere beats away. A user with no socket here is live only
   * with a session on another instance (what the others said is a hint of online or away, never trusted alone: a
   * message missed while the bus reconnected must not keep anyone online); one whose instance has said nothing (it
   * ran before this one started) counts as online.
   */
  private async liveOf(userIds: readonly string[]): Promise<Map<string, LiveStatus>> {
    const live = new Map<string, LiveStatus>();
    const elsewhere: string[] = [];
    const combine = (statuses: LiveStatus[]): LiveStatus =>
      statuses.includes('online') ? 'online' : statuses.includes('away') ? 'away' : 'offline';
    for (const userId of userIds) {
      const here = this.tracker?.status(userId) ?? 'offline';
      if (here === 'offline') elsewhere.push(userId);
      else live.set(userId, combine([here, ...(this.remote.get(userId)?.values() ?? [])]));
    }
    const sessions = elsewhere.length > 0 ? await this.deps.sessions.liveUsers(elsewhere, this.deps.clock()) : new Set<string>();
    for (const userId of elsewhere) {
      if (!sessions.has(userId)) {
        this.remote.delete(userId);
        live.set(userId, 'offline');
      } else {
        live.set(userId, combine([...(this.remote.get(userId)?.values() ?? [])]) === 'away' ? 'away' : 'online');
      }
    }
    return live;
  }

  /** Replaces the socket's subscriptions; answers what it may see of each user now. */
  async subscribe(connection: PresenceSocket, userIds: readonly string[]): Promise<PresenceView[]> {
    this.unsubscribe(connection);
    // The snapshot this answers supersedes any frame still waiting for this socket.
    this.pending.delete(connection);
    const unique = [...new Set(userIds)];
    const views = await this.view(connection.principal.userId, unique);
    if (!this.enabled) return views;
    const sent = new Map<string, string | null>();
    for (const view of views) {
      sent.set(view.userId, JSON.stringify(view));
      let sockets = this.subscribers.get(view.userId);
      if (!sockets) this.subscribers.set(view.userId, (sockets = new Set()));
      sockets.add(connection);
    }
    this.subscriptions.set(connection, sent);
    return views;
  }

  /** What `viewerId` may see of each of `userIds`: hidden and invisible users look offline with no last seen. */
  async view(viewerId: string, userIds: readonly string[]): Promise<PresenceView[]> {
    if (!this.enabled) return userIds.map((userId) => ({ userId, status: 'unknown', lastSeenAt: null, statusText: null }));
    const [docs, visibility, live] = await Promise.all([
      this.deps.readStore.collection<PresenceDoc>(PRESENCE).find({ _id: { $in: [...userIds] } }),
      presenceVisibility(this.deps.readStore, [viewerId], userIds),
      this.liveOf(userIds),
    ]);
    const byId = new Map(docs.map((doc) => [doc._id, doc]));
    return userIds.map((userId) =>
      this.viewOf(
        userId,
        live.get(userId) ?? 'offline',
        byId.get(userId) ?? null,
        visibilityOf(visibility, viewerId, userId),
        viewerId === userId,
      ),
    );
  }

  async setMode(
    userId: string,
    input: { mode: PresenceMode; statusText?: string | null | undefined; expiresInSeconds?: number | undefined },
    metadata: CommandMetadata,
  ): Promise<{ mode: PresenceMode; statusText: string | null; expiresAt: string | null }> {
    if (!this.enabled) throw new ConflictError('presence_disabled', 'Presence is turned off on this server (PRESENCE_ENABLED=false)');
    const expiresAt =
      input.expiresInSeconds === undefined ? null : new Date(Date.parse(metadata.now) + input.expiresInSeconds * 1000).toISOString();
    const statusText = input.statusText ?? null;
    const result = await this.deps.commands.handle(presenceDecider, presenceStream(userId), {
      type: 'SetPresenceMode',
      data: { userId, mode: input.mode, statusText, expiresAt },
      metadata,
    });
    if (result.position !== null) {
      await this.deps.projections.waitFor(result.position);
      await this.changed(userId);
    }
    return { mode: input.mode, statusText, expiresAt };
  }

  /**
   * After a crash or restart no socket is left, yet the read model may still say "online": every such user goes
   * offline, last seen when they came online (the latest moment known to be no later than the crash).
   */
  async recoverAfterRestart(): Promise<number> {
    if (!this.enabled) return 0;
    await this.deps.projections.waitFor(await this.deps.projections.headPosition());
    const online = await this.deps.readStore.collection<PresenceDoc>(PRESENCE).find({ status: 'online' });
    // Online through another instance: not this start's to undo (a dead instance's users go when its sessions expire).
    const live = await this.deps.sessions.liveUsers(
      online.map((doc) => doc._id),
      this.deps.clock(),
    );
    const stale = online.filter((doc) => !live.has(doc._id));
    for (const doc of stale) {
      const since = Date.parse(doc.onlineSince ?? this.deps.clock().toISOString());
      await this.run(
        doc._id,
        { type: 'MarkOffline', data: { userId: doc._id, lastSeenAt: roundDown(since), reason: 'server_restart' } },
        this.deps.clock().getTime(),
      );
    }
    return stale.length;
  }

  /** Stops timers; what is still in flight is awaited so nothing runs against closed stores. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.tracker?.stop();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    clearInterval(this.heartbeat);
    await Promise.allSettled([...this.work]);
    // This instance's sockets are closing with it: its sessions go now rather than at their expiry.
    await this.deps.sessions
      .endInstance(this.deps.instanceId)
      .catch((error: unknown) => this.deps.logger.error({ err: error }, 'presence sessions not ended'));
  }

  private viewOf(userId: string, live: LiveStatus, doc: PresenceDoc | null, visible: PresenceVisibility, self: boolean): PresenceView {
    const now = this.deps.clock().toISOString();
    const expired = doc?.statusExpiresAt != null && doc.statusExpiresAt <= now;
    const mode: PresenceMode = expired ? 'auto' : (doc?.mode ?? 'auto');
    const statusText = expired ? null : (doc?.statusText ?? null);
    const showsOnline = live !== 'offline' && visible.online && (self || mode !== 'invisible');
    if (showsOnline) {
      const status = mode === 'dnd' ? 'dnd' : mode === 'away' || live === 'away' ? 'away' : 'online';
      return { userId, status, lastSeenAt: null, statusText };
    }
    return { userId, status: 'offline', lastSeenAt: visible.lastSeen ? (doc?.lastSeenAt ?? null) : null, statusText: null };
  }

  /** A user's presence changed: queue what each subscribed socket now sees of them, if that differs from before. */
  private async changed(userId: string): Promise<void> {
    const sockets = [...(this.subscribers.get(userId) ?? [])];
    if (sockets.length === 0) return;
    const viewers = [...new Set(sockets.map((socket) => socket.principal.userId))];
    const [doc, visibility, live] = await Promise.all([
      this.deps.readStore.collection<PresenceDoc>(PRESENCE).findOne({ _id: userId }),
      presenceVisibility(this.deps.readStore, viewers, [userId]),
      this.liveOf([userId]),
    ]);
    for (const socket of sockets) {
      const view = this.viewOf(
        userId,
        live.get(userId) ?? 'offline',
        doc,
        visibilityOf(visibility, socket.principal.userId, userId),
        socket.principal.userId === userId,
      );
      const json = JSON.stringify(view);
      const shown = this.subscriptions.get(socket);
      if (!shown) continue;
      // Back to what the socket was last shown before the flush (a change undone): nothing to send after all.
      if (shown.get(userId) === json) {
        this.pending.get(socket)?.delete(userId);
        continue;
      }
      const frame: ServerFrame<'presence'> = { type: 'presence', ...view, at: this.deps.clock().toISOString() };
      let queue = this.pending.get(socket);
      if (!queue) this.pending.set(socket, (queue = new Map<string, { view: string; bytes: string }>()));
      queue.set(userId, { view: json, bytes: JSON.stringify(frame) });
    }
    if (this.pending.size > 0) this.flushTimer ??= setTimeout(() => this.flush(), this.deps.settings.pushCoalesceMs);
  }

  /** Sends what each socket does not see yet: compared with what it was last shown, a snapshot included. */
  private flush(): void {
    this.flushTimer = null;
    for (const [socket, frames] of this.pending) {
      const shown = this.subscriptions.get(socket);
      for (const [userId, { view, bytes }] of frames) {
        if (!shown?.has(userId) || shown.get(userId) === view) continue;
        shown.set(userId, view);
        socket.send(bytes);
      }
    }
    this.pending.clear();
  }

  private unsubscribe(connection: PresenceSocket): void {
    for (const userId of this.subscriptions.get(connection)?.keys() ?? []) {
      const sockets = this.subscribers.get(userId);
      sockets?.delete(connection);
      if (sockets?.size === 0) this.subscribers.delete(userId);
    }
    this.subscriptions.delete(connection);
  }

  private async wentOffline(userId: string, lastSeenAt: string, at: number): Promise<void> {
    // Still connected through another instance: offline only here; the last instance to see them go records it.
    await Promise.allSettled([...this.sessionWrites.values()]);
    const elsewhere = (await this.deps.sessions.liveUsers([userId], this.deps.clock())).has(userId);
    if (!elsewhere) {
      const position = await this.run(userId, { type: 'MarkOffline', data: { userId, lastSeenAt, reason: 'disconnect' } }, at);
      if (position !== null) await this.deps.projections.waitFor(position);
    }
    this.deps.announce?.({ instanceId: this.deps.instanceId, userId, status: 'offline' });
    await this.changed(userId);
  }

  /** Appends a presence command as the system, on the user's behalf; the position of its event, if any. */
  private async run(userId: string, command: Omit<PresenceCommand, 'metadata'>, at: number): Promise<number | null> {
    const correlationId = `presence:${newId()}`;
    const metadata: CommandMetadata = {
      commandId: newId(),
      correlationId,
      causationId: correlationId,
      userId,
      now: new Date(at).toISOString(),
    };
    return (await this.deps.commands.handle(presenceDecider, presenceStream(userId), { ...command, metadata } as PresenceCommand)).position;
  }

  /** Every promise has an owner: failures are logged, and stop() waits for what is in flight. */
  private own(promise: Promise<unknown>): void {
    const tracked = promise.catch((error: unknown) => this.deps.logger.error({ err: error }, 'presence update failed'));
    this.work.add(tracked);
    void tracked.finally(() => this.work.delete(tracked));
  }
}
