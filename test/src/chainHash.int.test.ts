import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { macMatches, signHead } from '../../src/eventstore/anchor.ts';
import { firstBreak, type ChainedRow } from '../../src/eventstore/chainHash.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { tempDir } from '../helpers/app.ts';

const metadata = () => ({
  eventId: randomUUID(),
  correlationId: 'c',
  causationId: 'c',
  userId: null,
  timestamp: '2026-01-01T00:00:00.000Z',
});
const rowsOf = (file: string) => {
  const db = new Database(file, { readonly: true });
  const rows = db.prepare<[], ChainedRow & { chain_hash: string | null }>('SELECT * FROM events ORDER BY position').all();
  db.close();
  return rows;
};

test('every append extends the hash chain; a log written before the chain is not chained at open: its events stay a break at position 1, untouched', async (t) => {
  const file = join(tempDir(), 'events.sqlite');
  // A log as an earlier version wrote it: no chain column.
  const old = new Database(file);
  old.exec(`CREATE TABLE events (position INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, stream TEXT NOT NULL, revision INTEGER NOT NULL,
    type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL, UNIQUE (stream, revision))`);
  for (let i = 0; i < 3; i++) {
    old
      .prepare('INSERT INTO events (event_id, stream, revision, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)')
      .run(randomUUID(), 's-old', i, 'Happened', JSON.stringify({ i }), JSON.stringify(metadata()));
  }
  const before = old.prepare('SELECT position, data, metadata FROM events ORDER BY position').all();
  old.close();

  const store = new SqliteEventStore(file, { checkpoints: false });
  t.teardown(() => store.close());
  await store.append('s-new', [{ type: 'Happened', data: { i: 3 }, metadata: metadata() }], 'no-stream');
  await store.append('s-new', [{ type: 'Happened', data: { i: 4 }, metadata: metadata() }], 0);
  const rows = rowsOf(file);
  t.is(rows.length, 5);
  t.deepEqual(
    rows.slice(0, 3).map(({ position, data, metadata: m, chain_hash }) => ({ position, data, metadata: m, chain_hash })),
    before.map((row) => ({ ...(row as object), chain_hash: null })),
    'old events are neither rewritten nor chained',
  );
  t.is(firstBreak(rows)?.position, 1, 'unchained events are a finding');
  t.true(
    rows.slice(3).every((row) => /^[0-9a-f]{64}$/.test(row.chain_hash ?? '')),
    'new events are chained',
  );
  t.is(store.verifyTail(2).breakAt, null, 'each new event follows from the one before it');

  const fresh = join(tempDir(), 'events.sqlite');
  const chained = new SqliteEventStore(fresh, { checkpoints: false });
  for (let i = 0; i < 5; i++)
    await chained.append('s', [{ type: 'Happened', data: { i }, metadata: metadata() }], i === 0 ? 'no-stream' : i - 1);
  await chained.close();
  const freshRows = rowsOf(fresh);
  t.is(firstBreak(freshRows), null, 'the chain holds from the first event to the last');
  t.is(new Set(freshRows.map((row) => row.chain_hash)).size, 5);
  const tampered = freshRows.map((row) => (row.position === 2 ? { ...row, data: row.data.replace('1', '9') } : row));
  t.is(firstBreak(tampered)?.position, 2);
});

test('the tail check recomputes the newest events from the hash before them and names a break', async (t) => {
  const file = join(tempDir(), 'events.sqlite');
  const store = new SqliteEventStore(file, { checkpoints: false });
  t.teardown(() => store.close());
  for (let i = 0; i < 5; i++) await store.append(`s${i}`, [{ type: 'Happened', data: { i }, metadata: metadata() }], 'no-stream');
  t.deepEqual(store.verifyTail(3), { checked: 3, breakAt: null });
  const db = new Database(file);
  db.prepare(`UPDATE events SET data = '{"i":99}' WHERE position = 4`).run();
  db.close();
  t.deepEqual(store.verifyTail(3), { checked: 3, breakAt: 4 });
  t.deepEqual(store.verifyTail(1), { checked: 1, breakAt: null }, 'outside the checked tail: the full verify finds it');
});

