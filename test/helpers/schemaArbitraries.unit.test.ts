import test from 'ava';
import fc from 'fast-check';
import { isValid, mutations, valid, type JsonSchema, type MutationKind } from './schemaArbitraries.ts';

const run = { seed: 42, numRuns: 200 };

// Patterns exactly as zod 4 emits them for z.uuid() / z.email().
const uuid = {
  type: 'string',
  format: 'uuid',
  pattern:
    '^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$',
};
const email = {
  type: 'string',
  format: 'email',
  pattern: "^(?:[A-Za-z0-9_'+\\-]+\\.)*[A-Za-z0-9_'+\\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9\\-]*\\.)+[A-Za-z]{2,}$",
};
const handle = { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$' };

const doc = {
  openapi: '3.1.0',
  components: {
    schemas: {
      UserId: uuid,
      SendMessage: {
        type: 'object',
        properties: {
          recipientId: { $ref: '#/components/schemas/UserId' },
          body: { type: 'string', minLength: 1, maxLength: 20 },
          clientId: handle,
          priority: { type: 'integer', minimum: 0, maximum: 9 },
          kind: { type: 'string', enum: ['text', 'image'] },
          replyTo: { anyOf: [{ $ref: '#/components/schemas/UserId' }, { type: 'null' }] },
        },
        required: ['recipientId', 'body', 'kind'],
        additionalProperties: false,
      },
      Node: {
        type: 'object',
        properties: { id: handle, children: { type: 'array', items: { $ref: '#/components/schemas/Node' } } },
        required: ['id', 'children'],
        additionalProperties: false,
      },
    },
  },
};
const options = { rootDocument: doc };
const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

const strictObject = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 8 }, age: { type: 'integer', minimum: 0 }, nick: { type: 'string' } },
  required: ['name', 'age'],
  additionalProperties: false,
};

