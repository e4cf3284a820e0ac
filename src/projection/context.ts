import type { RecordedEvent } from '../eventstore/port.ts';
import { isDuplicateId, type Collection, type Doc, type Filter, type ReadStore } from '../readstore/port.ts';
import type { DocReducer, ProjectedDoc, ProjectionContext, Publication } from './projector.ts';

/** A document as the batch left it: `doc` null when deleted; `dirty` until written back. */
interface Entry {
  doc: ProjectedDoc | null;
  dirty: boolean;
  /** The store holds a version of it (read, or written back): a new one is inserted, with no update tried first. */
  stored: boolean;
  /** The event whose write is pending (a deletion keeps its position here), and the projector that made it. */
  event: RecordedEvent | null;
  projector: string | null;
}

/** The runner's side of a context: whose writes these are, and writing back what the batch changed. */
export interface BatchContext extends ProjectionContext {
  /** The projector and event being applied, to name them if writing their change back fails. */
  attribute(projector: string, event: RecordedEvent): void;
  /** Writes every changed document (in the caller's transaction, before its checkpoints). */
  flush(): Promise<void>;
}

/** Writing a batch's change back failed: the projector and event that made it. */
export class WriteBackFailed extends Error {
  constructor(
    readonly projector: string,
    readonly event: RecordedEvent,
    readonly reason: unknown,
  ) {
    super(reason instanceof Error ? reason.message : String(reason));
    this.name = 'WriteBackFailed';
  }
}

/**
 * The context a projector writes through, for one batch. `rename` maps a projector's collection names to physical
 * ones, so a rebuild can write fresh collections beside the live ones and swap them in at the end.
 *
 * Documents a batch projects are kept and written back once, at its end: a conversation's summary that ten messages
 * of the batch change is read once and written once, not ten times. Reads stay exact: a read by `_id` is answered
 * from what the batch holds, and any other read or a direct write of a collection first writes that collection's
 * changes back (a direct write then drops what the batch holds of it).
 */
