/**
 * JSON Schema (draft 2020-12, as emitted by zod 4 / zod-openapi 5 for OpenAPI 3.1) → fast-check
 * arbitraries, for Schemathesis-style property tests of the HTTP API.
 *
 *   valid(schema, options)            values the schema accepts
 *   mutations(schema, options)        values the schema rejects, each labelled with what was broken
 *   isValid(schema, value, rootDoc)   ajv's verdict, used to guarantee that `mutations` really are invalid
 *
 * Supported: $ref (with siblings), allOf of objects (merged), anyOf/oneOf (a branch is picked; oneOf
 * branches are assumed disjoint, as zod's discriminated unions are), const, enum, type arrays, object
 * (properties, required, additionalProperties false or a schema, propertyNames), array (items,
 * minItems, maxItems), string (minLength, maxLength, pattern, formats uuid/email/date-time/date/
 * byte/base64, contentEncoding base64), integer/number (minimum, maximum, exclusive bounds), boolean, null.
 * Not supported: not, if/then/else, multipleOf, uniqueItems, prefixItems, contains, patternProperties,
 * min/maxProperties, dependent*. A schema without a type generates small JSON scalars (right for `{}`,
 * possibly wrong for the unsupported keywords); past MAX_DEPTH levels (recursive $refs) values shrink to
 * required keys and minItems items, past twice that they are `null` (then possibly invalid).
 * We never use fc.anything(): its exotic objects are not JSON and only add noise.
 */
import fc from 'fast-check';
// Named/`.default` imports: these are CommonJS modules, and under NodeNext a default import is `module.exports`.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';

export type JsonSchema = boolean | { [keyword: string]: unknown };
type Obj = { [keyword: string]: unknown };

export interface SchemaOptions {
  /** Resolves a `$ref` such as `#/components/schemas/User`; defaults to a JSON-pointer lookup in `rootDocument`. */
  resolve?: (ref: string) => JsonSchema;
  /** The OpenAPI document (or root JSON Schema) refs point into; `mutations` validates against it, so pass it when there are $refs. */
  rootDocument?: object;
  /** Arbitraries used for every property of that name, at any depth (e.g. real user ids for `recipientId`). They must generate valid values. */
  overrides?: Record<string, fc.Arbitrary<unknown>>;
}

export type MutationKind =
  | 'drop-required'
  | 'wrong-type'
  | 'extra-property'
  | 'oversize-string'
  | 'too-short-string'
  | 'operator-injection'
  | 'out-of-range'
  | 'not-integer'
  | 'not-in-enum'
  | 'hostile-chars'
  | 'too-few-items'
  | 'too-many-items';
export interface Mutation {
  value: unknown;
  mutation: string;
  kind: MutationKind;
}

const MAX_DEPTH = 8; // past this nesting (recursive $refs), generate minimal values: required keys, minItems items
const MAX_MUTATION_DEPTH = 4; // deeper properties are still generated, just not mutated
const STRING_CAP = 40; // keep generated strings short unless minLength demands more: runs stay fast
const ARRAY_CAP = 5;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface Ctx {
  resolve: (ref: string) => JsonSchema;
  root: object;
  overrides: Record<string, fc.Arbitrary<unknown>>;
}

/** JSON-pointer resolver for local refs (`#/components/schemas/X`, `#/$defs/X`). */
export function resolverFor(rootDocument: object): (ref: string) => JsonSchema {
  return (ref) => {
    if (!ref.startsWith('#')) throw new Error(`only local $refs are supported: ${ref}`);
    let node: unknown = rootDocument;
    for (const part of ref.slice(2).split('/').filter(Boolean)) {
      const key = decodeURIComponent(part).replaceAll('~1', '/').replaceAll('~0', '~');
      node = node !== null && typeof node === 'object' ? (node as Obj)[key] : undefined;
    }
    if (node === undefined) throw new Error(`unresolvable $ref ${ref}`);
    return node as JsonSchema;
  };
}

