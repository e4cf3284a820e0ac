import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import { StoredShreddingKeys, messageKeyId } from '../../src/privacy/shreddingKeys.ts';
import { SqliteSecretStore } from '../../src/secrets/sqliteSecretStore.ts';
import { SecretBox } from '../../src/secrets/secretBox.ts';
import { parseKeyring } from '../../src/secrets/keyring.ts';
import { sealText, openText } from '../../src/privacy/sealing.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';

/**
 * What crypto-shredding costs (README, Privacy): a per-message key's create (an fsync'd commit of the secrets store,
 * grouped per event-loop turn), beside the event append it accompanies; a destroy with its WAL truncation; sealing and
 * opening one text; secure_delete on a read-store-like table.  npx tsx scripts/bench/shredding.ts
 */
{
  const store = new SqliteEventStore(join(mkdtempSync(join(tmpdir(), 'e-')), 'events.sqlite'));
  for (const concurrency of [1, 50]) {
    let i = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (i < 2000) {
          const n = i++;
          await store.append(
            `s-${concurrency}-${n}`,
            [
              {
                type: 'X',
                data: { n },
                metadata: { eventId: `${concurrency}-${n}`, correlationId: 'c', causationId: 'c', userId: null, timestamp: '' },
              },
            ],
            'no-stream',
          );
        }
      }),
    );
    const ms = performance.now() - t0;
    console.log(
      `baseline event append, concurrency ${concurrency}: ${((ms / 2000) * 1000).toFixed(0)} us/event, ${((2000 / ms) * 1000).toFixed(0)} events/s`,
    );
  }
  await store.close();
}

const box = await SecretBox.create(parseKeyring({ ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64') }));
const N = 2000;
for (const concurrency of [1, 50]) {
  const dir = mkdtempSync(join(tmpdir(), 'm-'));
  const store = SqliteSecretStore.open(dir);
  const keys = new StoredShreddingKeys(store, box);
  let i = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < N) await keys.create(messageKeyId(`m${i++}`));
    }),
  );
  const ms = performance.now() - t0;
  console.log(
    `per-message key create, concurrency ${concurrency}: ${((ms / N) * 1000).toFixed(0)} us/key, ${((N / ms) * 1000).toFixed(0)} keys/s`,
  );
  // destroy + residue
  const t1 = performance.now();
  for (let j = 0; j < 200; j++) await keys.destroy(messageKeyId(`m${j}`));
  console.log(`destroy (tombstone + WAL truncate, sequential): ${((performance.now() - t1) / 200).toFixed(2)} ms each`);
  await keys.close();
  await store.close();
}
// per-conversation epoch: one key lookup (cached) per message
const key = new Uint8Array(32).fill(9);
const t2 = performance.now();
for (let j = 0; j < 20000; j++) {
  const s = await sealText('hello world, a typical short message text', key, 'message:x', {
    eventId: `e${j}`,
    stream: 's',
    field: 'content.text',
  });
  openText(s, key, { eventId: `e${j}`, stream: 's', field: 'content.text' });
}
console.log(`seal+open one text: ${(((performance.now() - t2) / 20000) * 1000).toFixed(1)} us`);
// secure_delete cost on a read-store-like table
for (const secure of ['OFF', 'ON']) {
  const db = new Database(join(mkdtempSync(join(tmpdir(), 'r-')), 'r.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma(`secure_delete = ${secure}`);
  db.exec('CREATE TABLE d (id TEXT PRIMARY KEY, doc TEXT)');
  const ins = db.prepare('INSERT INTO d VALUES (?, ?)');
  const upd = db.prepare('UPDATE d SET doc = ? WHERE id = ?');
  const t3 = performance.now();
  db.transaction(() => {
    for (let j = 0; j < 50000; j++) ins.run(`m${j}`, JSON.stringify({ text: 'x'.repeat(200), j }));
  })();
  db.transaction(() => {
    for (let j = 0; j < 50000; j++) upd.run(JSON.stringify({ text: null, j }), `m${j}`);
  })();
  const [walBefore] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
  const t4 = performance.now();
  db.pragma('wal_checkpoint(TRUNCATE)');
  console.log(
    `secure_delete ${secure}: 50k inserts + 50k shrinking updates ${(t4 - t3).toFixed(0)} ms; TRUNCATE checkpoint after (${walBefore?.log ?? 0} frames) ${(performance.now() - t4).toFixed(1)} ms`,
  );
}
