import { isDuplicateId, type Doc, type ReadStore } from '../readstore/port.ts';
import { newId } from '../ids.ts';

export const LOCKS = '_locks';

interface LeaseDoc extends Doc {
  owner: string;
  expiresAt: number;
}

/**
 * A time-limited lease in the read store that lets one server instance project at a time (several instances
 * share one MongoDB). Taking it is one conditional upsert: it succeeds when the lease is free, expired or
 * already ours; otherwise the unique `_id` makes the insert fail with a duplicate key.
 */
export class ProjectionLease {
  readonly owner = newId();

  constructor(private readonly readStore: ReadStore, private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  /** Takes or renews the lease; false when another live instance holds it. */
  async tryAcquire(name = 'projection'): Promise<boolean> {
    const now = this.now();
    try {
      await this.readStore.collection<LeaseDoc>(LOCKS).updateOne(
        { _id: name, $or: [{ owner: this.owner }, { expiresAt: { $lt: now } }] },
        { $set: { owner: this.owner, expiresAt: now + this.ttlMs } },
        { upsert: true },
      );
      return true;
    } catch (error) {
      if (isDuplicateId(error)) return false;
      throw error;
    }
  }

  async release(name = 'projection'): Promise<void> {
    await this.readStore.collection<LeaseDoc>(LOCKS).deleteOne({ _id: name, owner: this.owner });
  }
}
