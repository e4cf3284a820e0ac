import { ValidationError } from '../../commands/shared/errors.ts';
import { assertPath, seedFromFilter } from './documents.ts';
import type { Doc, Filter, FindOptions, IndexSpec, SortSpec, Update } from './port.ts';
import { COLLECTION_NAME } from './sqliteSchema.ts';

/**
 * What the read store port lets through to MongoDB, checked before anything reaches the driver. MongoDB would
 * interpret more than the port defines (`$where`, `$expr`, `$regex`, operator-shaped values, dotted keys in stored
 * documents); the embedded adapter refuses all of that, so this module refuses it too, with a ValidationError,
 * and both adapters answer the same input the same way. Pure: no driver, no I/O.
 *
 * Accepted: filters with `$and`/`$or` (non-empty arrays of filters) and field paths mapping to a scalar or to
 * `$eq $ne $gt $gte $lt $lte $in $nin $exists`; updates with `$set $unset $inc $push $pull $addToSet
 * $setOnInsert`, `$each` inside `$push`/`$addToSet` and `$in` inside `$pull`; sorts of `1 | -1`. Field paths match
 * `assertPath` (letters, digits, `_`, dot-separated). Stored values are JSON-shaped: finite numbers, strings,
 * booleans, null, arrays and plain objects whose keys have no `.`, `$` or NUL.
 */

/** MongoDB refuses documents nested deeper than this; refusing here keeps it a 400 and bounds the recursion. */
const MAX_DEPTH = 100;

const COMPARISONS = new Set(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte']);
const UPDATE_OPERATORS = new Set(['$set', '$unset', '$inc', '$push', '$pull', '$addToSet', '$setOnInsert']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** The port's Scalar. Non-finite numbers are refused: SQLite's JSON turns them into null, BSON keeps them. */
const isScalar = (value: unknown): value is string | number | boolean | null =>
  value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));

function checkDepth(depth: number): void {
  if (depth > MAX_DEPTH) throw new ValidationError(`Input nested deeper than ${MAX_DEPTH} levels`);
}

export function assertCollectionName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !COLLECTION_NAME.test(name)) throw new ValidationError(`Invalid collection name ${String(name)}`);
}

/** A filter: `$and`/`$or` of filters, and field paths compared to scalars. Undefined conditions are ignored, as by the embedded adapter. */
export function assertSafeFilter(filter: unknown): asserts filter is Filter {
  checkFilter(filter, 0);
}

function checkFilter(filter: unknown, depth: number): void {
  checkDepth(depth);
  if (!isPlainObject(filter)) throw new ValidationError('A filter is an object of field conditions');
  for (const [key, condition] of Object.entries(filter)) {
    if (condition === undefined) continue;
    if (key === '$and' || key === '$or') {
      // MongoDB refuses an empty $and/$or; refusing it here makes that a 400 on both adapters' callers.
      if (!Array.isArray(condition) || condition.length === 0) throw new ValidationError(`${key} takes a non-empty array of filters`);
      for (const sub of condition) checkFilter(sub, depth + 1);
      continue;
    }
    if (key.startsWith('$')) throw new ValidationError(`Unsupported filter operator ${key}`, { operator: key });
    assertPath(key);
    checkCondition(key, condition);
  }
}

function checkCondition(path: string, condition: unknown): void {
  if (isScalar(condition)) return;
  if (!isPlainObject(condition)) throw new ValidationError(`Filters compare scalars only, at ${path}`, { path });
  const operators = Object.keys(condition);
  if (operators.length === 0 || operators.some((operator) => !operator.startsWith('$'))) {
    throw new ValidationError(`Filters compare scalars only (use a dotted path for a nested field), at ${path}`, { path });
  }
  for (const [operator, operand] of Object.entries(condition)) {
    if (COMPARISONS.has(operator)) {
      if (!isScalar(operand)) throw new ValidationError(`${operator} takes a scalar, at ${path}`, { path, operator });
    } else if (operator === '$in' || operator === '$nin') {
      if (!Array.isArray(operand) || !operand.every(isScalar))
        throw new ValidationError(`${operator} takes an array of scalars, at ${path}`, { path, operator });
    } else if (operator === '$exists') {
      if (typeof operand !== 'boolean') throw new ValidationError(`$exists takes a boolean, at ${path}`, { path, operator });
    } else {
      throw new ValidationError(`Unsupported filter operator ${operator}`, { path, operator });
    }
  }
}

/**
 * An update: only the port's operators, safe paths, no two paths that overlap (MongoDB refuses `a` with `a.b`,
 * or one path under two operators, where the embedded adapter would apply them in turn), `$inc` by finite
 * numbers, and stored values JSON-shaped.
 */
export function assertSafeUpdate(update: unknown): asserts update is Update {
  if (!isPlainObject(update)) throw new ValidationError('An update is an object of update operators');
  const paths: string[] = [];
  for (const [operator, fields] of Object.entries(update)) {
    if (fields === undefined) continue;
    if (!UPDATE_OPERATORS.has(operator)) throw new ValidationError(`Unsupported update operator ${operator}`, { operator });
    if (!isPlainObject(fields)) throw new ValidationError(`${operator} takes an object of field paths`, { operator });
    for (const [path, value] of Object.entries(fields)) {
      assertPath(path);
      paths.push(path);
      switch (operator) {
        case '$inc':
          if (typeof value !== 'number' || !Number.isFinite(value))
            throw new ValidationError(`$inc needs a finite number at ${path}`, { path });
          break;
        case '$push':
        case '$addToSet':
          checkEach(operator, path, value);
          break;
        case '$pull':
          checkPullCondition(path, value);
          break;
        default:
          checkValue(value, path, 1);
      }
    }
  }
  if (paths.length === 0) throw new ValidationError('An update needs at least one operator with a field');
  assertNoOverlap(paths);
}

