import { ValidationError } from '../../commands/shared/errors.ts';
import { assertPath } from './documents.ts';
import type { FieldOperators, Filter, SortSpec, Update } from './port.ts';

/**
 * Compiles the read store port's filters, updates and sorts to parameterized PostgreSQL over a `doc jsonb` column
 * (and the `id` text column for `_id`). Field paths are checked by assertPath (letters, digits, `_`, dots) and written
 * as literals, so the expressions match the declared indexes; every value is a parameter. Pure: no I/O.
 */
export interface IndexedPaths {
  /** Paths with a btree expression index: equality is plain jsonb equality (no array-element match), as on SQLite. */
  readonly scalar: ReadonlySet<string>;
  /** Paths with a GIN index over their elements: equality and $in are containment. */
  readonly multikey: ReadonlySet<string>;
}

/** Collects parameters and hands out their `$n` placeholders. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast = ''): string {
    this.values.push(value);
    return `$${this.values.length}${cast}`;
  }
}

const pathLiteral = (path: string) => `'{${assertPath(path).split('.').join(',')}}'`;

/** The jsonb value at a path (SQL NULL when missing). The same text is used by the index definitions. */
export const fieldSql = (path: string) => `(doc #> ${pathLiteral(path)})`;

/**
 * The `tsvector` of a text field, as the full-text index is defined and queried ('simple': no stemming nor stop words,
 * like the embedded store's FTS5; unaccent is an extension, so accents are not folded here).
 */
export const textVectorSql = (path: string) => `to_tsvector('simple'::regconfig, coalesce(doc #>> ${pathLiteral(path)}, ''))`;
export const textFieldSql = (path: string) => `(doc #>> ${pathLiteral(path)})`;

/** A field as an array of its elements (a scalar as a one-element array): what a multikey GIN index covers. */
export const elementsSql = (path: string) => {
  const field = fieldSql(path);
  // `'[]' || scalar` wraps it; jsonb_build_array would too, but it is not IMMUTABLE, which an index expression must be.
  return `(CASE WHEN jsonb_typeof(${field}) = 'array' THEN ${field} ELSE '[]'::jsonb || ${field} END)`;
};

type Scalar = string | number | boolean | null;

const json = (value: unknown) => JSON.stringify(value);

const jsonType = (value: Scalar) =>
  value === null ? 'null' : typeof value === 'string' ? 'string' : typeof value === 'number' ? 'number' : 'boolean';

function isOperators(condition: unknown): condition is FieldOperators {
  return (
    condition !== null &&
    typeof condition === 'object' &&
    !Array.isArray(condition) &&
    Object.keys(condition).every((key) => key.startsWith('$'))
  );
}

/** A WHERE clause for `filter`. */
export function compileFilter(filter: Filter, indexed: IndexedPaths, params: Params): string {
  const clauses: string[] = [];
  for (const [path, condition] of Object.entries(filter)) {
    if (condition === undefined) continue;
    if (path === '$and' || path === '$or') {
      const parts = (condition as Filter[]).map((sub) => `(${compileFilter(sub, indexed, params)})`);
      clauses.push(parts.length === 0 ? (path === '$and' ? 'TRUE' : 'FALSE') : `(${parts.join(path === '$and' ? ' AND ' : ' OR ')})`);
      continue;
    }
    if (path.startsWith('$')) throw new ValidationError(`Unsupported filter operator ${path}`);
    if (!isOperators(condition)) {
      clauses.push(equals(path, condition as Scalar, indexed, params));
      continue;
    }
    for (const [operator, operand] of Object.entries(condition)) clauses.push(compare(path, operator, operand, indexed, params));
  }
  return clauses.length === 0 ? 'TRUE' : clauses.join(' AND ');
}

function equals(path: string, value: Scalar, indexed: IndexedPaths, params: Params): string {
  if (path === '_id') return typeof value === 'string' ? `id = ${params.add(value)}` : 'FALSE';
  const field = fieldSql(path);
  if (value === null) return `(${field} IS NULL OR ${field} = 'null'::jsonb)`;
  if (indexed.multikey.has(path)) return `${elementsSql(path)} @> ${params.add(json([value]), '::jsonb')}`;
  if (indexed.scalar.has(path)) return `${field} = ${params.add(json(value), '::jsonb')}`;
  // Unindexed: a scalar equal to the value, or an array holding it (MongoDB's and the embedded store's meaning).
  return `(${field} = ${params.add(json(value), '::jsonb')} OR (jsonb_typeof(${field}) = 'array' AND ${field} @> ${params.add(json([value]), '::jsonb')}))`;
}

