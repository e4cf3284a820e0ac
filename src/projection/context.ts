import type { RecordedEvent } from '../eventstore/port.ts';
import { isDuplicateId, type Doc, type Filter, type ReadStore } from '../readstore/port.ts';
import type { DocReducer, ProjectedDoc, ProjectionContext, Publication } from './projector.ts';

/**
 * The context a projector writes through. `rename` maps a projector's collection names to physical ones,
 * so a rebuild can write fresh collections beside the live ones and swap them in at the end.
 */
export function createProjectionContext(
  readStore: Pick<ReadStore, 'collection'>,
  rename: (name: string) => string = (name) => name,
  publish: (publication: Publication) => void = () => undefined,
): ProjectionContext {
  const collection = <T extends Doc>(name: string) => readStore.collection<T>(rename(name));

  async function write<T extends ProjectedDoc>(name: string, current: T | null, id: string, event: RecordedEvent,
    reducer: DocReducer<T>): Promise<void> {
    if (current && current._position >= event.position) return;
    const next = reducer(current);
    // The reducer returned the document it was given: nothing changed, nothing to write (the recipient of a
    // direct message whose membership already exists, say).
    if (current !== null && next === current) return;
    const target = collection<T>(name);
    // The position guard is in the write's filter as well: where a store has no transaction (a standalone
    // MongoDB), another writer may have applied a newer event since the read, and the older one must not win.
    const guard = { _id: id, _position: { $lt: event.position } };
    if (next === null) {
      if (current) await target.deleteOne(guard);
      return;
    }
    try {
      await target.replaceOne(guard, { ...next, _id: id, _position: event.position } as T, { upsert: true });
    } catch (error) {
      // The upsert met this document already at or past this event: it has been applied. (A unique index on
      // other fields is a real failure and is thrown.)
      if (!isDuplicateId(error)) throw error;
    }
  }

  return {
    publish,
    collection,
    async project(name, id, event, reducer) {
      const current = await collection<never>(name).findOne({ _id: id });
      await write(name, current, id, event, reducer);
    },
    async projectMany(name, filter, event, reducer) {
      const docs = await collection<never>(name).find(filter as Filter);
      for (const doc of docs as ProjectedDoc[]) await write(name, doc, doc._id, event, reducer as DocReducer<ProjectedDoc>);
    },
  };
}
