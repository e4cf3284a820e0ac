import { ValidationError } from '../../commands/shared/errors.ts';
import type { Doc, Filter, Update } from './port.ts';

/**
 * MongoDB update semantics applied to a plain document, for the embedded adapter. Pure: returns a new doc.
 */
const SAFE_PATH = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/;

export function assertPath(path: string): string {
  if (!SAFE_PATH.test(path)) throw new ValidationError(`Invalid field path: ${path}`, { path });
  return path;
}

export function getPath(doc: unknown, path: string): unknown {
  let current: unknown = doc;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function parentOf(doc: Record<string, unknown>, path: string): [Record<string, unknown>, string] {
  const parts = assertPath(path).split('.');
  let current = doc;
  for (const part of parts.slice(0, -1)) {
    const next = current[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) current[part] = {};
    current = current[part] as Record<string, unknown>;
  }
  return [current, parts[parts.length - 1]!];
}

function setPath(doc: Record<string, unknown>, path: string, value: unknown): void {
  const [parent, key] = parentOf(doc, path);
  parent[key] = value;
}

function unsetPath(doc: Record<string, unknown>, path: string): void {
  const [parent, key] = parentOf(doc, path);
  delete parent[key];
}

const sameValue = (a: unknown, b: unknown): boolean =>
  a === b || (typeof a === 'object' && a !== null && JSON.stringify(a) === JSON.stringify(b));

function arrayAt(doc: Record<string, unknown>, path: string): unknown[] {
  const value = getPath(doc, path);
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ValidationError(`Field ${path} is not an array`, { path });
  return [...(value as unknown[])];
}

/** `{ $each: [...] }` or a single value, as in MongoDB's $push / $addToSet. */
const eachOf = (value: unknown): unknown[] =>
  value !== null && typeof value === 'object' && '$each' in value && Array.isArray(value.$each)
    ? (value as { $each: unknown[] }).$each
    : [value];

export function applyUpdate<T extends Doc>(original: T, update: Update, inserting = false): T {
  const doc = structuredClone(original) as Record<string, unknown>;
  for (const [operator, fields] of Object.entries(update)) {
    if (fields === undefined) continue;
    for (const [path, value] of Object.entries(fields as Record<string, unknown>)) {
      switch (operator) {
        case '$set':
          setPath(doc, path, value);
          break;
        case '$setOnInsert':
          if (inserting) setPath(doc, path, value);
          break;
        case '$unset':
          unsetPath(doc, path);
          break;
        case '$inc': {
          const current = getPath(doc, path) ?? 0;
          if (typeof current !== 'number' || typeof value !== 'number') {
            throw new ValidationError(`$inc needs numbers at ${path}`, { path });
          }
          setPath(doc, path, current + value);
          break;
        }
        case '$push':
          setPath(doc, path, [...arrayAt(doc, path), ...eachOf(value)]);
          break;
        case '$addToSet': {
          const items = arrayAt(doc, path);
          for (const item of eachOf(value)) if (!items.some((existing) => sameValue(existing, item))) items.push(item);
          setPath(doc, path, items);
          break;
        }
        case '$pull': {
          const items = arrayAt(doc, path).filter((item) => !pullMatches(item, value));
          setPath(doc, path, items);
          break;
        }
        default:
          throw new ValidationError(`Unsupported update operator ${operator}`);
      }
    }
  }
  if (doc._id !== original._id) throw new ValidationError('_id cannot be changed');
  return doc as T;
}

/** $pull takes a value, `{ $in: [...] }`, or a sub-document of fields the element must equal. */
function pullMatches(item: unknown, condition: unknown): boolean {
  if (condition !== null && typeof condition === 'object' && !Array.isArray(condition)) {
    const entries = Object.entries(condition);
    if (entries.length === 1 && entries[0]![0] === '$in') {
      return (entries[0]![1] as unknown[]).some((candidate) => sameValue(item, candidate));
    }
    if (item === null || typeof item !== 'object') return false;
    return entries.every(([key, expected]) => sameValue((item as Record<string, unknown>)[key], expected));
  }
  return sameValue(item, condition);
}

/** The document an upsert starts from: the filter's top-level equality fields. */
export function seedFromFilter(filter: Filter): Doc {
  const seed: Record<string, unknown> = {};
  for (const [path, condition] of Object.entries(filter)) {
    if (path.startsWith('$')) continue;
    if (condition !== null && typeof condition === 'object') {
      if ('$eq' in condition) setPath(seed, path, (condition as { $eq: unknown }).$eq);
      continue;
    }
    setPath(seed, path, condition);
  }
  return seed as Doc;
}
