import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The README's "Where a feature lives" table is how a newcomer finds every piece of one feature: each file it names
 * exists, each name after a file is in that file, and every decider and route module has its row.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

function featureRows(): string[][] {
  const start = readme.indexOf('**Where a feature lives.**');
  if (start < 0) return [];
  const lines = readme.slice(start).split('\n');
  const table = lines.slice(lines.findIndex((line) => line.startsWith('|')));
  const rows = table.slice(
    0,
    table.findIndex((line) => !line.startsWith('|')),
  );
  return rows.slice(2).map((row) =>
    row
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim()),
  );
}

/** A cell's files, each with the names that follow it: `` `projections/feed.ts` `callFrame` `` names callFrame in feed.ts. */
function filesAndNames(cell: string): Array<{ file: string; names: string[] }> {
  const found: Array<{ file: string; names: string[] }> = [];
  for (const [, token] of cell.matchAll(/`([^`]+)`/g)) {
    if (/^[\w.-]+\/[\w./-]+\.ts$/.test(token!)) found.push({ file: token!, names: [] });
    else found.at(-1)?.names.push(token!);
  }
  return found;
}

const rows = featureRows();
const named = rows.flatMap((cells) => cells.slice(1).flatMap(filesAndNames));
const namedFiles = new Set(named.map(({ file }) => file));

test('the README has the feature table, one row per feature with every column filled', (t) => {
  t.true(rows.length >= 8, `found ${rows.length} rows`);
  for (const cells of rows) {
    t.is(cells.length, 7, `row ${cells[0]}: feature, decider, projectors, use case, REST routes, socket frames, tests`);
    for (const [column, cell] of cells.entries()) t.not(cell, '', `row ${cells[0]}, column ${column + 1} is empty`);
  }
});

test('every file the feature table names exists, and every name after a file is in it', (t) => {
  const missing = named.flatMap(({ file, names }) => {
    const full = path.join(root, file);
    if (!existsSync(full)) return [`${file} does not exist`];
    const text = readFileSync(full, 'utf8');
    return names.filter((name) => !text.includes(name)).map((name) => `${name} is not in ${file}`);
  });
  t.deepEqual(missing, []);
});

test('every decider in commands/ and every route module has its row in the feature table', (t) => {
  const notFeatures = new Set([
    'commands/upcasters.ts',
    'commands/projectionSkips.ts',
    'src/http/routes/system.ts',
    'src/http/routes/demo.ts',
  ]);
  const modules = [
    ...readdirSync(path.join(root, 'commands'))
      .filter((name) => name.endsWith('.ts'))
      .map((name) => `commands/${name}`),
    ...readdirSync(path.join(root, 'src/http/routes'))
      .filter((name) => name.endsWith('.ts'))
      .map((name) => `src/http/routes/${name}`),
  ];
  t.deepEqual(
    modules.filter((module) => !notFeatures.has(module) && !namedFiles.has(module)),
    [],
  );
});