function anyOf(path: string, values: readonly Scalar[], indexed: IndexedPaths, params: Params): string {
  if (values.length === 0) return 'FALSE';
  if (path === '_id') {
    const ids = values.filter((value): value is string => typeof value === 'string');
    return ids.length === 0 ? 'FALSE' : `id = ANY(${params.add(ids, '::text[]')})`;
  }
  const field = fieldSql(path);
  const present = values.filter((value) => value !== null);
  const clauses: string[] = [];
  if (present.length > 0) {
    clauses.push(
      indexed.multikey.has(path)
        ? present.map((value) => `${elementsSql(path)} @> ${params.add(json([value]), '::jsonb')}`).join(' OR ')
        : `${field} = ANY(${params.add(present.map(json), '::jsonb[]')})`,
    );
  }
  if (present.length < values.length) clauses.push(`${field} IS NULL OR ${field} = 'null'::jsonb`);
  return `(${clauses.join(' OR ')})`;
}

function compare(path: string, operator: string, operand: unknown, indexed: IndexedPaths, params: Params): string {
  switch (operator) {
    case '$eq':
      return equals(path, operand as Scalar, indexed, params);
    // A missing field is "not equal", as in MongoDB.
    case '$ne':
      return `NOT COALESCE((${equals(path, operand as Scalar, indexed, params)}), FALSE)`;
    case '$in':
    case '$nin': {
      if (!Array.isArray(operand)) throw new ValidationError(`${operator} takes an array`, { path });
      const inList = anyOf(path, operand as Scalar[], indexed, params);
      return operator === '$in' ? inList : `NOT COALESCE(${inList}, FALSE)`;
    }
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte': {
      const sign = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' }[operator];
      const value = operand as Scalar;
      if (path === '_id') return typeof value === 'string' ? `id ${sign} ${params.add(value)}` : 'FALSE';
      // Compared within one JSON type only (MongoDB's type bracketing): jsonb would order every number above every string.
      const field = fieldSql(path);
      return `(${field} ${sign} ${params.add(json(value), '::jsonb')} AND jsonb_typeof(${field}) = '${jsonType(value)}')`;
    }
    case '$exists': {
      if (path === '_id') return operand ? 'TRUE' : 'FALSE';
      return `${fieldSql(path)} IS ${operand ? 'NOT ' : ''}NULL`;
    }
    default:
      throw new ValidationError(`Unsupported filter operator ${operator}`, { path });
  }
}

/** ORDER BY for a sort: missing fields first ascending, last descending, as the index definitions lay them out. */
export function compileSort(sort: SortSpec | undefined): string {
  if (!sort || Object.keys(sort).length === 0) return '';
  return ` ORDER BY ${Object.entries(sort)
    .map(([path, direction]) => sortKey(path, direction))
    .join(', ')}`;
}

export const sortKey = (path: string, direction: 1 | -1) =>
  `${path === '_id' ? 'id' : fieldSql(path)} ${direction === -1 ? 'DESC NULLS LAST' : 'ASC NULLS FIRST'}`;

/** `{ $each: [...] }` or a single value, as in MongoDB's $push / $addToSet. */
const eachOf = (value: unknown): unknown[] =>
  value !== null && typeof value === 'object' && '$each' in value && Array.isArray(value.$each)
    ? (value as { $each: unknown[] }).$each
    : [value];

const pathArray = (path: string) => `${pathLiteral(path)}::text[]`;

/**
 * The updated document as an expression over `base` (the stored `doc`, or a seed for an upsert's insert), using the
 * helper functions the store creates in its schema (`fn` gives their qualified name). `$setOnInsert` applies only
 * when `inserting`. `_id` cannot be changed.
 */
export function compileUpdate(update: Update, base: string, fn: (name: string) => string, params: Params, inserting: boolean): string {
  let expression = base;
  for (const [operator, fields] of Object.entries(update)) {
    if (fields === undefined) continue;
    for (const [path, value] of Object.entries(fields as Record<string, unknown>)) {
      assertPath(path);
      if (path === '_id' || path.startsWith('_id.')) {
        if (operator === '$setOnInsert') continue; // the seed already carries the filter's _id
        throw new ValidationError('_id cannot be changed');
      }
      const target = pathArray(path);
      switch (operator) {
        case '$set':
          if (value !== undefined) expression = `${fn('rs_set')}(${expression}, ${target}, ${params.add(json(value), '::jsonb')})`;
          break;
        case '$setOnInsert':
          if (inserting && value !== undefined)
            expression = `${fn('rs_set')}(${expression}, ${target}, ${params.add(json(value), '::jsonb')})`;
          break;
        case '$unset':
          expression = `(${expression} #- ${target})`;
          break;
        case '$inc':
          expression = `${fn('rs_inc')}(${expression}, ${target}, ${params.add(value, '::numeric')})`;
          break;
        case '$push':
          expression = `${fn('rs_push')}(${expression}, ${target}, ${params.add(json(eachOf(value)), '::jsonb')})`;
          break;
        case '$addToSet':
          expression = `${fn('rs_add_to_set')}(${expression}, ${target}, ${params.add(json(eachOf(value)), '::jsonb')})`;
          break;
        case '$pull': {
          const { mode, condition } = pullCondition(value);
          expression = `${fn('rs_pull')}(${expression}, ${target}, ${params.add(json(condition), '::jsonb')}, '${mode}')`;
          break;
        }
        default:
          throw new ValidationError(`Unsupported update operator ${operator}`);
      }
    }
  }
  return expression;
}