const NO_ROOT = {};
function context(options: SchemaOptions): Ctx {
  const root = options.rootDocument ?? NO_ROOT;
  return { resolve: options.resolve ?? resolverFor(root), root, overrides: options.overrides ?? {} };
}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const jsonType = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const codePoints = (s: string): number => [...s].length; // JSON Schema lengths count code points, not UTF-16 units

/** Resolves $ref and folds allOf, so the generators below only see plain schemas. */
function norm(schema: JsonSchema, ctx: Ctx): JsonSchema {
  if (!isObj(schema)) return schema;
  if (typeof schema.$ref === 'string') {
    const { $ref, ...siblings } = schema;
    const target = norm(ctx.resolve($ref), ctx);
    return Object.keys(siblings).length === 0 || !isObj(target) ? target : { ...siblings, ...target };
  }
  if (!Array.isArray(schema.allOf)) return schema;
  const { allOf, ...rest } = schema;
  // Objects merge property-wise; other keywords simply overlay (fine for the intersections zod emits).
  return (allOf as JsonSchema[])
    .map((b) => norm(b, ctx))
    .filter(isObj)
    .reduce<Obj>(
      (acc, b) => ({
        ...acc,
        ...b,
        properties: { ...(acc.properties as Obj), ...(b.properties as Obj) },
        required: [...new Set([...((acc.required as string[]) ?? []), ...((b.required as string[]) ?? [])])],
        ...(acc.additionalProperties === false || b.additionalProperties === false ? { additionalProperties: false } : {}),
      }),
      rest,
    );
}

/** The JSON types a schema lets through, or undefined when it cannot tell (then "wrong type" is not attempted). */
function typesOf(s: Obj, ctx: Ctx): string[] | undefined {
  if ('const' in s) return [jsonType(s.const)];
  if (Array.isArray(s.enum)) return [...new Set(s.enum.map(jsonType))];
  if (typeof s.type === 'string') return [s.type];
  if (Array.isArray(s.type)) return s.type as string[];
  const branches = (s.anyOf ?? s.oneOf) as JsonSchema[] | undefined;
  if (branches) {
    const all = branches.map((b) => norm(b, ctx)).map((b) => (isObj(b) ? typesOf(b, ctx) : undefined));
    return all.some((t) => t === undefined) ? undefined : [...new Set(all.flat() as string[])];
  }
  if (isObj(s.properties) || 'additionalProperties' in s || Array.isArray(s.required)) return ['object'];
  if ('items' in s) return ['array'];
  return undefined;
}

const lower = (s: Obj) => bound(num(s.minimum), num(s.exclusiveMinimum), (a, b) => b >= a);
const upper = (s: Obj) => bound(num(s.maximum), num(s.exclusiveMaximum), (a, b) => b <= a);
function bound(inclusive?: number, exclusive?: number, tighter = (_a: number, _b: number) => true) {
  if (exclusive !== undefined && (inclusive === undefined || tighter(inclusive, exclusive))) return { v: exclusive, ex: true };
  return inclusive === undefined ? undefined : { v: inclusive, ex: false };
}

