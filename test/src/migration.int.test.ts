import test from 'ava';
import Database from 'better-sqlite3';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NewEvent } from '../../src/eventstore/port.ts';
import { PostgresEventStore } from '../../src/eventstore/postgres.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { EmbeddedSource } from '../../src/migration/embeddedSource.ts';
import { MigrationRefused, migrateEmbeddedLog, PostgresTarget } from '../../src/migration/migrate.ts';
import type { PostgresSettings } from '../../src/postgres/connection.ts';
import { PostgresSecretStore } from '../../src/secrets/postgresSecretStore.ts';
import { SqliteSecretStore } from '../../src/secrets/sqliteSecretStore.ts';
import { tempDir } from '../helpers/app.ts';
import { postgresTest, rawClient } from '../helpers/postgres.ts';

const EVENTS = 250;

const event = (n: number): NewEvent => {
  const id = randomUUID();
  return {
    type: n % 3 === 0 ? 'ThingRenamed' : 'ThingHappened',
    data: { n, text: `ünïcode ${n} "quoted"`, nested: { at: [n, n / 7] } },
    metadata: {
      eventId: id,
      correlationId: `c-${n}`,
      causationId: id,
      userId: n % 2 ? 'user-1' : null,
      timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString(),
    },
  };
};

/** A stopped server's storage dir: an embedded log of streams with several revisions each, and two sealed secrets. */
async function embeddedDeployment(): Promise<string> {
  const dir = tempDir('letsapp-migrate-');
  const log = new SqliteEventStore(join(dir, 'events.sqlite'), { checkpoints: false });
  const revisions = new Map<string, number>();
  for (let n = 1; n <= EVENTS; n++) {
    const stream = `thing-${n % 17}`;
    const revision = revisions.get(stream) ?? -1;
    await log.append(stream, [event(n)], revision === -1 ? 'no-stream' : revision);
    revisions.set(stream, revision + 1);
  }
  await log.close();
  const secrets = SqliteSecretStore.open(dir);
  await secrets.put('ai-api-key', 'user:alice', '{"v":1,"kid":"default","ct":"alice"}');
  await secrets.put('ai-api-key', 'user:bob', '{"v":1,"kid":"default","ct":"bob"}');
  await secrets.close();
  return dir;
}

const fingerprint = (dir: string) =>
  ['events.sqlite', 'events.sqlite-wal', 'events.sqlite-shm', 'secrets.sqlite', 'secrets.sqlite-wal', 'secrets.sqlite-shm'].map((name) => [
    name,
    existsSync(join(dir, name))
      ? createHash('sha256')
          .update(readFileSync(join(dir, name)))
          .digest('hex')
      : null,
  ]);

async function migrate(dir: string, settings: PostgresSettings, options: { batchSize?: number; stopAfter?: number } = {}) {
  const source = EmbeddedSource.open(dir);
  const target = await PostgresTarget.open(settings);
  const controller = new AbortController();
  try {
    return await migrateEmbeddedLog({
      source,
      target,
      batchSize: options.batchSize ?? 40,
      signal: controller.signal,
      onProgress: ({ phase, done }) => {
        if (phase === 'copy' && options.stopAfter !== undefined && done >= options.stopAfter) controller.abort(new Error('interrupted'));
      },
    });
  } finally {
    source.close();
    await target.close();
  }
}

const storedRows = async (client: { query: (sql: string) => Promise<{ rows: any[] }> }, schema: string) =>
  (
    await client.query(`SELECT position::int AS position, event_id, stream, revision::int AS revision, type, data::text AS data, metadata::text AS metadata, chain_hash
    FROM "${schema}".events ORDER BY position`)
  ).rows;

postgresTest(
  'migrate: an interrupted copy resumes where it stopped; the result is the source exactly (positions, ids, revisions, data, metadata, chain hashes), never a duplicate; the source is not changed',
  async (t, settings) => {
    const dir = await embeddedDeployment();
    const before = fingerprint(dir);

    await t.throwsAsync(migrate(dir, settings, { batchSize: 40, stopAfter: 100 }), { message: 'interrupted' });
    const client = await rawClient(t);
    t.is((await storedRows(client, settings.schema!)).length, 120, 'three whole batches of 40 copied, then stopped');

    const resumed = await migrate(dir, settings, { batchSize: 40 });
    t.like(resumed, { sourceEvents: EVENTS, alreadyCopied: 120, copied: 130, targetEvents: EVENTS, headPosition: EVENTS });
    t.like(resumed.secrets, { copied: 2, alreadyThere: 0 });
    t.deepEqual(fingerprint(dir), before, 'the source files are byte for byte as they were, and no file was added beside them');

    const source = new Database(join(dir, 'events.sqlite'), { readonly: true });
    const expected = source
      .prepare('SELECT position, event_id, stream, revision, type, data, metadata, chain_hash FROM events ORDER BY position')
      .all();
    source.close();
    t.deepEqual(await storedRows(client, settings.schema!), expected, 'row for row the embedded log, hashes included');
    t.is((await client.query(`SELECT count(DISTINCT event_id)::int AS n FROM "${settings.schema}".events`)).rows[0].n, EVENTS);

    // Through the port: the same recorded events, times (metadata.timestamp) and revisions on both sides.
    const [embedded, postgres] = [
      new SqliteEventStore(join(dir, 'events.sqlite'), { readonly: true }),
      await PostgresEventStore.connect(settings),
    ];
    t.deepEqual(await postgres.readAll(), await embedded.readAll());
    t.deepEqual(await postgres.verifyTail(), { checked: EVENTS, breakAt: null });
    await embedded.close();
    await postgres.close();
    const secrets = await PostgresSecretStore.connect(settings);
    t.is(await secrets.get('ai-api-key', 'user:bob'), '{"v":1,"kid":"default","ct":"bob"}');
    await secrets.close();

    const beforeAgain = fingerprint(dir);
    const again = await migrate(dir, settings);
    t.like(again, { alreadyCopied: EVENTS, copied: 0, targetEvents: EVENTS });
    t.like(again.secrets, { copied: 0, alreadyThere: 2 });
    t.deepEqual(fingerprint(dir), beforeAgain);
  },
);

postgresTest(
  "migrate refuses a target that holds events that are not the source's, and a source whose hash chain is broken",
  async (t, settings) => {
    const dir = await embeddedDeployment();
    const other = await PostgresEventStore.connect(settings);
    await other.append('elsewhere', [event(1)], 'no-stream');
    await other.close();
    await t.throwsAsync(migrate(dir, settings), { instanceOf: MigrationRefused, message: /already holds events that are not this log's/ });

    const altered = await embeddedDeployment();
    const db = new Database(join(altered, 'events.sqlite'));
    db.prepare(`UPDATE events SET data = '{"n":999}' WHERE position = 7`).run();
    db.close();
    const client = await rawClient(t);
    await client.query(`TRUNCATE "${settings.schema}".events`);
    await t.throwsAsync(migrate(altered, settings), { instanceOf: MigrationRefused, message: /hash chain breaks at position 7/ });
    t.is((await storedRows(client, settings.schema!)).length, 0, 'nothing copied');
  },
);

test('a source without an embedded log is named', (t) => {
  t.throws(() => EmbeddedSource.open(tempDir()), { message: /No embedded event log at/ });
});
