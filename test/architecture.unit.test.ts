import test from 'ava';
import { buildSync } from 'esbuild';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The layers of ../shared/STYLE.md ("Layers"), checked on every import (type-only ones included) of every module in
 * commands/, projections/, src/ and client/. A failure names the file, the import and the rule it breaks.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const scanned = ['commands', 'projections', 'src', 'client'];

type Layer = 'commands' | 'projections' | 'engine' | 'use case' | 'transport' | 'contract' | 'client' | 'other';

const ENGINE = ['src/eventstore/', 'src/readstore/', 'src/projection/', 'src/sqlite/'];
const USE_CASES = ['src/auth/', 'src/messaging/', 'src/people/', 'src/presence/', 'src/media/', 'src/ai/', 'src/calls/', 'src/audit/'];
const TRANSPORTS = ['src/http/', 'src/realtime/'];

function layerOf(file: string): Layer {
  if (file.startsWith('commands/')) return 'commands';
  if (file.startsWith('projections/')) return 'projections';
  if (file.startsWith('client/')) return 'client';
  if (file.startsWith('src/contract/')) return 'contract';
  if (ENGINE.some((dir) => file.startsWith(dir))) return 'engine';
  if (USE_CASES.some((dir) => file.startsWith(dir))) return 'use case';
  if (TRANSPORTS.some((dir) => file.startsWith(dir))) return 'transport';
  return 'other';
}

/** The transport folder a file is in (`src/http/` or `src/realtime/`), or null. */
const transportOf = (file: string) => TRANSPORTS.find((dir) => file.startsWith(dir)) ?? null;

interface Import {
  /** The importing file, relative to the repository. */
  from: string;
  /** The imported file, relative to the repository. */
  target: string;
  specifier: string;
  typeOnly: boolean;
}

/**
 * Crossings the rules allow by name, each with the reason. Keep this short: a new entry is a decision, not a fix.
 */
const ALLOWED: ReadonlyArray<{ from: string; target: string; typeOnly: true; reason: string }> = [
  {
    from: 'client/rest.ts',
    target: 'src/http/apiContract.ts',
    typeOnly: true,
    reason:
      "the REST operations' types are read off the route table, which declares each operation's schemas beside its " +
      'handler; apiContract.ts is types only and erased from the browser bundle',
  },
  {
    from: 'src/contract/socketProtocol.ts',
    target: 'src/rateLimit/policies.ts',
    typeOnly: true,
    reason: 'a client frame names the rate-limit policy it is charged to; policies.ts is a list of names and budgets that imports nothing',
  },
];

/** Returns the broken rule's statement, or null when the import is allowed. */
function brokenRule({ from, target, typeOnly }: Import): string | null {
  const source = layerOf(from);
  const destination = layerOf(target);
  if (ALLOWED.some((allowed) => allowed.from === from && allowed.target === target && allowed.typeOnly === typeOnly)) return null;
  switch (source) {
    case 'commands':
      return destination === 'commands' ? null : 'commands/ imports nothing from src/ or projections/';
    case 'projections':
      if (destination === 'transport') return 'projections never import a transport (src/http/, src/realtime/)';
      if (destination === 'use case') return 'projections never import a use case';
      return null;
    case 'engine':
      if (destination === 'use case') return 'the engine knows no feature (no use case)';
      if (destination === 'transport' || destination === 'contract') return 'the engine knows no transport (nor its contract)';
      return null;
    case 'use case':
      return destination === 'transport' ? 'use cases import neither transport' : null;
    case 'transport': {
      const other = transportOf(target);
      return other !== null && other !== transportOf(from) ? 'the two transports never import each other' : null;
    }
    case 'contract':
      return destination === 'contract' || destination === 'commands'
        ? null
        : 'the contract imports nothing above it (only commands/ and src/contract/)';
    case 'client':
      if (destination === 'client') return null;
      if (destination === 'contract' && typeOnly) return null;
      return "client/ imports the contract's types (`import type` from src/contract/) and nothing else of the server";
    case 'other':
      return null;
    default: {
      const unknownLayer: never = source;
      throw new Error(`unknown layer ${String(unknownLayer)}`);
    }
  }
}

