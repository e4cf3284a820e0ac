/**
 * Operator tool: copy a stopped server's embedded event log (STORAGE_DIR/events.sqlite) and sealed secrets to
 * PostgreSQL (or, through the adapter, EventStoreDB), verify the copy, and resume after an interruption.
 *   npm run migrate -- --to postgres://letsapp:secret@db:5432/letsapp [--from ./storage] [--schema public]
 * The source is only read (from a snapshot in a temp dir). The read collections are not copied: the projections
 * build from the log at the target's first start. Exit code 0: copied and verified; 1: refused or not verified;
 * 2: bad arguments.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { EmbeddedSource } from '../src/migration/embeddedSource.ts';
import { parseScriptArgs } from './lib/args.ts';
import {
  EventStoreDbTarget,
  migrateEmbeddedLog,
  MigrationRefused,
  PostgresTarget,
  type MigrationProgress,
  type MigrationTarget,
} from '../src/migration/migrate.ts';

const USAGE = `Usage: npm run migrate -- --to <url> [--from <storage dir>] [--schema <name>] [--batch-size <events>]
  --to          postgres://user:password@host:5432/database (TLS through the URL's sslmode),
                or esdb://host:2113?tls=false (through the EventStoreDB adapter; not verified against a server here)
  --from        the stopped server's storage dir, only read (default: STORAGE_DIR, else ./storage)
  --schema      the PostgreSQL schema to create the tables in (default: DATABASE_SCHEMA, else public)
  --batch-size  events per transaction (default 1000)`;

// Whatever this script creates is its user's alone, as for the server.
process.umask(0o077);
const { values, fail: usage } = parseScriptArgs(USAGE, {
  to: { type: 'string' },
  from: { type: 'string' },
  schema: { type: 'string' },
  'batch-size': { type: 'string', default: '1000' },
});
const to = values.to ?? usage('--to is required');
const isPostgres = /^postgres(ql)?:\/\/./.test(to);
if (!isPostgres && !/^esdb(\+discover)?:\/\/./.test(to))
  usage(`--to must be a postgres://, postgresql:// or esdb:// URL, not "${redact(to)}"`);
const batchSize = Number(values['batch-size']);
if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000)
  usage(`--batch-size takes a whole number of events from 1 to 100000, not "${values['batch-size']}"`);
const schema = values.schema ?? process.env.DATABASE_SCHEMA ?? 'public';
if (!/^[a-z_][a-z0-9_]{0,47}$/.test(schema)) usage(`--schema must be lower-case letters, digits and _ (at most 48), not "${schema}"`);
const from = resolve(values.from ?? process.env.STORAGE_DIR ?? 'storage');

/** The URL as printed: never its password. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

const LABELS: Record<MigrationProgress['phase'], string> = { source: 'checking the source', copy: 'copying', target: 'verifying the copy' };
let source: EmbeddedSource | null = null;
let target: MigrationTarget | null = null;
const bar = new cliProgress.SingleBar(
  { format: '{phase} [{bar}] {value}/{total} events | {eta_formatted} left', hideCursor: true },
  cliProgress.Presets.shades_classic,
);
let phase: MigrationProgress['phase'] | null = null;
try {
  source = EmbeddedSource.open(from);
  target = isPostgres ? await PostgresTarget.open({ url: to, schema }) : await EventStoreDbTarget.open(to);
  const summary = await migrateEmbeddedLog({
    source,
    target,
    batchSize,
    onProgress: (progress) => {
      if (progress.phase !== phase) {
        if (phase) bar.stop();
        phase = progress.phase;
        bar.start(progress.total, progress.done, { phase: LABELS[phase] });
      }
      bar.update(progress.done);
    },
  });
  bar.stop();
  const where = isPostgres ? `PostgreSQL ${redact(to)} (schema ${schema})` : `EventStoreDB ${redact(to)}`;
  console.log(
    `Migrated ${join(from, 'events.sqlite')} to ${where} in ${summary.seconds.toFixed(1)} s: ` +
      `${summary.copied} events copied, ${summary.alreadyCopied} already there (from an earlier run).`,
  );
  console.log(
    `Verified: ${summary.targetEvents} events on both sides, the hash chain holds to position ${summary.headPosition} (head ${summary.headHash}).`,
  );
  const { secrets } = summary;
  console.log(
    target.secrets
      ? `Sealed secrets: ${secrets.copied} copied, ${secrets.alreadyThere} already there${secrets.keptTarget ? `, ${secrets.keptTarget} set on the target since (kept)` : ''}.`
      : `Sealed secrets: ${secrets.left} stay in ${join(from, 'secrets.sqlite')}, where a server on EventStoreDB reads them.`,
  );
  if (existsSync(join(from, 'secrets.json'))) {
    console.log(
      `Note: ${join(from, 'secrets.json')} holds generated development secrets. A server on DATABASE_URL generates none: ` +
        "set its JWT_SECRET_KEY and ENCRYPTION_KEY to these values (users' Gemini keys open only with that ENCRYPTION_KEY).",
    );
  }
  console.log(
    isPostgres
      ? `Next: start the server with DATABASE_URL (and DATABASE_SCHEMA=${schema}); its projections build from the log at the first start.`
      : 'Next: start the server with EVENTSTORE_CONNECTION_STRING; its projections build from the log at the first start.',
  );
} catch (error) {
  bar.stop();
  console.error(`Migration stopped: ${(error as Error).message}`);
  if (!(error instanceof MigrationRefused)) console.error('What was copied stays; run the same command again to resume.');
  process.exitCode = 1;
} finally {
  source?.close();
  await target?.close().catch(() => undefined);
}
