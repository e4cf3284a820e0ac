/**
 * What one charge of a rate-limit policy costs: the buckets in this process's memory (one server) against the bucket
 * every instance shares in PostgreSQL (DATABASE_URL: one UPSERT computing the refill per charged request).
 *
 *   npx tsx scripts/bench/rateLimitCost.ts --database-url postgres://… [--requests 5000] [--concurrency 16] [--keys 100]
 *
 * Sequential: the latency one request adds (p50, p99). Concurrent: charges per second with `concurrency` in flight
 * (a pool of DATABASE_POOL_MAX connections, 10 by default, as the server's). Runs in a schema of its own, dropped after.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { MemoryBucketStore, type BucketStore } from '../../src/rateLimit/bucketStore.ts';
import type { RateLimitPolicy } from '../../src/rateLimit/policies.ts';
import { PostgresBucketStore } from '../../src/rateLimit/postgresBucketStore.ts';
import { parseScriptArgs } from '../lib/args.ts';

const USAGE = `Usage: npx tsx scripts/bench/rateLimitCost.ts --database-url <postgres://…> [--requests N] [--concurrency N] [--keys N] [--pool N]`;

// Never refuses: the cost measured is the charge, not a 429.
const policy: RateLimitPolicy = { name: 'bench', burst: 1_000_000_000, perSecond: 1_000_000, key: 'user', description: 'bench' };

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function measure(store: BucketStore, requests: number, concurrency: number, keys: number) {
  for (let i = 0; i < Math.min(200, requests); i++) await store.take(policy, `warm-${i % keys}`);
  const latencies: number[] = [];
  for (let i = 0; i < requests; i++) {
    const started = performance.now();
    await store.take(policy, `user-${i % keys}`);
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        next++;
        await store.take(policy, `user-${next % keys}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), perSecondConcurrent: requests / seconds };
}

export async function rateLimitCost(options: { databaseUrl: string; requests: number; concurrency: number; keys: number; pool: number }) {
  const memory = await measure(new MemoryBucketStore(), options.requests, options.concurrency, options.keys);
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  const shared = await PostgresBucketStore.connect({ url: options.databaseUrl, schema, poolMax: options.pool });
  try {
    const postgres = await measure(shared, options.requests, options.concurrency, options.keys);
    return { memory, postgres };
  } finally {
    await shared.close();
    const client = new pg.Client({ connectionString: options.databaseUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, fail } = parseScriptArgs(USAGE, {
    'database-url': { type: 'string' },
    requests: { type: 'string' },
    concurrency: { type: 'string' },
    keys: { type: 'string' },
    pool: { type: 'string' },
  });
  const databaseUrl = values['database-url'] ?? process.env.DATABASE_URL ?? fail('--database-url (or DATABASE_URL) is required');
  const number = (name: string, value: string | undefined, fallback: number) => {
    const parsed = value === undefined ? fallback : Number(value);
    return Number.isInteger(parsed) && parsed > 0 ? parsed : fail(`--${name} must be a whole number above 0`);
  };
  const result = await rateLimitCost({
    databaseUrl,
    requests: number('requests', values.requests, 5_000),
    concurrency: number('concurrency', values.concurrency, 16),
    keys: number('keys', values.keys, 100),
    pool: number('pool', values.pool, 10),
  });
  const row = (name: string, r: typeof result.memory) =>
    `${name.padEnd(10)} p50 ${r.p50Ms.toFixed(3)} ms  p99 ${r.p99Ms.toFixed(3)} ms  concurrent ${Math.round(r.perSecondConcurrent)} charges/s`;
  console.log(row('memory', result.memory));
  console.log(row('postgres', result.postgres));
}