const representative: Record<string, JsonSchema> = {
  'strict object': strictObject,
  uuid,
  'uuid (format only)': { type: 'string', format: 'uuid' },
  email,
  'email (format only)': { type: 'string', format: 'email' },
  'handle pattern': handle,
  'date-time': { type: 'string', format: 'date-time' },
  base64: { type: 'string', format: 'base64', contentEncoding: 'base64' },
  'integer range': { type: 'integer', minimum: -5, maximum: 5 },
  'exclusive number range': { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
  'safe integer': { type: 'integer', minimum: -9007199254740991, maximum: 9007199254740991 },
  enum: { type: 'string', enum: ['admin', 'member'] },
  const: { type: 'string', const: 'x' },
  nullable: { type: ['string', 'null'], maxLength: 3 },
  anyOf: {
    anyOf: [
      { type: 'integer', minimum: 0 },
      { type: 'string', minLength: 2, maxLength: 4 },
    ],
  },
  'bounded array': { type: 'array', items: handle, minItems: 1, maxItems: 3 },
  allOf: {
    allOf: [
      { type: 'object', properties: { a: { type: 'boolean' } }, required: ['a'] },
      { type: 'object', properties: { b: { type: 'null' } }, required: ['b'] },
    ],
  },
  'record (additionalProperties schema)': {
    type: 'object',
    propertyNames: { type: 'string', pattern: '^[a-z]{2,5}$' },
    additionalProperties: { type: 'integer' },
  },
  $ref: ref('SendMessage'),
  'recursive $ref': ref('Node'),
};

for (const [name, schema] of Object.entries(representative)) {
  test(`valid values pass ajv: ${name}`, (t) => {
    fc.assert(
      fc.property(valid(schema, options), (v) => isValid(schema, v, doc)),
      run,
    );
    t.pass();
  });
}

for (const [name, schema] of Object.entries(representative)) {
  test(`mutations fail ajv: ${name}`, (t) => {
    fc.assert(
      fc.property(mutations(schema, options), (m) => !isValid(schema, m.value, doc)),
      run,
    );
    t.pass();
  });
}

test('optional properties are sometimes present, sometimes absent; never extra keys', (t) => {
  const values = fc.sample(valid(strictObject), { seed: 42, numRuns: 200 }) as Record<string, unknown>[];
  t.true(values.some((v) => 'nick' in v));
  t.true(values.some((v) => !('nick' in v)));
  t.true(values.every((v) => Object.keys(v).every((k) => ['name', 'age', 'nick'].includes(k))));
});

test('overrides replace the generated value of that property, at any depth', (t) => {
  const ids = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'];
  const recipientId = fc.constantFrom(...ids);
  const schema = { type: 'object', properties: { message: ref('SendMessage') }, required: ['message'] };
  fc.assert(
    fc.property(valid(schema, { ...options, overrides: { recipientId } }), (v) =>
      ids.includes((v as { message: { recipientId: string } }).message.recipientId),
    ),
    run,
  );
  // Mutations start from override-based values too: untouched recipientIds are real ones.
  const muts = fc.sample(mutations(ref('SendMessage'), { ...options, overrides: { recipientId } }), { seed: 42, numRuns: 200 });
  const untouched = muts.filter(
    (m) => !m.mutation.includes('recipientId') && typeof m.value === 'object' && m.value !== null && 'recipientId' in m.value,
  );
  t.true(untouched.length > 0);
  t.true(untouched.every((m) => ids.includes((m.value as { recipientId: string }).recipientId)));
});

test('every mutation kind is produced for a schema that allows it', (t) => {
  const schema = {
    type: 'object',
    properties: {
      id: uuid,
      email,
      handle: { ...handle, maxLength: 64 },
      name: { type: 'string', minLength: 2, maxLength: 10 },
      count: { type: 'integer', minimum: 1, maximum: 100 },
      ratio: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
      role: { type: 'string', enum: ['admin', 'member'] },
      tags: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 2 },
      settings: { type: 'object', properties: { mute: { type: 'boolean' } }, additionalProperties: false },
    },
    required: ['id', 'email', 'count'],
    additionalProperties: false,
  };
  const seen = fc.sample(mutations(schema), { seed: 42, numRuns: 1000 });
  t.true(seen.every((m) => !isValid(schema, m.value)));
  const kinds = new Set(seen.map((m) => m.kind));
  const all: MutationKind[] = [
    'drop-required',
    'wrong-type',
    'extra-property',
    'oversize-string',
    'too-short-string',
    'operator-injection',
    'out-of-range',
    'not-integer',
    'not-in-enum',
    'hostile-chars',
    'too-few-items',
    'too-many-items',
  ];
  t.deepEqual(
    all.filter((k) => !kinds.has(k)),
    [],
  );
  const labels = seen.map((m) => m.mutation);
  for (const expected of [
    '"__proto__"',
    '"constructor"',
    '"$where"',
    '{"$gt":""}',
    'NUL',
    'RTL override',
    'emoji',
    'lone surrogate',
    '1e308',
    '-1e308',
    '2**53+1',
    '1.5',
    'instead of object',
  ]) {
    t.true(
      labels.some((l) => l.includes(expected)),
      `no mutation labelled with ${expected}`,
    );
  }
  // The __proto__ probe is an own, serialisable property, not a prototype change.
  const proto = seen.find((m) => m.mutation.includes('"__proto__"'));
  t.true(proto !== undefined && JSON.stringify(proto.value).includes('"__proto__":{"isAdmin":true}'));
});

test('mutations only break what is really constrained', (t) => {
  const schema = { type: 'object', properties: { note: { type: 'string' }, optional: { type: 'integer' } }, required: ['note'] };
  const labels = fc.sample(mutations(schema), { seed: 42, numRuns: 300 }).map((m) => m.mutation);
  t.false(labels.some((l) => l.includes('"optional"'))); // optional properties are never "dropped"
  t.false(labels.some((l) => /NUL|RTL|emoji|surrogate|maxLength|extra property/.test(l))); // free text, open object
  t.throws(() => mutations({}), { message: /no supported constraint/ });
});

test('root non-object schemas get wrong types', (t) => {
  const labels = new Set(fc.sample(mutations({ type: 'boolean' }), { seed: 42, numRuns: 100 }).map((m) => m.mutation));
  t.true([...labels].every((l) => l.startsWith('$: ') && l.includes('instead of boolean')));
  t.true(labels.size >= 5);
});

test('isValid resolves component refs against the root document', (t) => {
  const message = { recipientId: '11111111-1111-4111-8111-111111111111', body: 'hi', kind: 'text' };
  t.true(isValid(ref('SendMessage'), message, doc));
  t.false(isValid(ref('SendMessage'), { ...message, recipientId: 'nope' }, doc));
});
