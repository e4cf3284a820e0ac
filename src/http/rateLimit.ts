import type { Context, Next } from 'koa';
import { RateLimitedError } from '../../commands/shared/errors.ts';

export interface RateLimit {
  /** Requests allowed in a burst. */
  burst: number;
  /** Requests refilled per second. */
  perSecond: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per key (client address, user). Buckets idle long enough to be full again are forgotten,
 * so memory stays bounded by the number of recently active keys.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep: number;

  constructor(private readonly limit: RateLimit, private readonly now: () => number = Date.now) {
    this.lastSweep = now();
  }

  /** How long an idle bucket takes to be full again: after that it is the same as no bucket. */
  private get refillMs(): number {
    return (this.limit.burst / this.limit.perSecond) * 1000;
  }

  /** Takes one token for `key` or throws a 429 saying when to retry. */
  take(key: string): void {
    const now = this.now();
    if (now - this.lastSweep > this.refillMs) this.forgetFullBuckets(now);
    const bucket = this.buckets.get(key) ?? { tokens: this.limit.burst, updatedAt: now };
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.limit.perSecond);
    bucket.updatedAt = now;
    if (bucket.tokens < 1) {
      this.buckets.set(key, bucket);
      throw new RateLimitedError(Math.ceil((1 - bucket.tokens) / this.limit.perSecond));
    }
    bucket.tokens -= 1;
    this.buckets.set(key, bucket);
  }

  /** Drops a key's bucket (a closed socket's), so nothing is kept for keys that will not come back. */
  forget(key: string): void {
    this.buckets.delete(key);
  }

  /** Number of keys remembered; bounded by the keys active within one refill period. */
  get size(): number {
    return this.buckets.size;
  }

  /** Swept at most once per refill period, so the cost is amortized over the takes in it. */
  private forgetFullBuckets(now: number): void {
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) if (now - bucket.updatedAt > this.refillMs) this.buckets.delete(key);
  }
}

export const rateLimitByIp = (limiter: RateLimiter) => async (ctx: Context, next: Next) => {
  limiter.take(ctx.ip);
  await next();
};