function assertNoOverlap(paths: readonly string[]): void {
  const sorted = [...paths].sort();
  for (let i = 1; i < sorted.length; i++) {
    const [before, path] = [sorted[i - 1]!, sorted[i]!];
    if (path === before || path.startsWith(`${before}.`)) {
      throw new ValidationError(`Update paths ${before} and ${path} conflict`, { paths: [before, path] });
    }
  }
}

/** `$push`/`$addToSet` take a value or `{ $each: [...] }` (no other modifier). */
function checkEach(operator: string, path: string, value: unknown): void {
  if (isPlainObject(value) && '$each' in value) {
    if (Object.keys(value).length !== 1 || !Array.isArray(value.$each)) {
      throw new ValidationError(`${operator} takes a value or { $each: [...] } alone, at ${path}`, { path });
    }
    for (const item of value.$each) checkValue(item, path, 2);
    return;
  }
  checkValue(value, path, 1);
}

/** `$pull` takes a value, `{ $in: [...] }`, or a sub-document of fields the element must equal. */
function checkPullCondition(path: string, value: unknown): void {
  if (isPlainObject(value) && '$in' in value) {
    if (Object.keys(value).length !== 1 || !Array.isArray(value.$in)) {
      throw new ValidationError(`$pull takes a value, { $in: [...] } alone, or fields to match, at ${path}`, { path });
    }
    for (const item of value.$in) checkValue(item, path, 2);
    return;
  }
  // Any other `$` key (a query operator for MongoDB) is refused as a stored-value key.
  checkValue(value, path, 1);
}

/** Stored data: JSON-shaped, keys free of `.`, `$` and NUL, at most MAX_DEPTH levels. */
function checkValue(value: unknown, path: string, depth: number): void {
  checkDepth(depth);
  // Undefined is dropped from objects (JSON.stringify; the Mongo client is set to ignoreUndefined).
  if (value === undefined || isScalar(value)) return;
  if (Array.isArray(value)) {
    for (const item of value) checkValue(item, path, depth + 1);
    return;
  }
  if (!isPlainObject(value))
    throw new ValidationError(`Unsupported value at ${path || 'the document root'}: only JSON-shaped data is stored`, { path });
  for (const [key, item] of Object.entries(value)) {
    if (/[.$\0]/.test(key)) throw new ValidationError(`Field names cannot contain ".", "$" or NUL: ${JSON.stringify(key)}`, { path, key });
    checkValue(item, path ? `${path}.${key}` : key, depth + 1);
  }
}

/** A document to insert or replace with: a non-empty string `_id` and JSON-shaped data. */
export function assertSafeDocument(doc: unknown): asserts doc is Doc {
  if (!isPlainObject(doc)) throw new ValidationError('A document is an object');
  if (typeof doc._id !== 'string' || doc._id.length === 0) throw new ValidationError('Documents need a string _id');
  checkValue(doc, '', 0);
}

/**
 * An upsert must name the document's `_id` in its filter (top level, by equality), as on the embedded adapter;
 * MongoDB would otherwise invent an ObjectId, and the port's ids are strings.
 */
export function assertUpsertFilter(filter: Filter): void {
  if (typeof seedFromFilter(filter)._id !== 'string') throw new ValidationError('An upsert filter must name the _id');
}

export function assertSafeSort(sort: unknown): asserts sort is SortSpec {
  if (!isPlainObject(sort)) throw new ValidationError('A sort is an object of field paths to 1 or -1');
  for (const [path, direction] of Object.entries(sort)) {
    assertPath(path);
    if (direction !== 1 && direction !== -1) throw new ValidationError(`Sort direction must be 1 or -1, at ${path}`, { path });
  }
}

const isCount = (value: unknown) => value === undefined || (Number.isSafeInteger(value) && (value as number) >= 0);

/** Sort as above; limit and skip whole numbers (MongoDB reads a negative limit as "one batch", SQLite as "no limit"). */
export function assertSafeFindOptions(options: unknown): asserts options is FindOptions {
  if (!isPlainObject(options)) throw new ValidationError('Find options are an object');
  if (options.sort !== undefined) assertSafeSort(options.sort);
  if (!isCount(options.limit)) throw new ValidationError('limit must be a whole number >= 0');
  if (!isCount(options.skip)) throw new ValidationError('skip must be a whole number >= 0');
}

/** Index keys as sorts; a multikey index has one field and is not unique, as the embedded adapter requires. */
export function assertSafeIndexes(indexes: unknown): asserts indexes is IndexSpec[] {
  if (!Array.isArray(indexes)) throw new ValidationError('Indexes are an array of index specs');
  for (const index of indexes) {
    if (!isPlainObject(index)) throw new ValidationError('An index spec is an object');
    assertSafeSort(index.key);
    const paths = Object.keys(index.key);
    if (paths.length === 0) throw new ValidationError('An index names at least one field');
    if (index.multikey && (paths.length !== 1 || index.unique))
      throw new ValidationError('A multikey index has one field and is not unique');
    if (index.text && (paths.length !== 1 || index.unique || index.multikey))
      throw new ValidationError('A text index has one field and nothing else');
  }
}
