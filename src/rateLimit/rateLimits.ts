import { MemoryBucketStore, type BucketStore } from './bucketStore.ts';
import { DEFAULT_POLICIES, type PolicyName, type RateLimitPolicy } from './policies.ts';
import { RateLimitExceeded, type Allowance } from './tokenBuckets.ts';

/**
 * The server's one set of buckets, handed to the REST routes and the socket gateway alike so that a user's budget is
 * the same whichever transport they use. With a shared store (PostgreSQL, DATABASE_URL) `charge`, `borrow` and
 * `giveBack` take from the buckets every instance shares; policies keyed by one socket stay in this process (a socket
 * lives on one instance), as does the synchronous `take`.
 */
export class RateLimits {
  private readonly byName: ReadonlyMap<string, RateLimitPolicy>;
  private readonly local: MemoryBucketStore;
  private refused: ((policy: PolicyName) => void) | null = null;

  constructor(
    policies: readonly RateLimitPolicy[] = DEFAULT_POLICIES,
    now: () => number = Date.now,
    private readonly shared: BucketStore | null = null,
  ) {
    this.byName = new Map(policies.map((policy) => [policy.name, policy]));
    this.local = new MemoryBucketStore(now);
  }

  policy(name: PolicyName): RateLimitPolicy {
    const policy = this.byName.get(name);
    if (!policy) throw new Error(`No rate-limit policy named ${name}`);
    return policy;
  }

  get policies(): RateLimitPolicy[] {
    return [...this.byName.values()];
  }

  /** Where `charge` takes from: `postgres` when instances share their buckets. */
  get kind(): BucketStore['kind'] {
    return this.shared?.kind ?? 'memory';
  }

  /**
   * Takes one token from this process's bucket, synchronously. Without a shared store this is the one budget; with
   * one, only the per-socket policies belong here and everything else should be charged with `charge`.
   */
  take(name: PolicyName, key: string): Allowance {
    try {
      return this.local.buckets(this.policy(name)).take(key);
    } catch (error) {
      this.noteRefusal(name, error);
      throw error;
    }
  }

  /** Takes one token (atomically, from the bucket every instance shares, if any), or throws a 429. */
  charge(name: PolicyName, key: string): Promise<Allowance> {
    const policy = this.policy(name);
    return this.storeFor(policy)
      .take(policy, key)
      .catch((error: unknown) => {
        this.noteRefusal(name, error);
        throw error;
      });
  }

  /** Told of each refusal, by policy (metrics). */
  observeRefusals(listener: (policy: PolicyName) => void): void {
    this.refused = listener;
  }

  private noteRefusal(name: PolicyName, error: unknown): void {
    if (error instanceof RateLimitExceeded) this.refused?.(name);
  }

  /** Gives back a token taken before work that turned out free (see `TokenBuckets.giveBack`). */
  giveBack(name: PolicyName, key: string): Promise<void> {
    const policy = this.policy(name);
    return this.storeFor(policy).giveBack(policy, key);
  }

  /** Takes a token even from an empty bucket; how many it is short (see `TokenBuckets.borrow`). */
  borrow(name: PolicyName, key: string): Promise<number> {
    const policy = this.policy(name);
    return this.storeFor(policy).borrow(policy, key);
  }

  /** Drops a key's bucket in this process (a closed socket's), so nothing is kept for keys that will not come back. */
  forget(name: PolicyName, key: string): void {
    this.local.buckets(this.policy(name)).forget(key);
  }

  /** Keys remembered in this process over every policy (memory is bounded by recently active keys). */
  get size(): number {
    return this.local.size;
  }

  async close(): Promise<void> {
    await this.shared?.close();
  }

  private storeFor(policy: RateLimitPolicy): BucketStore {
    return this.shared && policy.key !== 'connection' ? this.shared : this.local;
  }
}
