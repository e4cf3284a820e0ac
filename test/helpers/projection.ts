import { join } from 'node:path';
import { eventUpcaster } from '../../commands/upcasters.ts';
import type { RecordedEvent } from '../../src/eventstore/port.ts';
import { applyInOrder } from '../../src/projection/applyInOrder.ts';
import { createProjectionContext } from '../../src/projection/context.ts';
import type { Projector } from '../../src/projection/projector.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { tempDir } from './app.ts';

let position = 0;

/** A recorded event as the store would hand it to a projector, at the next position. */
export function recorded<E extends { type: string; data: unknown }>(event: E, userId: string | null = null): RecordedEvent {
  position++;
  return {
    stream: 'test', revision: position, position, type: event.type, data: event.data,
    metadata: { eventId: `e${position}`, correlationId: 'c', causationId: 'c', userId, timestamp: '2026-01-01T00:00:00.000Z' },
  };
}

export async function freshReadStore(projector: Projector): Promise<SqliteReadStore> {
  const store = new SqliteReadStore(join(tempDir('letsapp-projection-'), 'read.sqlite'));
  for (const [name, indexes] of Object.entries(projector.collections)) await store.ensureIndexes(name, indexes);
  return store;
}

/** Given history: applies each event through the projector, as the runner does. */
export async function project(store: SqliteReadStore, projector: Projector, events: readonly RecordedEvent[]): Promise<void> {
  await applyInOrder(events, [projector], createProjectionContext(store), eventUpcaster);
}

export async function documents(store: SqliteReadStore, collection: string) {
  return store.collection(collection).find({}, { sort: { _id: 1 } });
}

/** Applies events event by event across projectors, in the runner's order. */
export async function projectAll(store: SqliteReadStore, all: readonly Projector[], events: readonly RecordedEvent[]): Promise<void> {
  await applyInOrder(events, all, createProjectionContext(store), eventUpcaster);
}

export async function freshReadStoreFor(all: readonly Projector[]): Promise<SqliteReadStore> {
  const store = new SqliteReadStore(join(tempDir('letsapp-projection-'), 'read.sqlite'));
  for (const projector of all) for (const [name, indexes] of Object.entries(projector.collections)) await store.ensureIndexes(name, indexes);
  return store;
}
