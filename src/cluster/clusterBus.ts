/**
 * What one instance tells the others: ephemeral traffic that is never stored (typing, presence changes, call
 * signaling) and the revocation of a token. Connection ids are unique in the cluster, so "to connection N" reaches
 * the one instance that holds it; every other instance finds no such socket and drops it.
 */
export type ClusterMessage =
  | { type: 'toUser'; userId: string; bytes: string }
  | { type: 'toConnection'; connectionId: number; bytes: string }
  | { type: 'revokeToken'; tokenId: string }
  /** An operator suspended the user: every socket of theirs closes. */
  | { type: 'suspendUser'; userId: string }
  /** The account was deleted: every socket of theirs closes (a variant of its own, so the close reason says so). */
  | { type: 'accountDeleted'; userId: string }
  /** What `instanceId`'s sockets say of the user now (offline: none left there, or the instance is gone). */
  | { type: 'presence'; instanceId: string; userId: string; status: 'online' | 'away' | 'offline' };

/**
 * The instances' bus: a message published by one instance reaches every other instance (not itself), in the order
 * it published them; at most once (an instance that is not listening at that moment misses it: the traffic is
 * ephemeral, and clients resume state with `sync` and `presence.subscribe`).
 */
export interface ClusterBus {
  readonly kind: 'in-process' | 'postgres';
  readonly instanceId: string;
  publish(message: ClusterMessage): void;
  /** Every message another instance publishes. */
  onMessage(handler: (message: ClusterMessage) => void): void;
  close(): Promise<void>;
}

/** Buses of one process that hear each other (instances started in one process, as tests do). */
export type ClusterHub = Set<InProcessClusterBus>;

/**
 * The bus of the embedded default: one server, so by default nobody else to tell. Buses given the same hub hear
 * each other, in order, asynchronously (as over a network).
 */
export class InProcessClusterBus implements ClusterBus {
  readonly kind = 'in-process';
  private readonly handlers: Array<(message: ClusterMessage) => void> = [];

  constructor(
    readonly instanceId: string,
    private readonly hub: ClusterHub = new Set(),
  ) {
    hub.add(this);
  }

  publish(message: ClusterMessage): void {
    for (const bus of this.hub) if (bus !== this) queueMicrotask(() => bus.receive(message));
  }

  onMessage(handler: (message: ClusterMessage) => void): void {
    this.handlers.push(handler);
  }

  private receive(message: ClusterMessage): void {
    for (const handler of this.handlers) handler(message);
  }

  close(): Promise<void> {
    this.hub.delete(this);
    this.handlers.length = 0;
    return Promise.resolve();
  }
}

/** Hands out connection ids that no other instance hands out. */
export interface ConnectionIds {
  next(): Promise<number>;
}

/** One server: a counter. */
export class CountingConnectionIds implements ConnectionIds {
  private last = 0;
  next(): Promise<number> {
    return Promise.resolve(++this.last);
  }
}
