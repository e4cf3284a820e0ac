import test from 'ava';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { PostgresSettings } from '../../src/postgres/connection.ts';

/**
 * The PostgreSQL server the tests run against: TEST_DATABASE_URL (a database the tests may create schemas in).
 * Without it the PostgreSQL suites are skipped with that reason, unless REQUIRE_POSTGRES=1 (as in CI), which
 * makes them fail instead: a suite that never ran must not pass as one that did.
 */
export const testDatabaseUrl = process.env.TEST_DATABASE_URL || null;

export const postgresSkipReason = testDatabaseUrl ? null : 'TEST_DATABASE_URL is not set, so no PostgreSQL server to run against';

export const postgresRequired = process.env.REQUIRE_POSTGRES === '1';

/** A factory for the contract suites: the server, the reason it is skipped, or (REQUIRE_POSTGRES=1) a failure. */
export function postgresFactory<S>(open: (settings: PostgresSettings) => Promise<S>): { open: () => Promise<S> } | { skip: string } {
  if (testDatabaseUrl) {
    const settings = freshSchema();
    return { open: async () => open(await settings) };
  }
  if (postgresRequired) return { open: () => Promise.reject(new Error(`REQUIRE_POSTGRES=1, but ${postgresSkipReason}`)) };
  return { skip: postgresSkipReason! };
}

/** Registers a test that only makes sense with a server: skipped with the reason without one (failed if required). */
export function postgresTest(
  title: string,
  body: (t: import('ava').ExecutionContext, settings: PostgresSettings) => Promise<void>,
  options: { serial?: boolean } = {},
): void {
  if (!testDatabaseUrl && !postgresRequired) {
    test.skip(`${title} — skipped: ${postgresSkipReason}`, () => undefined);
    return;
  }
  // Serial for tests that start several servers, each with its pools: together they would exhaust the connection slots.
  (options.serial ? test.serial : test)(title, async (t) => {
    if (!testDatabaseUrl) throw new Error(`REQUIRE_POSTGRES=1, but ${postgresSkipReason}`);
    await body(t, await freshSchema());
  });
}

const created: string[] = [];

/**
 * A schema of its own (dropped when the test file ends), so test files run in parallel on one database and each
 * starts empty.
 */
export async function freshSchema(): Promise<PostgresSettings> {
  const schema = `test_${randomBytes(6).toString('hex')}`;
  created.push(schema);
  return { url: testDatabaseUrl!, schema, poolMax: 4 };
}

test.after.always('drop the PostgreSQL schemas this file made', async () => {
  if (!testDatabaseUrl || created.length === 0) return;
  const client = new pg.Client({ connectionString: testDatabaseUrl });
  await client.connect();
  try {
    for (const schema of created) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
});

/** A plain client on the test database, closed when the test ends. */
export async function rawClient(t: import('ava').ExecutionContext): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: testDatabaseUrl! });
  await client.connect();
  t.teardown(() => client.end().catch(() => undefined));
  return client;
}
