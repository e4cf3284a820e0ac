import test from 'ava';
import { SqlitePushCheckpoints, type PushCheckpoints } from '../../src/push/pushCheckpoints.ts';
import { PostgresPushCheckpoints } from '../../src/push/postgresPushCheckpoints.ts';
import { tempDir } from '../helpers/app.ts';
import { postgresTest } from '../helpers/postgres.ts';

/** The push deliveries' checkpoint: absent before the first start, only ever forward, kept across reopening. */
async function checkpointContract(t: import('ava').ExecutionContext, open: () => Promise<PushCheckpoints>): Promise<void> {
  let store = await open();
  t.true(await store.hold('a', 10_000));
  t.is(await store.load(), null);
  t.true(await store.save(42, 'a'));
  t.true(await store.save(7, 'a'));
  t.is(await store.load(), 42);
  await store.close();
  store = await open();
  t.true(await store.hold('a', 10_000));
  t.is(await store.load(), 42);
  await store.close();
}

test('embedded: the checkpoint (STORAGE_DIR/push.sqlite) starts absent, only moves forward and survives reopening', async (t) => {
  const dir = tempDir();
  await checkpointContract(t, () => Promise.resolve(new SqlitePushCheckpoints(dir)));
});

postgresTest(
  'PostgreSQL: the same contract, and one instance at a time holds the lease: the other cannot deliver or move the checkpoint until it expires',
  async (t, settings) => {
    await checkpointContract(t, () => PostgresPushCheckpoints.connect(settings));
    const [first, second] = [await PostgresPushCheckpoints.connect(settings), await PostgresPushCheckpoints.connect(settings)];
    t.teardown(async () => {
      await first.close();
      await second.close();
    });
    t.true(await first.hold('a', 300));
    t.false(await second.hold('two', 300));
    t.false(await second.save(100, 'two'));
    t.is(await second.load(), 42);
    await new Promise((resolve) => setTimeout(resolve, 400));
    t.true(await second.hold('two', 300));
    t.false(await first.save(100, 'a'));
    t.true(await second.save(100, 'two'));
    t.is(await first.load(), 100);
  },
);
