import test from 'ava';
import Database from 'better-sqlite3';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chainHash, GENESIS_HASH, type ChainedRow } from '../../src/eventstore/chainHash.ts';
import { registerUser, request, startTestApp, tempDir, testEnv } from '../helpers/app.ts';
import { execScript } from '../helpers/scripts.ts';

/** A log with a few messages in it, the server stopped: what an attacker with the files in hand finds. */
async function storedLog() {
  const app = await startTestApp();
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  for (const text of ['one', 'two', 'three']) {
    await request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text } });
  }
  await app.stop();
  return { dir: app.storageDir, a, b };
}

async function audit(dir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return execScript('audit.ts', args, {
    env: { ...process.env, ...testEnv(dir), NODE_ENV: 'test' },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

const verify = async (dir: string, ...args: string[]) => {
  const result = await audit(dir, 'verify', '--json', ...args);
  return { code: result.code, verdict: JSON.parse(result.stdout || '{}'), stderr: result.stderr };
};

type Row = ChainedRow & { chain_hash: string | null };

/** Opens the log as an attacker would: plain SQLite, no hash computed unless the attacker chooses to. */
function tamper(dir: string, change: (db: Database.Database) => void): void {
  const db = new Database(join(dir, 'events.sqlite'));
  try {
    change(db);
  } finally {
    db.close();
  }
}

/** The event's data with another recipient: any change to what is stored must break the chain. */
const forged = (data: string): string => JSON.stringify({ ...(JSON.parse(data) as object), recipientId: 'someone-else' });

const messageSent = (db: Database.Database) =>
  db.prepare<[], Row>(`SELECT * FROM events WHERE type = 'MessageSent' ORDER BY position LIMIT 1`).get()!;

/** Recomputes every stored hash from the genesis: the algorithm is public, so this needs no key. */
function rechainEverything(db: Database.Database): void {
  let hash = GENESIS_HASH;
  const update = db.prepare('UPDATE events SET chain_hash = ? WHERE position = ?');
  for (const row of db.prepare<[], Row>('SELECT * FROM events ORDER BY position').all()) {
    hash = chainHash(hash, row);
    update.run(hash, row.position);
  }
}

function headOf(dir: string): number {
  const db = new Database(join(dir, 'events.sqlite'), { readonly: true });
  try {
    return db.prepare<[], { position: number }>('SELECT max(position) AS position FROM events').get()!.position;
  } finally {
    db.close();
  }
}

const ping = async (dir: string, options: { rebuildProjectionsBeyondHead?: boolean } = {}) => {
  const app = await startTestApp({ storageDir: dir, ...options });
  try {
    return (await request(app.url, 'GET', '/ping')).body.eventLogChain;
  } finally {
    await app.stop();
  }
};

test('opening the log never re-chains it: an edited event with the newest hash nulled stays a break, after audit stream and a server start alike', async (t) => {
  const { dir } = await storedLog();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let edited = 0;
  let newest = 0;
  tamper(dir, (db) => {
    const row = messageSent(db);
    edited = row.position;
    db.prepare('UPDATE events SET data = ? WHERE position = ?').run(forged(row.data), row.position);
    newest = db.prepare<[], { position: number }>('SELECT max(position) AS position FROM events').get()!.position;
    db.prepare('UPDATE events SET chain_hash = NULL WHERE position = ?').run(newest);
  });

  t.is((await audit(dir, 'stream', 'users')).code, 0, 'the audit CLI reads the log');
  const hashOfNewest = () => {
    const db = new Database(join(dir, 'events.sqlite'), { readonly: true });
    const value = db
      .prepare<[number], { chain_hash: string | null }>('SELECT chain_hash FROM events WHERE position = ?')
      .get(newest)!.chain_hash;
    db.close();
    return value;
  };
  t.is(hashOfNewest(), null, 'the audit CLI wrote nothing to the log');
  t.like(await verify(dir), { code: 1, verdict: { intact: false, breakAt: edited } });

  t.like(await ping(dir), { breakAt: edited }, 'the server reports the break at start');
  t.is(hashOfNewest(), null, 'the server wrote no hash over it either');
  t.like(await verify(dir), { code: 1, verdict: { intact: false, breakAt: edited } });
});

test('a chain recomputed after an edit is detected against the anchor, by verify and on /ping, and the anchor is kept as evidence', async (t) => {
  const { dir, a, b } = await storedLog();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.like(await verify(dir), { code: 0, verdict: { intact: true, anchor: { status: 'ok' } } });
  const anchorFile = join(dir, 'events.anchor.json');
  t.true(existsSync(anchorFile), 'the server keeps an anchor outside the log');
  tamper(dir, (db) => {
    const row = messageSent(db);
    db.prepare('UPDATE events SET data = ? WHERE position = ?').run(forged(row.data), row.position);
    rechainEverything(db);
  });
  const anchorBefore = readFileSync(anchorFile, 'utf8');

  const { code, verdict } = await verify(dir);
  t.is(code, 1);
  t.like(verdict, { intact: false, anchor: { status: 'rewritten' } }, 'every hash follows from the one before, but not the anchored head');
  t.false('breakAt' in verdict, 'the chain itself holds: only the anchor shows the rewrite');

  const app = await startTestApp({ storageDir: dir });
  const chain = (await request(app.url, 'GET', '/ping')).body.eventLogChain;
  t.like(chain, { breakAt: null, anchor: { status: 'rewritten' } });
  t.is(
    (await request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text: 'after' } })).status,
    201,
  );
  await app.stop();
  t.is(readFileSync(anchorFile, 'utf8'), anchorBefore, 'a log that does not match its anchor never moves the anchor');
});

