import { join } from 'node:path';
import { createPrivateFile, type Config } from './config.ts';
import type { EventStore } from './eventstore/port.ts';
import { SqliteEventStore } from './eventstore/sqlite.ts';
import type { ReadStore } from './readstore/port.ts';
import { SqliteReadStore } from './readstore/sqlite.ts';
import type { SqliteStoreOptions } from './sqlite/checkpointer.ts';

/** EventStoreDB when EVENTSTORE_CONNECTION_STRING is set, the embedded SQLite log otherwise. */
export async function openEventStore(config: Pick<Config, 'eventStoreConnectionString' | 'storageDir'>, options: SqliteStoreOptions = {}): Promise<EventStore> {
  if (config.eventStoreConnectionString) {
    const { EventStoreDbEventStore } = await import('./eventstore/eventstoredb.ts');
    return EventStoreDbEventStore.connect(config.eventStoreConnectionString);
  }
  const file = join(config.storageDir, 'events.sqlite');
  createPrivateFile(file);
  return new SqliteEventStore(file, options);
}

/** MongoDB when MONGO_URI is set, the embedded SQLite read store otherwise. */
export async function openReadStore(config: Pick<Config, 'mongoUri' | 'mongoDatabase' | 'storageDir'>, options: SqliteStoreOptions = {}): Promise<ReadStore> {
  if (config.mongoUri) {
    const { MongoReadStore } = await import('./readstore/mongo.ts');
    return MongoReadStore.connect(config.mongoUri, config.mongoDatabase);
  }
  const file = join(config.storageDir, 'read.sqlite');
  createPrivateFile(file);
  return new SqliteReadStore(file, options);
}
