import test from 'ava';
import Database from 'better-sqlite3';
import { join } from 'node:path';
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
    const stopped = await Promise.race([checkpointer.stop().then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 3_000))]);
    t.true(stopped, `stop() returned (round ${round})`);
  }
  db.close();
});