/** Generators for the formats we know (built once: fc.stringMatching is costly to build); otherwise `pattern` or a plain string. */
const dnsLabel = fc.stringMatching(/^[a-z0-9]{1,10}$/);
const lowerWord = fc.stringMatching(/^[a-z]{1,12}$/); // extra property names, record keys
const instant = fc.date({ min: new Date('1970-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
const FORMATS: Record<string, fc.Arbitrary<string>> = {
  uuid: fc.uuid(),
  email: fc.tuple(dnsLabel, dnsLabel, fc.stringMatching(/^[a-z]{2,6}$/)).map(([l, d, tld]) => `${l}@${d}.${tld}`),
  'date-time': instant,
  date: instant.map((d) => d.slice(0, 10)),
  byte: fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b).toString('base64')),
};
const formatArb = (s: Obj): fc.Arbitrary<string> | undefined =>
  s.format === 'base64' || s.contentEncoding === 'base64'
    ? FORMATS.byte
    : typeof s.format === 'string' && Object.hasOwn(FORMATS, s.format)
      ? FORMATS[s.format]
      : undefined;

const matchers = new Map<string, fc.Arbitrary<string>>();
function matching(pattern: RegExp, maxLength: number | undefined): fc.Arbitrary<string> {
  const key = `${maxLength}:${pattern.source}`;
  if (!matchers.has(key)) matchers.set(key, fc.stringMatching(pattern, { maxLength }));
  return matchers.get(key) as fc.Arbitrary<string>;
}

function gen(schema: JsonSchema, ctx: Ctx, depth: number): fc.Arbitrary<unknown> {
  const s = norm(schema, ctx);
  if (s === false) throw new Error('schema `false` has no valid value');
  if (s === true || depth > 2 * MAX_DEPTH) return s === true ? scalar : fc.constant(null); // null: give up, documented
  const minimal = depth >= MAX_DEPTH;
  if ('const' in s) return fc.constant(s.const);
  if (Array.isArray(s.enum)) return fc.constantFrom(...s.enum);
  const branches = (s.anyOf ?? s.oneOf) as JsonSchema[] | undefined;
  if (branches) return fc.oneof(...branches.map((b) => gen(b, ctx, depth + 1)));
  const types = typesOf(s, ctx);
  if (types === undefined) return scalar;
  if (types.length !== 1) return fc.oneof(...types.map((type) => gen({ ...s, type }, ctx, depth)));
  switch (types[0]) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer': {
      const lo = lower(s),
        hi = upper(s);
      const min = lo === undefined ? undefined : lo.ex ? Math.floor(lo.v) + 1 : Math.ceil(lo.v);
      const max = hi === undefined ? undefined : hi.ex ? Math.ceil(hi.v) - 1 : Math.floor(hi.v);
      if ((min ?? 0) >= -(2 ** 31) && (max ?? 0) < 2 ** 31) return fc.integer({ min, max });
      const big = (v: number | undefined, dflt: number) => BigInt(v === undefined ? dflt : v);
      return fc.bigInt({ min: big(min, Number.MIN_SAFE_INTEGER), max: big(max, Number.MAX_SAFE_INTEGER) }).map(Number);
    }
    case 'number': {
      const lo = lower(s),
        hi = upper(s);
      return fc.double({ min: lo?.v, max: hi?.v, minExcluded: lo?.ex, maxExcluded: hi?.ex, noNaN: true, noDefaultInfinity: true });
    }
    case 'string': {
      const min = num(s.minLength) ?? 0,
        max = num(s.maxLength);
      const pattern = typeof s.pattern === 'string' ? new RegExp(s.pattern, 'u') : undefined;
      const fits = (v: string) => codePoints(v) >= min && (max === undefined || codePoints(v) <= max) && (!pattern || pattern.test(v));
      const fmt = formatArb(s);
      if (fmt) return fmt.filter(fits); // the format generator is aimed at zod's patterns too; the filter is a safety net
      if (pattern) return matching(pattern, max).filter(fits);
      const lengths = { minLength: min, maxLength: Math.max(min, Math.min(max ?? STRING_CAP, STRING_CAP)) };
      // Mostly ASCII, sometimes any single-code-point grapheme (accents, CJK, emoji) to exercise UTF-8 paths.
      return fc.oneof(
        { weight: 3, arbitrary: fc.string(lengths) },
        { weight: 1, arbitrary: fc.string({ ...lengths, unit: 'grapheme-composite' }) },
      );
    }
    case 'array': {
      const min = num(s.minItems) ?? 0;
      const items = s.items === undefined ? scalar : gen(s.items as JsonSchema, ctx, depth + 1);
      const cap = minimal ? 0 : depth < 3 ? ARRAY_CAP : 2; // nested (recursive) arrays stay short, so trees stay small
      return fc.array(items, { minLength: min, maxLength: Math.max(min, Math.min(num(s.maxItems) ?? cap, cap)) });
    }
    case 'object': {
      const props = (isObj(s.properties) ? s.properties : {}) as Record<string, JsonSchema>;
      const required = Array.isArray(s.required) ? (s.required as string[]) : [];
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      for (const key of new Set([...(minimal ? [] : Object.keys(props)), ...required])) {
        model[key] = ctx.overrides[key] ?? gen(props[key] ?? true, ctx, depth + 1);
      }
      const record = fc.record(model, { requiredKeys: required, noNullPrototype: true });
      if (!isObj(s.additionalProperties) && s.additionalProperties !== true) return record; // absent: no extra keys, keeps bodies readable
      const keys = isObj(s.propertyNames) ? (gen(s.propertyNames, ctx, depth + 1) as fc.Arbitrary<string>) : lowerWord;
      const extra = fc.dictionary(
        keys.filter((k) => !(k in model)),
        gen(s.additionalProperties as JsonSchema, ctx, depth + 1),
        { maxKeys: 3, noNullPrototype: true },
      );
      return fc.tuple(record, extra).map(([r, e]) => ({ ...e, ...r }));
    }
  }
  return fc.constant(null); // unknown type name
}
const scalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.string({ maxLength: 10 }),
);

