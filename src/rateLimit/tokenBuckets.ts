import { createHash } from 'node:crypto';
import { RateLimitedError } from '../../commands/shared/errors.ts';
import type { RateLimitPolicy } from './policies.ts';

/** What a request used of its budget: enough for the `RateLimit` header. */
export interface Allowance {
  policy: RateLimitPolicy;
  /** Whole requests left now. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** A hash of the key (never the raw id or address), for the header's `pk`. */
  partition: string;
}

/** A 429 that also says what is left of the budget, for the response's `RateLimit` header. */
export class RateLimitExceeded extends RateLimitedError {
  constructor(
    retryAfterMs: number,
    readonly allowance: Allowance,
  ) {
    super(allowance.policy.name, retryAfterMs);
  }
}

interface Bucket {
  tokens: number;
  updatedAt: number;
  partition: string;
}

/** The first 12 bytes of SHA-256 of the key, base64: distinguishes partitions without revealing them. */
export const partitionOf = (key: string) => createHash('sha256').update(key).digest().subarray(0, 12).toString('base64');

/** What is left of a bucket holding `tokens` (after the take). */
export function allowanceOf(policy: RateLimitPolicy, tokens: number, partition: string): Allowance {
  return {
    policy,
    remaining: Math.floor(tokens),
    resetSeconds: Math.ceil((policy.burst - tokens) / policy.perSecond),
    partition,
  };
}

/** On a refusal `resetSeconds` is when the next request is allowed: the same moment as `Retry-After`, never sooner. */
export function refusalOf(policy: RateLimitPolicy, tokens: number, partition: string): RateLimitExceeded {
  const retryAfterMs = Math.ceil(((1 - tokens) / policy.perSecond) * 1000);
  return new RateLimitExceeded(retryAfterMs, {
    ...allowanceOf(policy, tokens, partition),
    remaining: 0,
    resetSeconds: Math.ceil(retryAfterMs / 1000),
  });
}

/**
 * One policy's token bucket per key (user, address, account, socket). Buckets idle long enough to be full again
 * are forgotten, so memory stays bounded by the number of recently active keys.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep: number;

  constructor(
    readonly policy: RateLimitPolicy,
    private readonly now: () => number = Date.now,
  ) {
    this.lastSweep = now();
  }

  /** How long an idle bucket takes to be full again: after that it is the same as no bucket. */
  private get refillMs(): number {
    return (this.policy.burst / this.policy.perSecond) * 1000;
  }

  /** Takes one token for `key`, or throws a 429 saying which policy and when to retry. */
  take(key: string): Allowance {
    const bucket = this.refilled(key);
    if (bucket.tokens < 1) throw this.refusal(bucket);
    bucket.tokens -= 1;
    return this.allowance(bucket);
  }

  /** Gives back a token taken for work that turned out free (a login whose password was right), up to the burst. */
  giveBack(key: string): void {
    const bucket = this.buckets.get(key);
    if (bucket) bucket.tokens = Math.min(this.policy.burst, bucket.tokens + 1);
  }

  /**
   * Takes one token even from an empty bucket (down to one burst below empty) and returns how many whole tokens the
   * bucket is short after it: 0 while it had one. A measure for slowing down, never a refusal.
   */
  borrow(key: string): number {
    const bucket = this.refilled(key);
    bucket.tokens = Math.max(-this.policy.burst, bucket.tokens - 1);
    return bucket.tokens >= 0 ? 0 : Math.ceil(-bucket.tokens);
  }

  /** Drops a key's bucket (a closed socket's), so nothing is kept for keys that will not come back. */
  forget(key: string): void {
    this.buckets.delete(key);
  }

  /** Number of keys remembered; bounded by the keys active within one refill period. */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(key: string): Bucket {
    const now = this.now();
    if (now - this.lastSweep > this.refillMs) this.forgetFullBuckets(now);
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = { tokens: this.policy.burst, updatedAt: now, partition: partitionOf(key) }));
    bucket.tokens = Math.min(this.policy.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.policy.perSecond);
    bucket.updatedAt = now;
    return bucket;
  }

  private refusal(bucket: Bucket): RateLimitExceeded {
    return refusalOf(this.policy, bucket.tokens, bucket.partition);
  }

  private allowance(bucket: Bucket): Allowance {
    return allowanceOf(this.policy, bucket.tokens, bucket.partition);
  }

  /** Swept at most once per refill period, so the cost is amortized over the takes in it. A bucket in debt is kept until full. */
  private forgetFullBuckets(now: number): void {
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.policy.perSecond >= this.policy.burst) this.buckets.delete(key);
    }
  }
}
