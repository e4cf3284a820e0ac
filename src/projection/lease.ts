import { isDuplicateId, type Doc, type ReadStore, type ReadStoreTransaction } from '../readstore/port.ts';
import { newId } from '../ids.ts';

export const LOCKS = '_locks';

interface LeaseDoc extends Doc {
  owner: string;
  expiresAt: number;
  /** Raised by one at every change of holder: the fencing token. */
  token?: number;
}

interface FenceDoc extends Doc {
  /** The newest holder's token: a transaction that carries another is refused. */
  token: number;
  commits?: number;
}

/** This instance no longer holds the lease: another took it over, and what this instance was writing is refused. */
export class LeaseLost extends Error {
  constructor(name: string) {
    super(`The ${name} lease was taken over by another instance`);
    this.name = 'LeaseLost';
  }
}

const fenceOf = (name: string) => `${name}:fence`;

/**
 * A time-limited lease in the read store that lets one server instance project at a time (several instances
 * share one MongoDB). Renewing is a conditional update of our own lease. Taking a free or expired one is one
 * conditional upsert (the unique `_id` makes a second taker's insert fail with a duplicate key) that raises its
 * fencing token, then the fence document is raised to that token.
 *
 * Every transaction the holder commits first passes `fence`: a write to the fence document that matches only while
 * it still carries the holder's token. A holder that stalled past its lease (a GC pause, a partition) and was taken
 * over is refused there, however late it wakes; on MongoDB that write also conflicts with a take-over running at
 * the same moment, so one of the two is aborted.
 */
export class ProjectionLease {
  /** Our fencing token while we hold the lease, null otherwise. */
  private token: number | null = null;

  /** `owner`: who takes it, as /ping names the projecting instance (this server's instance id). */
  constructor(
    private readonly readStore: ReadStore,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    readonly owner: string = newId(),
  ) {}

  /** Who holds the lease now (an owner whose lease has not expired), or null. */
  async holder(name = 'projection'): Promise<string | null> {
    const lease = await this.readStore.collection<LeaseDoc>(LOCKS).findOne({ _id: name });
    return lease && lease.expiresAt >= this.now() ? lease.owner : null;
  }

  /** Takes or renews the lease; false when another live instance holds it. */
  async tryAcquire(name = 'projection'): Promise<boolean> {
    const now = this.now();
    const locks = this.readStore.collection<LeaseDoc>(LOCKS);
    const renewed = await locks.updateOne({ _id: name, owner: this.owner }, { $set: { expiresAt: now + this.ttlMs } });
    if (renewed.matched === 1 && this.token !== null) return true;
    this.token = null;
    try {
      await locks.updateOne(
        { _id: name, $or: [{ owner: this.owner }, { expiresAt: { $lt: now } }] },
        { $set: { owner: this.owner, expiresAt: now + this.ttlMs }, $inc: { token: 1 } },
        { upsert: true },
      );
    } catch (error) {
      if (isDuplicateId(error)) return false;
      throw error;
    }
    const taken = await locks.findOne({ _id: name });
    if (taken?.owner !== this.owner || taken.token === undefined) return false;
    await this.raiseFence(name, taken.token);
    this.token = taken.token;
    return true;
  }

  /** Refuses the transaction unless this instance still holds the lease it took (see the class comment). */
  async fence(tx: Pick<ReadStoreTransaction, 'collection'>, name = 'projection'): Promise<void> {
    if (this.token === null) throw new LeaseLost(name);
    const passed = await tx.collection<FenceDoc>(LOCKS).updateOne({ _id: fenceOf(name), token: this.token }, { $inc: { commits: 1 } });
    if (passed.matched === 0) throw new LeaseLost(name);
  }

  /** Frees the lease for the next taker; its token stays, so the next one is higher. */
  async release(name = 'projection'): Promise<void> {
    this.token = null;
    await this.readStore.collection<LeaseDoc>(LOCKS).updateOne({ _id: name, owner: this.owner }, { $set: { expiresAt: 0 } });
  }

  private async raiseFence(name: string, token: number): Promise<void> {
    try {
      await this.readStore
        .collection<FenceDoc>(LOCKS)
        .updateOne({ _id: fenceOf(name), token: { $lt: token } }, { $set: { token } }, { upsert: true });
    } catch (error) {
      // A later holder raised it further meanwhile: our token is already stale, and `fence` will say so.
      if (!isDuplicateId(error)) throw error;
    }
  }
}
