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
/** How often an instance renews its sessions: three chances before they expire. */
const SESSION_HEARTBEAT_MS = PRESENCE_SESSION_TTL_MS / 3;

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
  private readonly heartbeat: NodeJS.Timeout | null;
  private stopped = false;

  constructor(private readonly deps: {
    commands: CommandHandler; readStore: ReadStore; projections: Projections; logger: Logger; clock: () => Date; settings: PresenceSettings;
    /** Which sockets are open on which instance (PostgreSQL with DATABASE_URL): this instance records its own. */
    sessions: PresenceSessions; instanceId: string;
  }) {
    const { settings, clock } = deps;
    this.heartbeat = settings.enabled ? setInterval(() => this.own(deps.sessions.renew(deps.instanceId, this.sessionExpiry())), SESSION_HEARTBEAT_MS) : null;
    this.heartbeat?.unref();
    this.tracker = settings.enabled ? new PresenceTracker({
      offlineGraceMs: settings.offlineGraceMs,
      idleMs: settings.idleMs,
      now: () => clock().getTime(),
      setTimer: (fn, ms) => {
        const timer = setTimeout(fn, ms);
        timer.unref();
        return { cancel: () => clearTimeout(timer) };
      },
      onTransition: (userId, transition, { at, lastActiveAt }) => this.own(transition === 'came_online'
        ? this.run(userId, { type: 'MarkOnline', data: { userId } }, at)
        : this.wentOffline(userId, roundDown(lastActiveAt), at)),
      // Going offline is pushed once its last seen is in the read model (wentOffline).
      onLiveChange: (userId, status) => { if (status !== 'offline') this.own(this.changed(userId)); },
    }) : null;
  }

  get enabled(): boolean {
    return this.tracker !== null;
  }

  connected(connection: PresenceSocket): void {
    if (!this.tracker) return;
    this.tracker.connected(connection.principal.userId, connection.id);
    const session = { instanceId: this.deps.instanceId, connectionId: connection.id, userId: connection.principal.userId };
    this.writeSession(connection.id, () => this.deps.sessions.open(session, this.deps.clock(), this.sessionExpiry()));
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
    if (!this.tracker) return;
    this.tracker.disconnected(connection.principal.userId, connection.id);
    this.writeSession(connection.id, () => this.deps.sessions.end(this.deps.instanceId, connection.id));
  }

  private sessionExpiry(): Date {
    return new Date(this.deps.clock().getTime() + PRESENCE_SESSION_TTL_MS);
  }

  private writeSession(connectionId: number, write: () => Promise<void>): void {
    // Sockets closing on shutdown: stop() ends the instance's sessions at once.
    if (this.stopped) return;
    const next = (this.sessionWrites.get(connectionId) ?? Promise.resolve()).then(write);
    const tracked = next.catch((error: unknown) => this.deps.logger.error({ err: error, connectionId }, 'presence session write failed'));
    this.sessionWrites.set(connectionId, tracked);
    this.own(tracked.finally(() => { if (this.sessionWrites.get(connectionId) === tracked) this.sessionWrites.delete(connectionId); }));
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
    const [docs, visibility] = await Promise.all([
      this.deps.readStore.collection<PresenceDoc>(PRESENCE).find({ _id: { $in: [...userIds] } }),
      presenceVisibility(this.deps.readStore, [viewerId], userIds),
    ]);
    const byId = new Map(docs.map((doc) => [doc._id, doc]));
    return userIds.map((userId) => this.viewOf(userId, byId.get(userId) ?? null, visibilityOf(visibility, viewerId, userId), viewerId === userId));
  }

  async setMode(userId: string, input: { mode: PresenceMode; statusText?: string | null | undefined; expiresInSeconds?: number | undefined },
    metadata: CommandMetadata): Promise<{ mode: PresenceMode; statusText: string | null; expiresAt: string | null }> {
    if (!this.enabled) throw new ConflictError('presence_disabled', 'Presence is turned off on this server (PRESENCE_ENABLED=false)');
    const expiresAt = input.expiresInSeconds === undefined ? null : new Date(Date.parse(metadata.now) + input.expiresInSeconds * 1000).toISOString();
    const statusText = input.statusText ?? null;
    const result = await this.deps.commands.handle(presenceDecider, presenceStream(userId), {
      type: 'SetPresenceMode', data: { userId, mode: input.mode, statusText, expiresAt }, metadata,
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
    const stale = await this.deps.readStore.collection<PresenceDoc>(PRESENCE).find({ status: 'online' });
    for (const doc of stale) {
      const since = Date.parse(doc.onlineSince ?? this.deps.clock().toISOString());
      await this.run(doc._id, { type: 'MarkOffline', data: { userId: doc._id, lastSeenAt: roundDown(since), reason: 'server_restart' } }, this.deps.clock().getTime());
    }
    return stale.length;
  }

  /** Stops timers; what is still in flight is awaited so nothing runs against closed stores. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.tracker?.stop();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.heartbeat) clearInterval(this.heartbeat);
    await Promise.allSettled([...this.work]);
    // This instance's sockets are closing with it: its sessions go now rather than at their expiry.
    if (this.enabled) await this.deps.sessions.endInstance(this.deps.instanceId).catch((error: unknown) => this.deps.logger.error({ err: error }, 'presence sessions not ended'));
  }

  private viewOf(userId: string, doc: PresenceDoc | null, visible: PresenceVisibility, self: boolean): PresenceView {
    const live: LiveStatus = this.tracker?.status(userId) ?? 'offline';
    const now = this.deps.clock().toISOString();
    const expired = doc?.statusExpiresAt != null && doc.statusExpiresAt <= now;
    const mode: PresenceMode = expired ? 'auto' : doc?.mode ?? 'auto';
    const statusText = expired ? null : doc?.statusText ?? null;
    const showsOnline = live !== 'offline' && visible.online && (self || mode !== 'invisible');
    if (showsOnline) {
      const status = mode === 'dnd' ? 'dnd' : mode === 'away' || live === 'away' ? 'away' : 'online';
      return { userId, status, lastSeenAt: null, statusText };
    }
    return { userId, status: 'offline', lastSeenAt: visible.lastSeen ? doc?.lastSeenAt ?? null : null, statusText: null };
  }

  /** A user's presence changed: queue what each subscribed socket now sees of them, if that differs from before. */
  private async changed(userId: string): Promise<void> {
    const sockets = [...(this.subscribers.get(userId) ?? [])];
    if (sockets.length === 0) return;
    const viewers = [...new Set(sockets.map((socket) => socket.principal.userId))];
    const [doc, visibility] = await Promise.all([
      this.deps.readStore.collection<PresenceDoc>(PRESENCE).findOne({ _id: userId }),
      presenceVisibility(this.deps.readStore, viewers, [userId]),
    ]);
    for (const socket of sockets) {
      const view = this.viewOf(userId, doc, visibilityOf(visibility, socket.principal.userId, userId), socket.principal.userId === userId);
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
      if (!queue) this.pending.set(socket, (queue = new Map()));
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
    const position = await this.run(userId, { type: 'MarkOffline', data: { userId, lastSeenAt, reason: 'disconnect' } }, at);
    if (position !== null) await this.deps.projections.waitFor(position);
    await this.changed(userId);
  }

  /** Appends a presence command as the system, on the user's behalf; the position of its event, if any. */
  private async run(userId: string, command: Omit<PresenceCommand, 'metadata'>, at: number): Promise<number | null> {
    const correlationId = `presence:${newId()}`;
    const metadata: CommandMetadata = { commandId: newId(), correlationId, causationId: correlationId, userId, now: new Date(at).toISOString() };
    return (await this.deps.commands.handle(presenceDecider, presenceStream(userId), { ...command, metadata } as PresenceCommand)).position;
  }

  /** Every promise has an owner: failures are logged, and stop() waits for what is in flight. */
  private own(promise: Promise<unknown>): void {
    const tracked = promise.catch((error: unknown) => this.deps.logger.error({ err: error }, 'presence update failed'));
    this.work.add(tracked);
    void tracked.finally(() => this.work.delete(tracked));
  }
}