/** $pull takes a value, `{ $in: [...] }`, or a sub-document of fields the element must equal. */
function pullCondition(value: unknown): { mode: 'value' | 'in' | 'fields'; condition: unknown } {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value);
    if (entries.length === 1 && entries[0]![0] === '$in') return { mode: 'in', condition: entries[0]![1] };
    return { mode: 'fields', condition: value };
  }
  return { mode: 'value', condition: value };
}

/** The SQLSTATE the helper functions raise for an update the document's shape refuses (a 400). */
export const UPDATE_REFUSED = 'LA400';

/** The helper functions the compiled updates call, created in the store's schema. */
export function helperFunctionsSql(fn: (name: string) => string): string {
  return `
CREATE OR REPLACE FUNCTION ${fn('rs_set')}(doc jsonb, path text[], value jsonb) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE base jsonb := CASE WHEN jsonb_typeof(doc) = 'object' THEN doc ELSE '{}'::jsonb END;
BEGIN
  IF cardinality(path) = 1 THEN RETURN jsonb_set(base, path, value, true); END IF;
  RETURN jsonb_set(base, path[1:1], ${fn('rs_set')}(base -> path[1], path[2:], value), true);
END $f$;

CREATE OR REPLACE FUNCTION ${fn('rs_inc')}(doc jsonb, path text[], amount numeric) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE current jsonb := doc #> path;
BEGIN
  IF current IS NULL OR current = 'null'::jsonb THEN RETURN ${fn('rs_set')}(doc, path, to_jsonb(amount)); END IF;
  IF jsonb_typeof(current) <> 'number' THEN
    RAISE EXCEPTION '$inc needs numbers at %', array_to_string(path, '.') USING ERRCODE = '${UPDATE_REFUSED}';
  END IF;
  RETURN ${fn('rs_set')}(doc, path, to_jsonb(current::numeric + amount));
END $f$;

CREATE OR REPLACE FUNCTION ${fn('rs_array')}(doc jsonb, path text[]) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE current jsonb := doc #> path;
BEGIN
  IF current IS NULL OR current = 'null'::jsonb THEN RETURN '[]'::jsonb; END IF;
  IF jsonb_typeof(current) <> 'array' THEN
    RAISE EXCEPTION 'Field % is not an array', array_to_string(path, '.') USING ERRCODE = '${UPDATE_REFUSED}';
  END IF;
  RETURN current;
END $f$;

CREATE OR REPLACE FUNCTION ${fn('rs_push')}(doc jsonb, path text[], items jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $f$
  SELECT ${fn('rs_set')}(doc, path, ${fn('rs_array')}(doc, path) || items)
$f$;

CREATE OR REPLACE FUNCTION ${fn('rs_add_to_set')}(doc jsonb, path text[], items jsonb) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE result jsonb := ${fn('rs_array')}(doc, path); item jsonb;
BEGIN
  FOR item IN SELECT value FROM jsonb_array_elements(items) LOOP
    IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(result) AS existing WHERE existing = item) THEN
      result := result || jsonb_build_array(item);
    END IF;
  END LOOP;
  RETURN ${fn('rs_set')}(doc, path, result);
END $f$;

CREATE OR REPLACE FUNCTION ${fn('rs_pull')}(doc jsonb, path text[], condition jsonb, mode text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $f$
  SELECT ${fn('rs_set')}(doc, path, COALESCE((
    SELECT jsonb_agg(element ORDER BY ordinal) FROM jsonb_array_elements(${fn('rs_array')}(doc, path)) WITH ORDINALITY AS e(element, ordinal)
    WHERE NOT CASE mode
      WHEN 'value' THEN element = condition
      WHEN 'in' THEN EXISTS (SELECT 1 FROM jsonb_array_elements(condition) AS candidate WHERE candidate = element)
      ELSE jsonb_typeof(element) = 'object'
        AND NOT EXISTS (SELECT 1 FROM jsonb_each(condition) AS wanted WHERE element -> wanted.key IS DISTINCT FROM wanted.value)
    END), '[]'::jsonb))
$f$;
`;
}
