import test from 'ava';
import { MemoryCallGraceDeadlines, type CallGraceDeadlines } from '../../src/calls/callGraceDeadlines.ts';
import { PostgresCallGraceDeadlines } from '../../src/calls/postgresCallGraceDeadlines.ts';
import { freshSchema, postgresFactory } from '../helpers/postgres.ts';

const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds));

/** The call grace deadlines contract (src/calls/callGraceDeadlines.ts), run against every adapter. */
function contract(adapter: string, factory: { open: () => Promise<CallGraceDeadlines> } | { skip: string }): void {
  if ('skip' in factory) {
    test.skip(`${adapter} call grace deadlines contract — skipped: ${factory.skip}`, () => undefined);
    return;
  }
  const it = (title: string, body: (t: import('ava').ExecutionContext, store: CallGraceDeadlines) => Promise<void>) =>
    test(`${adapter} call grace deadlines: ${title}`, async (t) => {
      const store = await factory.open();
      try {
        await body(t, store);
      } finally {
        await store.close();
      }
    });

  it('a deadline armed twice keeps the earlier moment; disarming removes it', async (t, store) => {
    await store.arm('alice', at(30));
    await store.arm('alice', at(60));
    await store.arm('bob', at(20));
    t.deepEqual(await store.list(), [
      { userId: 'alice', dueAt: at(30).toISOString() },
      { userId: 'bob', dueAt: at(20).toISOString() },
    ]);
    await store.disarm('bob');
    t.deepEqual(
      (await store.list()).map((d) => d.userId),
      ['alice'],
    );
  });

  it('takeDue returns each due deadline once and leaves the others', async (t, store) => {
    await store.arm('alice', at(10));
    await store.arm('bob', at(50));
    t.deepEqual(await store.takeDue(at(10)), ['alice']);
    t.deepEqual(await store.takeDue(at(10)), []);
    t.deepEqual(
      (await store.list()).map((d) => d.userId),
      ['bob'],
    );
  });

  it("claim fires a user's deadline only once it is due, and only for one of two concurrent claimers", async (t, store) => {
    await store.arm('alice', at(10));
    t.false(await store.claim('alice', at(9)));
    t.deepEqual((await Promise.all([store.claim('alice', at(10)), store.claim('alice', at(10))])).sort(), [false, true]);
    t.deepEqual(await store.list(), []);
  });
}

contract('in-memory', { open: async () => new MemoryCallGraceDeadlines() });
// Each test a schema of its own, so each starts empty (the factory's open fails when REQUIRE_POSTGRES=1 has no server).
const server = postgresFactory(async (settings) => settings);
contract(
  'PostgreSQL',
  'skip' in server
    ? server
    : {
        open: async () => {
          await server.open();
          return PostgresCallGraceDeadlines.connect(await freshSchema());
        },
      },
);
