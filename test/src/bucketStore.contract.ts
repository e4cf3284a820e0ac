import test from 'ava';
import type { BucketStore } from '../../src/rateLimit/bucketStore.ts';
import { RateLimitExceeded } from '../../src/rateLimit/tokenBuckets.ts';

/** A factory for a fresh store on a clock the test moves, or the reason the run is skipped (reported, never a pass). */
export type BucketStoreFactory = { open: (now: () => number) => Promise<BucketStore> } | { skip: string };

const policy = (burst: number, perSecond: number, name = 'p') => ({ name, burst, perSecond, key: 'user' as const, description: '' });

/** The rate-limit bucket store contract (src/rateLimit/bucketStore.ts), run against every adapter. */
export function bucketStoreContract(adapter: string, factory: BucketStoreFactory): void {
  if ('skip' in factory) {
    test.skip(`${adapter} bucket store contract — skipped: ${factory.skip}`, () => undefined);
    return;
  }
  const it = (title: string, body: (t: import('ava').ExecutionContext, store: BucketStore, clock: { now: number }) => Promise<void>) =>
    test(`${adapter} bucket store: ${title}`, async (t) => {
      const clock = { now: 1_700_000_000_000 };
      const store = await factory.open(() => clock.now);
      try {
        await body(t, store, clock);
      } finally {
        await store.close();
      }
    });

  it('allows the burst at once, refuses the next with the wait until one token, then refills continuously (never above the burst)', async (t, store, clock) => {
    const p = policy(3, 2);
    const remaining: number[] = [];
    for (let i = 0; i < 3; i++) remaining.push((await store.take(p, 'k')).remaining);
    t.deepEqual(remaining, [2, 1, 0]);
    const refused = await t.throwsAsync(store.take(p, 'k'), { instanceOf: RateLimitExceeded });
    t.like(refused, { details: { policy: 'p', retryAfterMs: 500 } });
    t.like(refused.allowance, { remaining: 0, resetSeconds: 1 });
    clock.now += 250;
    await t.throwsAsync(store.take(p, 'k'), { instanceOf: RateLimitExceeded }, 'half a token is not one');
    clock.now += 250;
    t.is((await store.take(p, 'k')).remaining, 0);
    clock.now += 60_000;
    t.is((await store.take(p, 'k')).remaining, 2, 'never more than the burst');
  });

  it('keeps one bucket per policy and key', async (t, store) => {
    const p = policy(1, 0.001);
    await store.take(p, 'alice');
    await t.throwsAsync(store.take(p, 'alice'), { instanceOf: RateLimitExceeded });
    await t.notThrowsAsync(store.take(p, 'bob'));
    await t.notThrowsAsync(store.take(policy(1, 0.001, 'other'), 'alice'));
  });

  it('takes atomically: concurrent takes never spend more than the burst', async (t, store) => {
    const p = policy(5, 0.001);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => store.take(p, 'k')));
    t.is(results.filter((r) => r.status === 'fulfilled').length, 5);
    t.true(results.filter((r) => r.status === 'rejected').every((r) => r.reason instanceof RateLimitExceeded));
  });

  it('borrow takes past empty (down to one burst below) and says how many whole tokens it is short; giveBack returns one, up to the burst', async (t, store) => {
    const p = policy(2, 0.001);
    t.deepEqual(
      [
        await store.borrow(p, 'k'),
        await store.borrow(p, 'k'),
        await store.borrow(p, 'k'),
        await store.borrow(p, 'k'),
        await store.borrow(p, 'k'),
      ],
      [0, 0, 1, 2, 2],
    );
    await store.giveBack(p, 'k');
    await store.giveBack(p, 'k');
    t.is(await store.borrow(p, 'k'), 1);
    for (let i = 0; i < 10; i++) await store.giveBack(p, 'k');
    t.is((await store.take(p, 'k')).remaining, 1, 'given back up to the burst, no further');
  });

  it("forget drops a key's bucket: it starts full again", async (t, store) => {
    const p = policy(1, 0.001);
    await store.take(p, 'k');
    await store.forget(p, 'k');
    t.is((await store.take(p, 'k')).remaining, 0);
  });

  it("a refusal's partition is a hash of the key, never the key itself", async (t, store) => {
    const allowance = await store.take(policy(1, 1), 'user-123');
    t.not(allowance.partition, 'user-123');
    t.is(allowance.partition.length, 16);
  });
}
