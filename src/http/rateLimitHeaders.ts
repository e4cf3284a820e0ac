import type { Context } from 'koa';
import { windowSeconds, type RateLimitPolicy } from '../rateLimit/policies.ts';
import type { Allowance } from '../rateLimit/tokenBuckets.ts';

/**
 * The IETF httpapi ratelimit-headers draft's fields (RFC 8941 structured fields): the policy (`q` requests per
 * `w` seconds) and what is left of it (`r` remaining, `t` seconds until the bucket is full again; `pk` a hash of the
 * partition key, never the user id or address itself).
 */
export const policyHeader = (policy: RateLimitPolicy) => `"${policy.name}";q=${policy.burst};w=${windowSeconds(policy)}`;

export const allowanceHeader = (allowance: Allowance) =>
  `"${allowance.policy.name}";r=${allowance.remaining};t=${allowance.resetSeconds};pk=:${allowance.partition}:`;

export function setRateLimitHeaders(ctx: Context, allowance: Allowance): void {
  ctx.set('RateLimit-Policy', policyHeader(allowance.policy));
  ctx.set('RateLimit', allowanceHeader(allowance));
}
