import { DEFAULT_POLICIES, type PolicyName, type RateLimitPolicy } from './policies.ts';
import { TokenBuckets, type Allowance } from './tokenBuckets.ts';

/**
 * The server's one set of buckets, one `TokenBuckets` per policy, handed to the REST routes and the socket gateway
 * alike so that a user's budget is the same whichever transport they use.
 */
export class RateLimits {
  private readonly byName: ReadonlyMap<string, TokenBuckets>;

  constructor(policies: readonly RateLimitPolicy[] = DEFAULT_POLICIES, now: () => number = Date.now) {
    this.byName = new Map(policies.map((policy) => [policy.name, new TokenBuckets(policy, now)]));
  }

  policy(name: PolicyName): RateLimitPolicy {
    return this.buckets(name).policy;
  }

  get policies(): RateLimitPolicy[] {
    return [...this.byName.values()].map((buckets) => buckets.policy);
  }

  take(name: PolicyName, key: string): Allowance {
    return this.buckets(name).take(key);
  }

  /** Gives back a token taken before work that turned out free (see `TokenBuckets.giveBack`). */
  giveBack(name: PolicyName, key: string): void {
    this.buckets(name).giveBack(key);
  }

  /** Takes a token even from an empty bucket; how many it is short (see `TokenBuckets.borrow`). */
  borrow(name: PolicyName, key: string): number {
    return this.buckets(name).borrow(key);
  }

  forget(name: PolicyName, key: string): void {
    this.buckets(name).forget(key);
  }

  /** Keys remembered over every policy (memory is bounded by recently active keys). */
  get size(): number {
    let size = 0;
    for (const buckets of this.byName.values()) size += buckets.size;
    return size;
  }

  private buckets(name: PolicyName): TokenBuckets {
    const buckets = this.byName.get(name);
    if (!buckets) throw new Error(`No rate-limit policy named ${name}`);
    return buckets;
  }
}
