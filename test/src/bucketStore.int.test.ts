import { MemoryBucketStore } from '../../src/rateLimit/bucketStore.ts';
import { PostgresBucketStore } from '../../src/rateLimit/postgresBucketStore.ts';
import { freshSchema, postgresFactory, postgresTest, rawClient } from '../helpers/postgres.ts';
import { bucketStoreContract } from './bucketStore.contract.ts';
import { RateLimitExceeded } from '../../src/rateLimit/tokenBuckets.ts';

bucketStoreContract('in-memory', { open: async (now) => new MemoryBucketStore(now) });
// Each test a schema of its own, so each starts empty (the factory's open fails when REQUIRE_POSTGRES=1 has no server).
const server = postgresFactory(async (settings) => settings);
bucketStoreContract(
  'PostgreSQL',
  'skip' in server
    ? server
    : {
        open: async (now) => {
          await server.open();
          return PostgresBucketStore.connect(await freshSchema(), now);
        },
      },
);

const policy = { name: 'msg', burst: 3, perSecond: 0.001, key: 'user' as const, description: '' };

postgresTest('two instances on one PostgreSQL share one budget: what one took the other cannot', async (t, settings) => {
  const now = () => 1_700_000_000_000;
  const [a, b] = [await PostgresBucketStore.connect(settings, now), await PostgresBucketStore.connect(settings, now)];
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  await a.take(policy, 'alice');
  await b.take(policy, 'alice');
  await a.take(policy, 'alice');
  await t.throwsAsync(b.take(policy, 'alice'), { instanceOf: RateLimitExceeded });
  const client = await rawClient(t);
  const rows = (await client.query(`SELECT policy, key, tokens FROM "${settings.schema}".rate_limit_buckets`)).rows;
  t.is(rows.length, 1);
  t.like(rows[0], { policy: 'msg', tokens: 0 });
  t.not(rows[0].key, 'alice', 'the key is stored hashed, never the raw id or address');
});
