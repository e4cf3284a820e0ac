import test from 'ava';
import { RateLimiter } from '../../src/http/rateLimit.ts';

test('buckets idle long enough to be full again are swept by time, whatever their number', (t) => {
  let now = 0;
  const limiter = new RateLimiter({ burst: 2, perSecond: 1 }, () => now);
  for (let i = 0; i < 50; i++) limiter.take(`key-${i}`);
  t.is(limiter.size, 50);
  now += 2_001; // a full refill period later
  limiter.take('fresh');
  t.is(limiter.size, 1, 'only the active key is remembered');
});

test('a forgotten key (a closed socket) is dropped at once', (t) => {
  const limiter = new RateLimiter({ burst: 2, perSecond: 1 }, () => 0);
  limiter.take('socket-1');
  limiter.take('socket-2');
  limiter.forget('socket-1');
  t.is(limiter.size, 1);
});

test('a key over its budget is refused with the seconds until the next token', (t) => {
  const limiter = new RateLimiter({ burst: 1, perSecond: 0.5 }, () => 0);
  limiter.take('k');
  const error = t.throws(() => limiter.take('k'));
  t.like(error, { code: 'rate_limited', details: { retryAfterSeconds: 2 } });
});
