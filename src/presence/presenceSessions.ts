/** One socket of a user on one server instance, alive until `expiresAt` unless its instance's heartbeat renews it. */
export interface PresenceSession {
  instanceId: string;
  connectionId: number;
  userId: string;
  openedAt: string;
  expiresAt: string;
}

export type SessionKey = Pick<PresenceSession, 'instanceId' | 'connectionId' | 'userId'>;

/**
 * Which sockets are open where: this process's memory on one server, PostgreSQL's `presence_sessions` with
 * DATABASE_URL, so every instance sees every instance's sessions. Keyed by instance and connection (connection ids
 * are per process); an instance renews its sessions' expiry while it lives, so the sessions of an instance that died
 * expire and can be found (`expire`).
 */
export interface PresenceSessions {
  readonly kind: 'memory' | 'postgres';
  /** Records (or re-records) a session. */
  open(session: SessionKey, now: Date, expiresAt: Date): Promise<void>;
  /** The socket closed. */
  end(instanceId: string, connectionId: number): Promise<void>;
  /** The instance's heartbeat: every session of it lives until `expiresAt`; how many it renewed. */
  renew(instanceId: string, expiresAt: Date): Promise<number>;
  /** Every session of the instance ends (its orderly shutdown). */
  endInstance(instanceId: string): Promise<void>;
  /** Removes the sessions past their expiry and returns them, each once. */
  expire(now: Date): Promise<PresenceSession[]>;
  /** The live session of a connection, on whichever instance holds it (connection ids are unique in the cluster). */
  find(connectionId: number, now: Date): Promise<PresenceSession | null>;
  /** Which of `userIds` have a session not yet expired, on any instance. */
  liveUsers(userIds: readonly string[], now: Date): Promise<Set<string>>;
  /** Every session, by instance then connection (operators, tests). */
  list(): Promise<PresenceSession[]>;
  close(): Promise<void>;
}

const keyOf = (instanceId: string, connectionId: number) => `${instanceId}\u0000${connectionId}`;
const byInstanceThenConnection = (a: PresenceSession, b: PresenceSession) =>
  a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : a.connectionId - b.connectionId;

/** The sessions of one server, in its memory: bounded by its open sockets. */
export class MemoryPresenceSessions implements PresenceSessions {
  readonly kind = 'memory';
  private readonly sessions = new Map<string, PresenceSession>();

  async open(session: SessionKey, now: Date, expiresAt: Date): Promise<void> {
    this.sessions.set(keyOf(session.instanceId, session.connectionId), {
      ...session,
      openedAt: now.toISOString(),
      expiresAt: expiresAt.toISOString(),
    });
  }

  async end(instanceId: string, connectionId: number): Promise<void> {
    this.sessions.delete(keyOf(instanceId, connectionId));
  }

  async renew(instanceId: string, expiresAt: Date): Promise<number> {
    let renewed = 0;
    for (const session of this.sessions.values()) {
      if (session.instanceId !== instanceId) continue;
      session.expiresAt = expiresAt.toISOString();
      renewed += 1;
    }
    return renewed;
  }

  async endInstance(instanceId: string): Promise<void> {
    for (const [key, session] of this.sessions) if (session.instanceId === instanceId) this.sessions.delete(key);
  }

  async expire(now: Date): Promise<PresenceSession[]> {
    const expired: PresenceSession[] = [];
    for (const [key, session] of this.sessions) {
      if (Date.parse(session.expiresAt) > now.getTime()) continue;
      this.sessions.delete(key);
      expired.push({ ...session });
    }
    return expired.sort(byInstanceThenConnection);
  }

  async find(connectionId: number, now: Date): Promise<PresenceSession | null> {
    for (const session of this.sessions.values()) {
      if (session.connectionId === connectionId && Date.parse(session.expiresAt) > now.getTime()) return { ...session };
    }
    return null;
  }

  async liveUsers(userIds: readonly string[], now: Date): Promise<Set<string>> {
    const wanted = new Set(userIds);
    const live = new Set<string>();
    for (const session of this.sessions.values()) {
      if (wanted.has(session.userId) && Date.parse(session.expiresAt) > now.getTime()) live.add(session.userId);
    }
    return live;
  }

  async list(): Promise<PresenceSession[]> {
    return [...this.sessions.values()].map((session) => ({ ...session })).sort(byInstanceThenConnection);
  }

  async close(): Promise<void> {
    this.sessions.clear();
  }
}