function filesUnder(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return filesUnder(relative);
    return /\.(ts|mts|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [relative] : [];
  });
}

// Statements start a line: a JSDoc line starts with `*`, so an example in a comment is not read as an import.
const STATIC_IMPORT = /^[ \t]*(import|export)(\s+type)?\s+([^;'"]*?)\s*from\s*['"]([^'"]+)['"]/gm;
const SIDE_EFFECT_IMPORT = /^[ \t]*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** A clause like `{ type A, type B }` imports types only, as `import type` does. */
const onlyTypeSpecifiers = (clause: string) => {
  const braces = /^\{([\s\S]*)\}$/.exec(clause.trim());
  if (!braces) return false;
  const names = braces[1]!
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  return names.length > 0 && names.every((name) => name.startsWith('type '));
};

function importsOf(file: string): Import[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const found: Array<{ specifier: string; typeOnly: boolean }> = [];
  for (const match of text.matchAll(STATIC_IMPORT)) {
    found.push({ specifier: match[4]!, typeOnly: match[2] !== undefined || onlyTypeSpecifiers(match[3]!) });
  }
  for (const match of text.matchAll(SIDE_EFFECT_IMPORT)) found.push({ specifier: match[1]!, typeOnly: false });
  for (const match of text.matchAll(DYNAMIC_IMPORT)) found.push({ specifier: match[1]!, typeOnly: false });
  return found
    .filter(({ specifier }) => specifier.startsWith('.'))
    .map(({ specifier, typeOnly }) => ({
      from: file,
      target: path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)),
      specifier,
      typeOnly,
    }));
}

const files = scanned.flatMap(filesUnder);
const imports = files.flatMap(importsOf);

test('every import of commands/, projections/, src/ and client/ keeps the layers of STYLE.md', (t) => {
  const broken = imports.flatMap((found) => {
    const rule = brokenRule(found);
    return rule ? [`${found.from} imports ${found.typeOnly ? 'type ' : ''}'${found.specifier}' (${found.target}): ${rule}`] : [];
  });
  t.deepEqual(broken, [], `Layer rules broken:\n${broken.join('\n')}`);
});

test('every allowed crossing still exists (a stale exception would hide a new one)', (t) => {
  for (const allowed of ALLOWED) {
    t.true(
      imports.some((found) => found.from === allowed.from && found.target === allowed.target && found.typeOnly === allowed.typeOnly),
      `${allowed.from} no longer imports ${allowed.target}: remove it from ALLOWED`,
    );
  }
});

test('the import scanner sees every import esbuild resolves (so nothing escapes the check)', (t) => {
  const result = buildSync({
    entryPoints: files.map((file) => path.join(root, file)),
    absWorkingDir: root,
    bundle: true,
    metafile: true,
    write: false,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    outdir: path.join(root, '.architecture-scan'),
    logLevel: 'silent',
    // Keep imports whose bindings are types only, as tsc with verbatimModuleSyntax does.
    tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true } },
  });
  const seen = new Set(imports.map(({ from, target }) => `${from} -> ${target}`));
  const missed: string[] = [];
  for (const [input, { imports: resolved }] of Object.entries(result.metafile.inputs)) {
    if (!scanned.some((dir) => input.startsWith(`${dir}/`))) continue;
    for (const { path: target, external } of resolved) {
      if (external || !scanned.some((dir) => target.startsWith(`${dir}/`))) continue;
      if (!seen.has(`${input} -> ${target}`)) missed.push(`${input} -> ${target}`);
    }
  }
  t.true(imports.length > 500, `only ${imports.length} imports found`);
  t.deepEqual(missed, []);
});
