import type { RecordedEvent } from '../eventstore/port.ts';
import type { Collection, Doc, IndexSpec } from '../readstore/port.ts';

/** Every projected document remembers the position of the newest event applied to it. */
export interface ProjectedDoc extends Doc {
  _position: number;
}

/**
 * Given the current document (or null) and an event, the next document (or null to delete it).
 * Pure: the runtime loads, skips events the document has already seen, and writes.
 */
export type DocReducer<T extends ProjectedDoc> = (doc: T | null) => Omit<T, '_position'> | null;

export interface ProjectionContext {
  collection<T extends Doc>(name: string): Collection<T>;
  /** Applies `reducer` to one document unless it has already seen this event: idempotent by construction. */
  project<T extends ProjectedDoc>(collection: string, id: string, event: RecordedEvent, reducer: DocReducer<T>): Promise<void>;
  /** The same for every document matching `filter`. */
  projectMany<T extends ProjectedDoc>(
    collection: string, filter: Record<string, unknown>, event: RecordedEvent, reducer: DocReducer<T>): Promise<void>;
}

/** One projector per read collection: it names its indexes and the events it handles. */
export interface Projector {
  readonly name: string;
  readonly collections: Readonly<Record<string, readonly IndexSpec[]>>;
  readonly handles: ReadonlySet<string>;
  apply(event: RecordedEvent, context: ProjectionContext): Promise<void>;
}