/** Values valid against `schema`. */
export function valid(schema: JsonSchema, options: SchemaOptions = {}): fc.Arbitrary<unknown> {
  return gen(schema, context(options), 0);
}

// ---------------------------------------------------------------------------------------------- mutations

const WRONG_TYPE_SAMPLES: Record<string, unknown[]> = {
  string: ['1', 'true'],
  number: [1, 0],
  boolean: [true],
  null: [null],
  object: [{}],
  array: [[]],
};
const HOSTILE = [
  ['NUL', '\u0000'],
  ['RTL override', '\u202e'],
  ['emoji', '😀'],
  ['lone surrogate', '\ud800'],
] as const;
const EXTRA_PROPS: [string, unknown][] = [
  ['__proto__', { isAdmin: true }],
  ['constructor', { prototype: { isAdmin: true } }],
  ['$where', 'sleep(1000)'],
];

/** Own, enumerable property even for `__proto__` (plain assignment would change the prototype instead). */
function withProp(o: unknown, key: string, value: unknown): Obj {
  const copy: Obj = { ...(o as Obj) };
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

/**
 * Keeps a generated mutation family only if it does break `schema` (checked on a fixed sample), then filters
 * out the odd valid value. Without the sample check, a family that never breaks the schema (NUL in `^.*$`)
 * would make `.filter` spin forever.
 */
function breaking(arb: fc.Arbitrary<Mutation>, schema: JsonSchema, ctx: Ctx): fc.Arbitrary<Mutation> | undefined {
  const invalid = (m: Mutation) => !isValid(schema, m.value, ctx.root);
  return fc.sample(arb, { numRuns: 10, seed: 7 }).some(invalid) ? arb.filter(invalid) : undefined;
}

function mutate(schema: JsonSchema, ctx: Ctx, path: string, depth: number): fc.Arbitrary<Mutation> | undefined {
  const s = norm(schema, ctx);
  if (!isObj(s) || depth > MAX_MUTATION_DEPTH) return undefined;
  const types = typesOf(s, ctx) ?? [];
  const validAs = (type: string) => gen({ ...s, type }, ctx, depth); // the valid value we start from, e.g. non-null
  const label =
    (kind: MutationKind, what: string) =>
    (value: unknown): Mutation => ({ value, kind, mutation: `${path}: ${what}` });
  const fixed: Mutation[] = []; // constant mutations, checked below one by one
  const generated: fc.Arbitrary<Mutation>[] = [];

  const allowed = new Set(types.map((t) => (t === 'integer' ? 'number' : t)));
  if (allowed.size > 0) {
    for (const [type, samples] of Object.entries(WRONG_TYPE_SAMPLES)) {
      if (!allowed.has(type))
        for (const v of samples) fixed.push(label('wrong-type', `${JSON.stringify(v)} instead of ${[...allowed].join('|')}`)(v));
    }
  }
  const choices = 'const' in s ? [s.const] : Array.isArray(s.enum) ? s.enum : undefined;
  if (choices) {
    for (const c of choices) {
      if (typeof c === 'string')
        for (const v of [`${c} `, c.toUpperCase(), c.toLowerCase(), ''])
          fixed.push(label('not-in-enum', `${JSON.stringify(v)} not in enum`)(v));
      if (typeof c === 'number') fixed.push(label('not-in-enum', `${c + 1} not in enum`)(c + 1));
    }
    if (choices.some((c) => typeof c === 'string'))
      generated.push(fc.string({ maxLength: 12 }).map(label('not-in-enum', 'random string not in enum')));
  }
  if (types.includes('string') && !allowed.has('object')) {
    for (const op of [{ $gt: '' }, { $ne: null }]) fixed.push(label('operator-injection', JSON.stringify(op))(op)); // NoSQL injection probe
  }
  if (types.includes('string') && !choices) {
    const min = num(s.minLength),
      max = num(s.maxLength);
    if (max !== undefined)
      generated.push(fc.string({ minLength: max + 1, maxLength: max + 50 }).map(label('oversize-string', `longer than maxLength ${max}`)));
    if (min !== undefined && min > 0)
      generated.push(fc.string({ maxLength: min - 1 }).map(label('too-short-string', `shorter than minLength ${min}`)));
    if (typeof s.pattern === 'string' || typeof s.format === 'string') {
      generated.push(
        fc.tuple(validAs('string') as fc.Arbitrary<string>, fc.constantFrom(...HOSTILE), fc.nat()).map(([v, [name, ch], i]) => {
          const chars = [...v];
          chars.splice(i % (chars.length + 1), 0, ch);
          return label(
            'hostile-chars',
            `${name} inserted into ${typeof s.format === 'string' ? s.format : 'pattern'} string`,
          )(chars.join(''));
        }),
      );
    }
  }
  if (allowed.has('number') && !choices) {
    const lo = lower(s),
      hi = upper(s);
    // 2**53+1 is not a double: it rounds to 2**53, which still breaks zod's int() maximum of 2**53-1.
    if (hi)
      fixed.push(
        label('out-of-range', 'huge 1e308')(1e308),
        label('out-of-range', `just above maximum ${hi.v}`)(hi.ex ? hi.v : hi.v + 1),
        label('out-of-range', 'unsafe integer 2**53+1')(2 ** 53 + 1),
      );
    if (lo)
      fixed.push(
        label('out-of-range', 'huge negative -1e308')(-1e308),
        label('out-of-range', `just below minimum ${lo.v}`)(lo.ex ? lo.v : lo.v - 1),
      );
    if (types.includes('integer') && !types.includes('number')) fixed.push(label('not-integer', '1.5 where an integer is expected')(1.5));
  }
  if (types.includes('array')) {
    const minItems = num(s.minItems) ?? 0,
      maxItems = num(s.maxItems);
    if (minItems > 0)
      generated.push(
        gen({ ...s, type: 'array', minItems: 0, maxItems: minItems - 1 }, ctx, depth).map(
          label('too-few-items', `fewer than minItems ${minItems}`),
        ),
      );
    if (maxItems !== undefined)
      generated.push(
        gen({ ...s, type: 'array', minItems: maxItems + 1, maxItems: maxItems + 3 }, ctx, depth).map(
          label('too-many-items', `more than maxItems ${maxItems}`),
        ),
      );
    const item = s.items === undefined ? undefined : mutate(s.items as JsonSchema, ctx, `${path}[*]`, depth + 1);
    if (item && maxItems !== 0) {
      const base = gen({ ...s, type: 'array', minItems: Math.max(1, minItems) }, ctx, depth) as fc.Arbitrary<unknown[]>;
      generated.push(
        fc.tuple(base, item, fc.nat()).map(([arr, m, i]) => ({ ...m, value: arr.map((v, j) => (j === i % arr.length ? m.value : v)) })),
      );
    }
  }
  if (types.includes('object')) {
    const base = validAs('object');
    const props = (isObj(s.properties) ? s.properties : {}) as Record<string, JsonSchema>;
    const required = (s.required as string[] | undefined) ?? [];
    if (required.length > 0) {
      generated.push(
        fc.tuple(base, fc.constantFrom(...required)).map(([o, key]) => {
          const copy = { ...(o as Obj) };
          delete copy[key];
          return label('drop-required', `missing required "${key}"`)(copy);
        }),
      );
    }
    if (s.additionalProperties === false) {
      const names = fc.oneof(
        fc.constantFrom(...EXTRA_PROPS),
        lowerWord.map((k): [string, unknown] => [k, 'x']),
      );
      generated.push(
        fc
          .tuple(
            base,
            names.filter(([k]) => !Object.hasOwn(props, k)),
          )
          .map(([o, [k, v]]) => label('extra-property', `extra property "${k}"`)(withProp(o, k, v))),
      );
    }
    for (const [key, sub] of Object.entries(props)) {
      const m = mutate(sub, ctx, `${path}.${key}`, depth + 1);
      if (m) generated.push(fc.tuple(base, m).map(([o, mm]) => ({ ...mm, value: withProp(o, key, mm.value) })));
    }
  }
  for (const branch of ((s.anyOf ?? s.oneOf) as JsonSchema[] | undefined) ?? []) {
    const m = mutate(branch, ctx, path, depth + 1); // may fit a sibling branch: `breaking` below weeds that out
    if (m) generated.push(m);
  }

  // Fixed mutations are checked now, grouped by kind so a kind with many samples does not crowd out the rest.
  const byKind = new Map<MutationKind, Mutation[]>();
  for (const m of fixed) if (!isValid(s, m.value, ctx.root)) byKind.set(m.kind, [...(byKind.get(m.kind) ?? []), m]);
  const families = [
    ...[...byKind.values()].map((ms) => fc.constantFrom(...ms)),
    ...generated.map((g) => breaking(g, s, ctx)).filter((g): g is fc.Arbitrary<Mutation> => g !== undefined),
  ];
  return families.length === 0 ? undefined : fc.oneof(...families);
}

/**
 * Values invalid against `schema`, each saying what was broken. One mutation per value, applied to an otherwise
 * valid value (with `overrides` honoured), so a rejection can be attributed to it. Throws when nothing applies.
 */
export function mutations(schema: JsonSchema, options: SchemaOptions = {}): fc.Arbitrary<Mutation> {
  const ctx = context(options);
  const arb = mutate(schema, ctx, '$', 0);
  if (!arb) throw new Error('mutations(): no supported constraint to break in this schema');
  return arb.filter((m) => !isValid(schema, m.value, ctx.root)); // belt and braces: every value is ajv-invalid
}

// ---------------------------------------------------------------------------------------------- validation

// strict:false because OpenAPI schemas carry non-JSON-Schema keywords (example, discriminator, ...);
// logger:false silences ajv's "unknown format" warnings for zod formats it does not know (cuid, nanoid, ...).
const ajv = new Ajv2020({ strict: false, logger: false });
ajvFormats.default(ajv);
ajv.addFormat('base64', BASE64); // zod's z.base64() emits format "base64", which ajv-formats only knows as "byte"
const compiled = new WeakMap<object, WeakMap<object, ValidateFunction>>();
let nextId = 0;

/**
 * ajv's verdict for `value` against `schema`. `$ref`s like `#/components/schemas/X` resolve against `rootDocument`:
 * the schema is compiled with the root's `components`/`$defs` grafted on, so local JSON pointers find them.
 */
export function isValid(schema: JsonSchema, value: unknown, rootDocument: object = NO_ROOT): boolean {
  if (typeof schema === 'boolean') return schema;
  let cache = compiled.get(rootDocument);
  if (!cache) compiled.set(rootDocument, (cache = new WeakMap()));
  let validate = cache.get(schema);
  if (validate === undefined) {
    const { $schema: _ignored, ...rest } = schema;
    const root = rootDocument as Obj;
    const graft = Object.fromEntries(['components', '$defs', 'definitions'].filter((k) => root[k] !== undefined).map((k) => [k, root[k]]));
    const compiledNow = ajv.compile({ ...graft, ...rest, $id: `urn:schema-arbitraries:${nextId++}` });
    cache.set(schema, compiledNow);
    validate = compiledNow;
  }
  return validate(value);
}
