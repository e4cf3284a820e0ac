import test from 'ava';
import { allowanceHeader, policyHeader } from '../../src/http/rateLimitHeaders.ts';
import { DEFAULT_POLICIES, parseRateLimits } from '../../src/rateLimit/policies.ts';
import { RateLimits } from '../../src/rateLimit/rateLimits.ts';
import { RateLimitExceeded, TokenBuckets } from '../../src/rateLimit/tokenBuckets.ts';

const policy = (burst: number, perSecond: number) => ({ name: 'p', burst, perSecond, key: 'user' as const, description: '' });

test('a bucket allows its burst at once, then refills continuously, fractions included', (t) => {
  let now = 0;
  const buckets = new TokenBuckets(policy(3, 2), () => now);
  t.deepEqual(
    [0, 1, 2].map(() => buckets.take('k').remaining),
    [2, 1, 0],
  );
  t.throws(() => buckets.take('k'), { instanceOf: RateLimitExceeded });
  now += 250; // half a token
  t.throws(() => buckets.take('k'));
  now += 250; // one token
  t.is(buckets.take('k').remaining, 0);
  now += 10_000;
  t.is(buckets.take('k').remaining, 2, 'never more than the burst');
});

test('a refusal names the policy and the milliseconds until one more request, rounded up; the header agrees', (t) => {
  const buckets = new TokenBuckets(policy(1, 0.3), () => 0);
  buckets.take('k');
  const error = t.throws(() => buckets.take('k'), { instanceOf: RateLimitExceeded });
  t.like(error, { code: 'rate_limited', status: 429, details: { policy: 'p', retryAfterMs: 3334 } });
  t.like(error.allowance, { remaining: 0, resetSeconds: 4 }, 'RateLimit t is never sooner than Retry-After');
});

test('a token given back (a right password) restores the bucket, never past its burst', (t) => {
  const buckets = new TokenBuckets(policy(2, 1 / 60), () => 0);
  buckets.take('k');
  buckets.take('k');
  buckets.giveBack('k');
  t.is(buckets.take('k').remaining, 0);
  buckets.giveBack('k');
  buckets.giveBack('k');
  buckets.giveBack('k');
  t.is(buckets.take('k').remaining, 1, 'never more than the burst');
});

test('borrowing never refuses: it says how far below empty the bucket is, down to one burst, and debt refills like tokens', (t) => {
  let now = 0;
  const buckets = new TokenBuckets(policy(2, 1), () => now);
  t.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => buckets.borrow('k')),
    [0, 0, 1, 2, 2, 2],
  );
  now += 1_000;
  t.is(buckets.borrow('k'), 2, 'one token refilled, one borrowed');
  now += 3_000; // idle for longer than an empty bucket takes to fill, but still one token short of full
  buckets.take('other'); // sweeps
  t.is(buckets.size, 2, 'a bucket in debt is not forgotten before it is full again');
  t.is(buckets.borrow('k'), 0);
  t.is(buckets.borrow('k'), 1, 'the debt was remembered');
});

test('buckets idle long enough to be full again are swept by time, whatever their number', (t) => {
  let now = 0;
  const buckets = new TokenBuckets(policy(2, 1), () => now);
  for (let i = 0; i < 50; i++) buckets.take(`key-${i}`);
  t.is(buckets.size, 50);
  now += 2_001; // a full refill period later
  buckets.take('fresh');
  t.is(buckets.size, 1, 'only the active key is remembered');
});

test('a forgotten key (a closed socket) is dropped at once', (t) => {
  const limits = new RateLimits(DEFAULT_POLICIES, () => 0);
  limits.take('frames', 'socket:1');
  limits.take('frames', 'socket:2');
  limits.forget('frames', 'socket:1');
  t.is(limits.size, 1);
});

test('policies share nothing: one policy exhausted leaves the others and the other users whole', (t) => {
  const limits = new RateLimits(parseRateLimits('msg=2,1/s'), () => 0);
  limits.take('msg', 'alice');
  limits.take('msg', 'alice');
  t.throws(() => limits.take('msg', 'alice'), { message: /msg/ });
  t.notThrows(() => limits.take('msg', 'bob'));
  t.notThrows(() => limits.take('read', 'alice'));
});

test('RATE_LIMITS overrides named policies with a burst and a refill per period', (t) => {
  const policies = new Map(parseRateLimits('msg=5,1/s; login-failures=3,3/15m;read=1,2/h').map((entry) => [entry.name, entry]));
  t.like(policies.get('msg'), { burst: 5, perSecond: 1, key: 'user' });
  t.like(policies.get('login-failures'), { burst: 3, perSecond: 3 / 900, key: 'account-address' });
  t.like(policies.get('read'), { burst: 1, perSecond: 2 / 3600 });
  t.like(policies.get('auth'), { burst: 20, perSecond: 1 }, 'the others keep their defaults');
  t.throws(() => parseRateLimits('nope=1,1/s'), { message: /unknown policy "nope"/ });
  t.throws(() => parseRateLimits('msg=1'), { message: /name=burst,amount\/period/ });
  t.throws(() => parseRateLimits('msg=0,1/s'), { message: /above 0/ });
});

test('headers follow the IETF draft: the policy with its window, what remains, and a hashed partition key', (t) => {
  const limits = new RateLimits(DEFAULT_POLICIES, () => 0);
  const allowance = limits.take('msg', 'user-123');
  t.is(policyHeader(allowance.policy), '"msg";q=30;w=3');
  const header = allowanceHeader(allowance);
  t.regex(header, /^"msg";r=29;t=1;pk=:[A-Za-z0-9+/]{16}:$/);
  t.false(header.includes('user-123'), 'never the raw key');
});
