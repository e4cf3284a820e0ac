import { join } from 'node:path';
import { createPrivateFile, type Config } from './config.ts';
import type { EventStore } from './eventstore/port.ts';
import { SqliteEventStore, type SqliteEventStoreOptions } from './eventstore/sqlite.ts';
import type { ReadStore } from './readstore/port.ts';
import { SqliteReadStore } from './readstore/sqlite.ts';
import type { SecretStore } from './secrets/secretStore.ts';
import { SqliteSecretStore, type SecretStoreOptions } from './secrets/sqliteSecretStore.ts';
import type { SqliteStoreOptions } from './sqlite/checkpointer.ts';
import type { BucketStore } from './rateLimit/bucketStore.ts';
import { MemoryPresenceSessions, type PresenceSessions } from './presence/presenceSessions.ts';
import { MemoryCallGraceDeadlines, type CallGraceDeadlines } from './calls/callGraceDeadlines.ts';
import { CountingConnectionIds, InProcessClusterBus, type ClusterBus, type ConnectionIds } from './cluster/clusterBus.ts';
import type { Logger } from 'pino';

/** Where the embedded log's anchor is kept: beside it, but not in it (see src/eventstore/anchor.ts). */
export const anchorFileOf = (storageDir: string) => join(storageDir, 'events.anchor.json');

/**
 * PostgreSQL when DATABASE_URL is set, EventStoreDB when EVENTSTORE_CONNECTION_STRING is, the embedded SQLite log otherwise; with `auditAnchorKey` a
 * writer of the embedded log anchors its hash chain (`readonly`: neither anchors nor writes anything).
 */
export async function openEventStore(
  config: Pick<Config, 'eventStoreConnectionString' | 'storageDir'> & Partial<Pick<Config, 'database'>> & { auditAnchorKey?: string },
  options: Omit<SqliteEventStoreOptions, 'anchor'> = {},
): Promise<EventStore> {
  if (config.database) {
    const { PostgresEventStore } = await import('./eventstore/postgres.ts');
    return PostgresEventStore.connect(config.database);
  }
  if (config.eventStoreConnectionString) {
    const { EventStoreDbEventStore } = await import('./eventstore/eventstoredb.ts');
    return EventStoreDbEventStore.connect(config.eventStoreConnectionString);
  }
  const file = join(config.storageDir, 'events.sqlite');
  if (options.readonly) return new SqliteEventStore(file, options);
  createPrivateFile(file);
  const anchor = config.auditAnchorKey ? { file: anchorFileOf(config.storageDir), key: config.auditAnchorKey } : undefined;
  return new SqliteEventStore(file, { ...options, anchor });
}

/** PostgreSQL when DATABASE_URL is set, MongoDB when MONGO_URI is, the embedded SQLite read store otherwise. */
export async function openReadStore(
  config: Pick<Config, 'mongoUri' | 'mongoDatabase' | 'storageDir'> & Partial<Pick<Config, 'database'>>,
  options: SqliteStoreOptions = {},
): Promise<ReadStore> {
  if (config.database) {
    const { PostgresReadStore } = await import('./readstore/postgres.ts');
    return PostgresReadStore.connect(config.database);
  }
  if (config.mongoUri) {
    const { MongoReadStore } = await import('./readstore/mongo.ts');
    return MongoReadStore.connect(config.mongoUri, config.mongoDatabase);
  }
  const file = join(config.storageDir, 'read.sqlite');
  createPrivateFile(file);
  return new SqliteReadStore(file, options);
}

/**
 * Where users' sealed Gemini keys live: PostgreSQL's `secrets` table when DATABASE_URL is set (every instance reads
 * the same ones; nothing in STORAGE_DIR), `STORAGE_DIR/secrets.sqlite` otherwise (also with MONGO_URI).
 */
export async function openSecretStore(
  config: Pick<Config, 'storageDir'> & Partial<Pick<Config, 'database'>>,
  /** The server's writing connection checkpoints on a worker thread; a tool's keeps SQLite's own checkpoints. */
  options: SecretStoreOptions = {},
): Promise<SecretStore> {
  if (config.database) {
    const { PostgresSecretStore } = await import('./secrets/postgresSecretStore.ts');
    return PostgresSecretStore.connect(config.database);
  }
  return SqliteSecretStore.open(config.storageDir, undefined, options);
}

/**
 * The rate-limit buckets every instance shares: PostgreSQL's `rate_limit_buckets` with DATABASE_URL; otherwise none
 * (each process keeps its own in memory, the one budget of a single server).
 */
export async function openSharedBuckets(config: Partial<Pick<Config, 'database'>>): Promise<BucketStore | null> {
  if (!config.database) return null;
  const { PostgresBucketStore } = await import('./rateLimit/postgresBucketStore.ts');
  return PostgresBucketStore.connect(config.database);
}

/** Which sockets are open on which instance: PostgreSQL's `presence_sessions` with DATABASE_URL, this process's memory otherwise. */
export async function openPresenceSessions(config: Partial<Pick<Config, 'database'>>): Promise<PresenceSessions> {
  if (!config.database) return new MemoryPresenceSessions();
  const { PostgresPresenceSessions } = await import('./presence/postgresPresenceSessions.ts');
  return PostgresPresenceSessions.connect(config.database);
}

/** The calls' disconnect deadlines: PostgreSQL's `call_grace_deadlines` with DATABASE_URL, this process's memory otherwise. */
export async function openCallGraceDeadlines(config: Partial<Pick<Config, 'database'>>): Promise<CallGraceDeadlines> {
  if (!config.database) return new MemoryCallGraceDeadlines();
  const { PostgresCallGraceDeadlines } = await import('./calls/postgresCallGraceDeadlines.ts');
  return PostgresCallGraceDeadlines.connect(config.database);
}

/**
 * How this instance reaches the others and names its sockets: with DATABASE_URL the bus over PostgreSQL's
 * LISTEN/NOTIFY and connection ids from a sequence, unique across instances; otherwise one server alone (a counter).
 */
export async function openCluster(
  config: Partial<Pick<Config, 'database'>>,
  instanceId: string,
  logger: Logger,
): Promise<{ bus: ClusterBus; connectionIds: ConnectionIds }> {
  if (!config.database) return { bus: new InProcessClusterBus(instanceId), connectionIds: new CountingConnectionIds() };
  const { PostgresCluster } = await import('./cluster/postgresCluster.ts');
  const cluster = await PostgresCluster.connect(config.database, instanceId, logger);
  return { bus: cluster, connectionIds: cluster };
}
