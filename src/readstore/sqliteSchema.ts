import { ValidationError } from '../../commands/shared/errors.ts';
import { assertPath, getPath } from './documents.ts';
import type { Doc, Filter } from './port.ts';

/** How the embedded read store lays collections out in SQLite; shared by the store and its collections. */
export type SqlValue = string | number | null;

/** `{ _id: "..." }` alone: served by the primary key without compiling a filter. */
export const isIdOnly = (filter: Filter) => typeof filter._id === 'string' && Object.keys(filter).length === 1;

/** `{ _id: "...", _position: { $lt: n } }`: a projector's guarded write, served by the primary key. */
export function positionGuardOf(filter: Filter): number | null {
  const guard = filter._position as { $lt?: unknown } | undefined;
  if (typeof filter._id !== 'string' || Object.keys(filter).length !== 2 || !guard || typeof guard !== 'object') return null;
  return Object.keys(guard).length === 1 && typeof guard.$lt === 'number' ? guard.$lt : null;
}

export const COLLECTION_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const tableOf = (collection: string) => `c_${collection}`;
export const elementTableOf = (collection: string) => `c_${collection}__elements`;
/** The FTS5 table of a collection's full-text index (one per collection; rowids are the collection table's). */
export const ftsTableOf = (collection: string) => `c_${collection}__fts`;

export function toSql(value: unknown): SqlValue {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' || typeof value === 'number' || value === null) return value;
  throw new ValidationError('Filters compare scalars only', { value: typeof value });
}

/**
 * Indexed fields live in real columns named `"p:<path>"`, filled from the document by the adapter on every
 * write: an index on `json_extract(doc, ...)` would make SQLite parse the JSON text once per indexed field on
 * every insert and update. Other fields are read with json_extract.
 */
export const columnOf = (path: string) => `p:${assertPath(path)}`;
export const quoted = (column: string) => `"${column}"`;
export const PATH_COLUMN = /^p:(.+)$/;

export function columnValue(doc: Doc, path: string): SqlValue {
  const value = getPath(doc, path);
  if (value === undefined) return null;
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return toSql(value);
}

export interface CollectionMeta {
  /** Paths declared multikey: equality goes through the element table, which is indexed. */
  multikey: Set<string>;
  /** Paths with a scalar index, each in its own column. */
  columns: Set<string>;
  /** The path of the collection's full-text index: an insert writes its FTS5 row itself (see ensureTextIndex). */
  text: string | null;
}