export function createProjectionContext(
  readStore: Pick<ReadStore, 'collection'>,
  rename: (name: string) => string = (name) => name,
  publish: (publication: Publication) => void = () => undefined,
): BatchContext {
  const store = <T extends Doc>(name: string) => readStore.collection<T>(rename(name));
  const held = new Map<string, Map<string, Entry>>();
  /** The ids each collection has dirty, in the order they became so: a write-back visits these, not all it holds. */
  const dirtyIds = new Map<string, Set<string>>();
  let current: { projector: string; event: RecordedEvent } | null = null;

  const entriesOf = (name: string) => {
    let entries = held.get(name);
    if (!entries) held.set(name, (entries = new Map<string, Entry>()));
    return entries;
  };

  async function load(name: string, id: string): Promise<ProjectedDoc | null> {
    const entries = entriesOf(name);
    const entry = entries.get(id);
    if (entry) return entry.doc;
    const doc = await store<ProjectedDoc>(name).findOne({ _id: id });
    // Looked up meanwhile by another read of the same id: that one is as new.
    if (!entries.has(id)) entries.set(id, asRead(doc));
    return entries.get(id)!.doc;
  }

  /** A collection's write-back in progress: a read waits for it, or it could query before the write lands (MongoDB). */
  const writing = new Map<string, Promise<void>>();
  function writeBack(name: string): Promise<void> {
    const previous = writing.get(name) ?? Promise.resolve();
    const next = previous.then(() => writeBackNow(name));
    writing.set(
      name,
      next.catch(() => undefined),
    );
    return next;
  }

  async function writeBackNow(name: string): Promise<void> {
    const entries = held.get(name);
    const dirty = dirtyIds.get(name);
    if (!entries || !dirty || dirty.size === 0) return;
    dirtyIds.delete(name);
    const target = store<ProjectedDoc>(name);
    for (const id of dirty) {
      const entry = entries.get(id);
      // Written meanwhile by a write-back that ran while this one waited, or dropped by a direct write.
      if (!entry?.dirty) continue;
      entry.dirty = false;
      // The position guard is in the write's filter as well: where a store has no transaction (a standalone
      // MongoDB), another writer may have applied a newer event since the read, and the older one must not win.
      const guard = { _id: id, _position: { $lt: entry.event!.position } };
      try {
        if (entry.doc === null) {
          if (entry.stored) await target.deleteOne(guard);
        } else if (entry.stored) {
          await target.replaceOne(guard, entry.doc, { upsert: true });
        } else {
          await target.insertOne(entry.doc);
        }
        entry.stored = entry.doc !== null;
      } catch (error) {
        // The upsert met this document already at or past this event: it has been applied. (A unique index on
        // other fields is a real failure, of the projector that made the change.)
        if (isDuplicateId(error)) continue;
        throw new WriteBackFailed(entry.projector ?? 'unknown', entry.event!, error);
      }
    }
  }

  async function flush(): Promise<void> {
    for (const name of held.keys()) await writeBack(name);
  }

  /** Holds the reducer's document for the batch's write-back; nothing is written here. */
  function write<T extends ProjectedDoc>(name: string, existing: T | null, id: string, event: RecordedEvent, reducer: DocReducer<T>): void {
    if (existing && existing._position >= event.position) return;
    const next = reducer(existing);
    // The reducer returned the document it was given: nothing changed, nothing to write (the recipient of a
    // direct message whose membership already exists, say).
    if (existing !== null && next === existing) return;
    if (next === null && existing === null) return;
    const entries = entriesOf(name);
    let dirty = dirtyIds.get(name);
    if (!dirty) dirtyIds.set(name, (dirty = new Set()));
    dirty.add(id);
    entries.set(id, {
      doc: next === null ? null : { ...next, _id: id, _position: event.position },
      dirty: true,
      stored: entries.get(id)?.stored ?? existing !== null,
      event,
      projector: current?.projector ?? null,
    });
  }

  const views = new Map<string, Collection<Doc>>();
  /** A collection as projectors see it mid-batch: exact reads, and direct writes that see the batch's changes. */
  function collection<T extends Doc>(name: string): Collection<T> {
    let view = views.get(name);
    if (!view) views.set(name, (view = viewOf<Doc>(name)));
    // One view per name for the batch, typed as the projector reads it (Collection<Doc>'s methods take any document).
    return view as Collection<T>;
  }

  /** Several documents by `_id`, as `load` reads one: one query for those the batch does not hold yet. */
  async function loadMany(name: string, ids: readonly string[]): Promise<ProjectedDoc[]> {
    const entries = entriesOf(name);
    const missing = [...new Set(ids.filter((id) => !entries.has(id)))];
    if (missing.length > 0) {
      const found = new Map((await store<ProjectedDoc>(name).find({ _id: { $in: missing } })).map((doc) => [doc._id, doc]));
      for (const id of missing) {
        const doc = found.get(id) ?? null;
        if (!entries.has(id)) entries.set(id, asRead(doc));
      }
    }
    return [...new Set(ids)].flatMap((id) => {
      const doc = entries.get(id)!.doc;
      return doc === null ? [] : [doc];
    });
  }

  function viewOf<T extends Doc>(name: string): Collection<T> {
    const target = store<T>(name);
    const written = async <R>(fn: () => Promise<R>): Promise<R> => {
      await writeBack(name);
      const result = await fn();
      held.delete(name);
      dirtyIds.delete(name);
      return result;
    };
    const read = async <R>(fn: () => Promise<R>): Promise<R> => {
      await writeBack(name);
      return fn();
    };
    return {
      name: target.name,
      findOne: (filter) =>
        typeof filter._id === 'string' && Object.keys(filter).length === 1
          ? (load(name, filter._id) as Promise<T | null>)
          : read(() => target.findOne(filter)),
      find: (filter, options) => {
        const ids = idsOnly(filter);
        return ids && options === undefined
          ? (loadMany(name, ids) as Promise<unknown> as Promise<T[]>)
          : read(() => target.find(filter, options));
      },
      countDocuments: (filter, options) => read(() => target.countDocuments(filter, options)),
      insertOne: (doc) => written(() => target.insertOne(doc)),
      replaceOne: (filter, doc, options) => written(() => target.replaceOne(filter, doc, options)),
      updateOne: (filter, update, options) => written(() => target.updateOne(filter, update, options)),
      updateMany: (filter, update) => written(() => target.updateMany(filter, update)),
      deleteOne: (filter) => written(() => target.deleteOne(filter)),
      deleteMany: (filter) => written(() => target.deleteMany(filter)),
    };
  }

  return {
    publish,
    collection,
    attribute(projector, event) {
      current = { projector, event };
    },
    flush,
    async project(name, id, event, reducer) {
      write(name, (await load(name, id)) as never, id, event, reducer);
    },
    async projectMany(name, filter, event, reducer) {
      await writeBack(name);
      const docs = await store<ProjectedDoc>(name).find(filter as Filter);
      const entries = entriesOf(name);
      for (const doc of docs) {
        entries.set(doc._id, asRead(doc));
        write(name, doc, doc._id, event, reducer as DocReducer<ProjectedDoc>);
      }
    },
  };
}

/** A document as the store answered it (null: absent), held unchanged. */
const asRead = (doc: ProjectedDoc | null): Entry => ({ doc, dirty: false, stored: doc !== null, event: null, projector: null });

/** The ids of a filter that is exactly `{ _id: { $in: [...] } }` (answered from the batch), else null. */
function idsOnly(filter: Filter): readonly string[] | null {
  const keys = Object.keys(filter);
  if (keys.length !== 1 || keys[0] !== '_id') return null;
  const condition = filter._id as { $in?: unknown } | null;
  if (condition === null || typeof condition !== 'object' || Object.keys(condition).length !== 1) return null;
  const ids = condition.$in;
  return Array.isArray(ids) && ids.every((id) => typeof id === 'string') ? ids : null;
}
