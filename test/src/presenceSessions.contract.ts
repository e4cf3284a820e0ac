import test from 'ava';
import type { PresenceSessions } from '../../src/presence/presenceSessions.ts';

/** A factory for a fresh, empty store, or the reason the run is skipped (reported, never counted as a pass). */
export type PresenceSessionsFactory = { open: () => Promise<PresenceSessions> } | { skip: string };

const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds));

/** The presence sessions contract (src/presence/presenceSessions.ts), run against every adapter. */
export function presenceSessionsContract(adapter: string, factory: PresenceSessionsFactory): void {
  if ('skip' in factory) {
    test.skip(`${adapter} presence sessions contract — skipped: ${factory.skip}`, () => undefined);
    return;
  }
  const it = (title: string, body: (t: import('ava').ExecutionContext, store: PresenceSessions) => Promise<void>) =>
    test(`${adapter} presence sessions: ${title}`, async (t) => {
      const store = await factory.open();
      try {
        await body(t, store);
      } finally {
        await store.close();
      }
    });

  it('a session is keyed by instance and connection: the same connection id on two instances is two sessions', async (t, store) => {
    await store.open({ instanceId: 'a', connectionId: 1, userId: 'alice' }, at(0), at(30));
    await store.open({ instanceId: 'b', connectionId: 1, userId: 'bob' }, at(0), at(30));
    await store.open({ instanceId: 'a', connectionId: 1, userId: 'alice' }, at(5), at(35));
    t.deepEqual(
      (await store.list()).map((s) => [s.instanceId, s.connectionId, s.userId, s.expiresAt]),
      [
        ['a', 1, 'alice', at(35).toISOString()],
        ['b', 1, 'bob', at(30).toISOString()],
      ],
    );
  });

  it('a user is live while any of their sessions has not expired; an ended session no longer counts', async (t, store) => {
    await store.open({ instanceId: 'a', connectionId: 1, userId: 'alice' }, at(0), at(30));
    await store.open({ instanceId: 'b', connectionId: 7, userId: 'alice' }, at(0), at(10));
    await store.open({ instanceId: 'a', connectionId: 2, userId: 'bob' }, at(0), at(10));
    const live = async (now: Date) => [...(await store.liveUsers(['alice', 'bob', 'carol'], now))].sort();
    t.deepEqual(await live(at(20)), ['alice'], "bob's session and one of alice's expired");
    await store.end('a', 1);
    t.deepEqual(await live(at(5)), ['alice', 'bob'], "alice's session on b still counts");
    await store.end('b', 7);
    t.deepEqual(await live(at(5)), ['bob']);
  });

  it('find names the live session of a connection id, on whichever instance holds it', async (t, store) => {
    await store.open({ instanceId: 'a', connectionId: 1001, userId: 'alice' }, at(0), at(30));
    await store.open({ instanceId: 'b', connectionId: 2001, userId: 'bob' }, at(0), at(10));
    t.like(await store.find(1001, at(5)), { instanceId: 'a', userId: 'alice' });
    t.like(await store.find(2001, at(5)), { instanceId: 'b', userId: 'bob' });
    t.is(await store.find(2001, at(20)), null, 'expired');
    t.is(await store.find(3001, at(5)), null, 'never opened');
    await store.end('a', 1001);
    t.is(await store.find(1001, at(5)), null, 'ended');
  });

  it("an instance's heartbeat renews the expiry of its sessions only", async (t, store) => {
    await store.open({ instanceId: 'a', connectionId: 1, userId: 'alice' }, at(0), at(30));
    await store.open({ instanceId: 'a', connectionId: 2, userId: 'bob' }, at(0), at(30));
    await store.open({ instanceId: 'b', connectionId: 1, userId: 'carol' }, at(0), at(30));
    t.is(await store.renew('a', at(60)), 2);
    t.deepEqual(
      (await store.list()).map((s) => s.expiresAt),
      [at(60), at(60), at(30)].map((d) => d.toISOString()),
    );
  });

  it("expire removes the sessions past their expiry (a dead instance's) and says whose they were", async (t, store) => {
    await store.open({ instanceId: 'dead', connectionId: 1, userId: 'alice' }, at(0), at(30));
    await store.open({ instanceId: 'live', connectionId: 1, userId: 'bob' }, at(0), at(90));
    const expired = await store.expire(at(31));
    t.deepEqual(
      expired.map((s) => [s.instanceId, s.connectionId, s.userId]),
      [['dead', 1, 'alice']],
    );
    t.deepEqual(
      (await store.list()).map((s) => s.userId),
      ['bob'],
    );
    t.deepEqual(await store.expire(at(31)), [], 'each expired session is reported once');
  });

  it('endInstance removes every session of an instance (its orderly shutdown)', async (t, store) => {
    await store.open({ instanceId: 'a', connectionId: 1, userId: 'alice' }, at(0), at(30));
    await store.open({ instanceId: 'b', connectionId: 2, userId: 'bob' }, at(0), at(30));
    await store.endInstance('a');
    t.deepEqual(
      (await store.list()).map((s) => s.userId),
      ['bob'],
    );
  });
}
