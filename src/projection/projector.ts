import type { RecordedEvent } from '../eventstore/port.ts';
import type { Collection, Doc, IndexSpec } from '../readstore/port.ts';

/** The collection of every projector's checkpoint: `{ _id: projector, position, version }`. */
export const CHECKPOINTS = '_checkpoints';

/** Every projected document remembers the position of the newest event applied to it. */
export interface ProjectedDoc extends Doc {
  _position: number;
}

/**
 * Given the current document (or null) and an event, the next document (or null to delete it).
 * Pure: the runtime loads, skips events the document has already seen, and writes.
 */
export type DocReducer<T extends ProjectedDoc> = (doc: T | null) => Unpositioned<T> | null;

/** A document without its `_position` (which the runtime sets); keeps named fields, unlike `Omit` on `Doc`. */
export type Unpositioned<T> = { [K in keyof T as K extends '_position' ? never : K]: T[K] } & { _position?: number };

/** A live update for some users, published by a projector and delivered once its batch has committed. */
export interface Publication {
  readonly userIds: readonly string[];
  readonly position: number;
  /** The frame, serialized once for every recipient. */
  readonly bytes: string;
  /** A call starting or stopping to ring: a device already ringing for another call is not rung again. */
  readonly ring?: { readonly callId: string; readonly state: 'start' | 'stop' };
}

export interface ProjectionContext {
  /** Queues a live update; dropped if the batch fails, never sent before it commits. Rebuilds publish nothing. */
  publish(publication: Publication): void;
  collection<T extends Doc>(name: string): Collection<T>;
  /** Applies `reducer` to one document unless it has already seen this event: idempotent by construction. */
  project<T extends ProjectedDoc>(collection: string, id: string, event: RecordedEvent, reducer: DocReducer<T>): Promise<void>;
  /** The same for every document matching `filter`. */
  projectMany<T extends ProjectedDoc>(
    collection: string,
    filter: Record<string, unknown>,
    event: RecordedEvent,
    reducer: DocReducer<T>,
  ): Promise<void>;
}

/** One projector per read collection: it names its indexes and the events it handles. */
export interface Projector {
  readonly name: string;
  readonly collections: Readonly<Record<string, readonly IndexSpec[]>>;
  /** Other projectors' collections this one reads while applying an event (as of that event). */
  readonly reads?: readonly string[];
  /**
   * The shape of the documents it writes (1 when absent). Raise it when that shape changes: a server that finds
   * collections written by another version rebuilds them from the log before it serves.
   */
  readonly version?: number;
  readonly handles: ReadonlySet<string>;
  apply(event: RecordedEvent, context: ProjectionContext): Promise<void>;
}
