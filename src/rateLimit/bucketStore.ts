import type { RateLimitPolicy } from './policies.ts';
import { TokenBuckets, type Allowance } from './tokenBuckets.ts';

/**
 * Where the rate-limit buckets live: this process's memory (one server), or PostgreSQL with DATABASE_URL, where
 * every instance takes from the same bucket. Token buckets per policy and key (see TokenBuckets).
 */
export interface BucketStore {
  readonly kind: 'memory' | 'postgres';
  /** Takes one token for `key`, or throws RateLimitExceeded saying which policy and when to retry. Atomic. */
  take(policy: RateLimitPolicy, key: string): Promise<Allowance>;
  /** Takes one token even from an empty bucket (down to one burst below empty); how many whole tokens it is short. */
  borrow(policy: RateLimitPolicy, key: string): Promise<number>;
  /** Gives back a token taken for work that turned out free, up to the burst. */
  giveBack(policy: RateLimitPolicy, key: string): Promise<void>;
  /** Drops a key's bucket: it starts full again. */
  forget(policy: RateLimitPolicy, key: string): Promise<void>;
  close(): Promise<void>;
}

/** The buckets in this process's memory: one TokenBuckets per policy, also usable synchronously (`buckets`). */
export class MemoryBucketStore implements BucketStore {
  readonly kind = 'memory';
  private readonly byPolicy = new Map<string, TokenBuckets>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The policy's buckets (made on first use; a policy with other settings under the same name gets fresh ones). */
  buckets(policy: RateLimitPolicy): TokenBuckets {
    let buckets = this.byPolicy.get(policy.name);
    if (!buckets || buckets.policy.burst !== policy.burst || buckets.policy.perSecond !== policy.perSecond) {
      this.byPolicy.set(policy.name, (buckets = new TokenBuckets(policy, this.now)));
    }
    return buckets;
  }

  async take(policy: RateLimitPolicy, key: string): Promise<Allowance> {
    return this.buckets(policy).take(key);
  }

  async borrow(policy: RateLimitPolicy, key: string): Promise<number> {
    return this.buckets(policy).borrow(key);
  }

  async giveBack(policy: RateLimitPolicy, key: string): Promise<void> {
    this.buckets(policy).giveBack(key);
  }

  async forget(policy: RateLimitPolicy, key: string): Promise<void> {
    this.buckets(policy).forget(key);
  }

  /** Keys remembered over every policy. */
  get size(): number {
    let size = 0;
    for (const buckets of this.byPolicy.values()) size += buckets.size;
    return size;
  }

  async close(): Promise<void> {
    this.byPolicy.clear();
  }
}
