import { randomUUID } from 'node:crypto';
import test from 'ava';
import { SqliteSecretStore } from '../../src/secrets/sqliteSecretStore.ts';
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { BackgroundCheckpointer } from '../../src/sqlite/checkpointer.ts';
import { tempDir } from '../helpers/app.ts';

test('the checkpointer reports TRUNCATE checkpoints past its limit, and stops even while reports are arriving', async (t) => {
  const file = join(tempDir(), 'wal.sqlite');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (x TEXT)');
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 50; i++) db.prepare('INSERT INTO t VALUES (?)').run('x'.repeat(1_000));
    // A limit of 0 bytes: every tick truncates and reports, so reports race the answer to 'stop'.
    const checkpointer = new BackgroundCheckpointer(file, { onFailure: () => t.fail('the worker died'), walLimitBytes: 0, intervalMs: 2 });
    const deadline = Date.now() + 5_000;
    while (checkpointer.status().lastCheckpointAt === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    t.not(checkpointer.status().lastCheckpointAt, null, 'a TRUNCATE checkpoint was reported');
    t.is(checkpointer.status().walBytes, 0);
    const stopped = await Promise.race([
      checkpointer.stop().then(() => true),
      new Promise((resolve) => setTimeout(() => resolve(false), 3_000)),
    ]);
    t.true(stopped, `stop() returned (round ${round})`);
  }
  db.close();
});

test("past its limit the read store's WAL is reset between writes by drains, far more often than by the TRUNCATE backstop", async (t) => {
  const file = join(tempDir(), 'read.sqlite');
  const walLimitBytes = 256 * 1024;
  const store = new SqliteReadStore(file, { walLimitBytes });
  t.teardown(() => store.close());
  let peak = 0;
  const until = Date.now() + 3_000;
  for (let i = 0; Date.now() < until; i++) {
    await store.withTransaction(async (tx) => {
      // Small documents, so one checkpoint tick's writes stay under the backstop's 4 × the limit and what is measured
      // is the drains (4 KB ones, in rowid tables, passed it within one tick and were truncated).
      for (let j = 0; j < 20; j++)
        await tx.collection('things').replaceOne({ _id: `t${j}` }, { _id: `t${j}`, round: i, pad: 'x'.repeat(500) }, { upsert: true });
    });
    peak = Math.max(peak, statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const status = store.checkpointStatus()!;
  t.log(`peak WAL ${(peak / 1024).toFixed(0)} KiB, ${status.drains} drains, ${status.truncations} truncations`);
  t.true(status.drains > status.truncations, 'reset mostly by drains');
  // The backstop acts at 4 × the limit, on the worker's next tick: a tick's writes may come on top.
  t.true(peak < 6 * walLimitBytes, `peak ${peak}`);
  t.true(status.healthy);
});

test("the server's secrets store checkpoints on the worker: content keys written without pause keep its WAL bounded, and every key reads back after a restart", async (t) => {
  const dir = tempDir();
  // A key insert dirties pages all over the b-tree: a limit below what one checkpoint tick writes would leave
  // everything to the TRUNCATE backstop, which acts at 4 × the limit.
  const walLimitBytes = 1024 * 1024;
  const store = SqliteSecretStore.open(dir, undefined, { backgroundCheckpoints: true, walLimitBytes });
  const envelope = 'e'.repeat(150);
  let peak = 0;
  let written = 0;
  const until = Date.now() + 2_000;
  while (Date.now() < until) {
    // As the shredding keys write them: a batch of new message keys per commit, at random places of the b-tree.
    const rows = Array.from({ length: 10 }, () => ({ purpose: 'content-key', subject: `message:${randomUUID()}`, envelope }));
    t.true((await store.insertIfAbsent(rows)).every(Boolean));
    written += rows.length;
    peak = Math.max(peak, statSync(join(dir, 'secrets.sqlite-wal'), { throwIfNoEntry: false })?.size ?? 0);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const status = store.checkpointStatus()!;
  t.log(`${written} keys, peak WAL ${(peak / 1024).toFixed(0)} KiB, ${status.drains} drains, ${status.truncations} truncations`);
  t.true(status.drains > status.truncations, 'reset mostly by drains between writes');
  t.true(peak < 6 * walLimitBytes, `peak ${peak}`);
  t.true(status.healthy);
  await store.close();

  const reopened = SqliteSecretStore.open(dir);
  t.teardown(() => reopened.close());
  t.is(await reopened.count(), written);
  t.is(reopened.checkpointStatus(), null, "a tool's connection keeps SQLite's own checkpoints");
});