test('opening a log never chains it: events a chain-unaware writer (or an attacker) left unchained stay a break at the next open', async (t) => {
  const file = join(tempDir(), 'events.sqlite');
  const first = new SqliteEventStore(file, { checkpoints: false });
  await first.append('s', [{ type: 'Happened', data: { i: 0 }, metadata: metadata() }], 'no-stream');
  await first.append('s', [{ type: 'Happened', data: { i: 1 }, metadata: metadata() }], 0);
  await first.close();
  const edit = new Database(file);
  edit.prepare(`UPDATE events SET data = '{"i":9}', chain_hash = NULL WHERE position = 2`).run();
  edit.close();

  const reopened = new SqliteEventStore(file, { checkpoints: false });
  t.teardown(() => reopened.close());
  t.is(rowsOf(file)[1]!.chain_hash, null, 'not chained at open');
  t.deepEqual(reopened.verifyTail(), { checked: 2, breakAt: 2 });
  t.is(firstBreak(rowsOf(file))?.position, 2);
});

test('a read-only connection creates, migrates and writes nothing, and refuses appends', async (t) => {
  const file = join(tempDir(), 'events.sqlite');
  const writer = new SqliteEventStore(file, { checkpoints: false });
  await writer.append('s', [{ type: 'Happened', data: { i: 0 }, metadata: metadata() }], 'no-stream');
  await writer.close();
  const edit = new Database(file);
  edit.prepare('UPDATE events SET chain_hash = NULL').run();
  edit.close();
  const reader = new SqliteEventStore(file, { readonly: true });
  t.teardown(() => reader.close());
  t.is((await reader.readAll()).length, 1);
  await t.throwsAsync(reader.append('s', [{ type: 'Happened', data: { i: 1 }, metadata: metadata() }], 0), { message: /read-only/ });
  t.is(rowsOf(file)[0]!.chain_hash, null);
  t.throws(
    () => new SqliteEventStore(join(tempDir(), 'absent.sqlite'), { readonly: true }),
    { any: true, code: 'SQLITE_CANTOPEN' },
    'a missing log is not created',
  );
});

test('the anchor follows the commits (signed, outside the log) and, when the log does not match it at open, is kept as it was', async (t) => {
  const dir = tempDir();
  const file = join(dir, 'events.sqlite');
  const anchor = { file: join(dir, 'events.anchor.json'), key: 'k'.repeat(32), intervalMs: 20 };
  const store = new SqliteEventStore(file, { checkpoints: false, anchor });
  t.is(store.anchorAtOpen?.status, 'ok', 'an empty log needs no anchor');
  for (let i = 0; i < 3; i++)
    await store.append('s', [{ type: 'Happened', data: { i }, metadata: metadata() }], i === 0 ? 'no-stream' : i - 1);
  // Within the interval (and an fsync, slow on a busy disk) the anchor reaches the newest commit.
  const anchored = () => (existsSync(anchor.file) ? JSON.parse(readFileSync(anchor.file, 'utf8')).position : 0);
  for (let waited = 0; anchored() < 3 && waited < 10_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
  const signed = JSON.parse(readFileSync(anchor.file, 'utf8'));
  t.like(signed, { position: 3, hash: rowsOf(file)[2]!.chain_hash });
  const since = signed.since.position;
  t.true(since >= 1 && since <= 3, 'since: the first head this anchor held');
  t.true(macMatches(anchor.key, signed));
  t.false(macMatches('another key that is long enough!', signed));
  await store.append('s', [{ type: 'Happened', data: { i: 3 }, metadata: metadata() }], 2);
  await store.close();
  t.like(
    JSON.parse(readFileSync(anchor.file, 'utf8')),
    { position: 4, since: { position: since } },
    'the last commit is anchored at close',
  );

  // Forged: a head signed with another key.
  writeFileSync(
    anchor.file,
    JSON.stringify(signHead('another key that is long enough!', { position: 4, hash: rowsOf(file)[3]!.chain_hash }, new Date())),
  );
  const forgedText = readFileSync(anchor.file, 'utf8');
  const reopened = new SqliteEventStore(file, { checkpoints: false, anchor });
  t.like(reopened.anchorAtOpen, { status: 'forged', position: 4, head: 4 });
  await reopened.append('s', [{ type: 'Happened', data: { i: 4 }, metadata: metadata() }], 3);
  await reopened.close();
  t.is(readFileSync(anchor.file, 'utf8'), forgedText, 'not overwritten: a mismatch is evidence');

  // Removed: anchored again from the head, with `since` saying from where.
  rmSync(anchor.file);
  const restarted = new SqliteEventStore(file, { checkpoints: false, anchor });
  t.like(restarted.anchorAtOpen, { status: 'missing', head: 5 });
  await restarted.close();
  t.like(JSON.parse(readFileSync(anchor.file, 'utf8')), { position: 5, since: { position: 5 } });
});