test('a log cut short is detected against the anchor, by verify and on /ping', async (t) => {
  const { dir } = await storedLog();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let head = 0;
  tamper(dir, (db) => {
    head = db.prepare<[], { position: number }>('SELECT max(position) AS position FROM events').get()!.position;
    db.prepare('DELETE FROM events WHERE position > ?').run(head - 2);
  });
  const { code, verdict } = await verify(dir);
  t.is(code, 1);
  t.like(verdict, { intact: false, anchor: { status: 'truncated', position: head, head: head - 2 } });
  // The read store is ahead of the cut log: the server refuses to start unless told to rebuild, then reports the cut.
  await t.throwsAsync(startTestApp({ storageDir: dir }), { message: /beyond the event log's head/ });
  t.like(await ping(dir, { rebuildProjectionsBeyondHead: true }), {
    breakAt: null,
    anchor: { status: 'truncated', position: head, head: head - 2 },
  });
});

test('audit anchor prints a head to keep elsewhere; verify --anchor checks the log against it when the anchor file went too', async (t) => {
  const { dir } = await storedLog();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const printed = await audit(dir, 'anchor', '--json');
  t.is(printed.code, 0, printed.stderr);
  const kept = JSON.parse(printed.stdout);
  t.is(kept.position, headOf(dir), 'the newest event');
  t.regex(kept.hash, /^[0-9a-f]{64}$/);
  t.regex(kept.mac, /^[0-9a-f]{64}$/);
  const scratch = tempDir('letsapp-anchor-');
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  const keptFile = join(scratch, 'head.json');
  writeFileSync(keptFile, printed.stdout);
  t.like(await verify(dir, '--anchor', keptFile), {
    code: 0,
    verdict: { intact: true, keptAnchor: { status: 'ok', position: kept.position } },
  });

  // The attacker rewrites the log and removes the anchor next to it: the head kept elsewhere still tells.
  tamper(dir, (db) => {
    const row = messageSent(db);
    db.prepare('UPDATE events SET data = ? WHERE position = ?').run(forged(row.data), row.position);
    rechainEverything(db);
  });
  rmSync(join(dir, 'events.anchor.json'));
  t.like(await verify(dir, '--anchor', keptFile), { code: 1, verdict: { intact: false, keptAnchor: { status: 'rewritten' } } });
  tamper(dir, (db) => db.prepare('DELETE FROM events WHERE position >= ?').run(kept.position));
  t.like(await verify(dir, '--anchor', keptFile), { code: 1, verdict: { intact: false, keptAnchor: { status: 'truncated' } } });
  const missing = await verify(dir);
  t.like(
    missing,
    { code: 1, verdict: { intact: false, anchor: { status: 'missing' } } },
    'a log with events and no anchor is not vouched for',
  );
});
