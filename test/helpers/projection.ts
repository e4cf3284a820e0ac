import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pino } from 'pino';
import { eventUpcaster } from '../../commands/upcasters.ts';
import type { RecordedEvent } from '../../src/eventstore/port.ts';
import { applyInOrder } from '../../src/projection/applyInOrder.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { rebuildProjections } from '../../src/projection/rebuild.ts';
import { CHECKPOINTS, ProjectionRunner } from '../../src/projection/runner.ts';
import { createProjectionContext } from '../../src/projection/context.ts';
import type { Projector } from '../../src/projection/projector.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { tempDir } from './app.ts';

let position = 0;

/** A recorded event as the store would hand it to a projector, at the next position. */
export function recorded<E extends { type: string; data: unknown }>(event: E, userId: string | null = null): RecordedEvent {
  position++;
  return {
    stream: 'test',
    revision: position,
    position,
    type: event.type,
    data: event.data,
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
  for (const projector of all)
    for (const [name, indexes] of Object.entries(projector.collections)) await store.ensureIndexes(name, indexes);
  return store;
}

export interface RebuildComparison {
  /** Documents after projecting the events one batch per event, as a live server does. */
  incremental: Record<string, unknown[]>;
  /** Documents after `rebuildProjections` (fresh collections, swap, checkpoints) over the same log. */
  rebuilt: Record<string, unknown[]>;
  checkpoints: unknown[];
  head: number;
}

/**
 * Stores the events in a real embedded event store, projects them incrementally with the runner, then rebuilds
 * every projector through the operator's rebuild, and returns both sets of documents.
 */
export async function incrementalThenRebuilt(
  all: readonly Projector[],
  events: ReadonlyArray<{ type: string; data: unknown }>,
  collections: readonly string[],
): Promise<RebuildComparison> {
  const dir = tempDir('letsapp-rebuild-');
  const eventStore = new SqliteEventStore(join(dir, 'events.sqlite'));
  const readStore = new SqliteReadStore(join(dir, 'read.sqlite'));
  const snapshot = async () =>
    Object.fromEntries(await Promise.all(collections.map(async (name) => [name, await documents(readStore, name)] as const)));
  try {
    const runner = new ProjectionRunner(eventStore, readStore, all, eventUpcaster, pino({ level: 'silent' }));
    await runner.start();
    for (const [index, event] of events.entries()) {
      const { position } = await eventStore.append(
        `test-${index}`,
        [
          {
            ...event,
            metadata: {
              eventId: randomUUID(),
              correlationId: 'c',
              causationId: 'c',
              userId: null,
              timestamp: '2026-01-01T00:00:00.000Z',
            },
          },
        ],
        'no-stream',
      );
      await runner.waitFor(position);
    }
    await runner.stop();
    const incremental = await snapshot();
    await rebuildProjections({ eventStore, readStore, projectors: all, upcaster: eventUpcaster, batchSize: 3 });
    return {
      incremental,
      rebuilt: await snapshot(),
      head: await eventStore.headPosition(),
      checkpoints: await readStore.collection(CHECKPOINTS).find({}, { sort: { _id: 1 } }),
    };
  } finally {
    await eventStore.close();
    await readStore.close();
  }
}
