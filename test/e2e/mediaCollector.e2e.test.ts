import { existsSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { CommandHandler } from '../../src/commandHandler.ts';
import { LocalBlobStore } from '../../src/media/blobStore.ts';
import { collectMedia } from '../../src/media/mediaCollector.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { GROUPS } from '../../projections/groups.ts';
import { registerUser, request, startTestApp } from '../helpers/app.ts';

const HOUR = 3_600_000;

test('the collector expires uploads never attached, deletes bytes no live file names (also orphans and stale temp files), and keeps shared bytes', async (t) => {
  const app = await startTestApp({ env: { MEDIA_GC_INTERVAL_MS: '0' } });
  t.teardown(() => app.dispose());
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const upload = async (who: typeof a, text: string) => (await (await fetch(`${app.url}/api/media/upload?filename=f.txt`, {
    method: 'POST', headers: { authorization: `Bearer ${who.accessToken}`, 'content-type': 'text/plain' }, body: text,
  })).json() as any).media;
  const lonely = await upload(a, 'never attached');
  const attached = await upload(a, 'attached to a message');
  const sharedA = await upload(a, 'the same bytes');
  const sharedB = await upload(b, 'the same bytes');
  await request(app.url, 'POST', '/api/messages', { token: a.accessToken, body: { recipientId: b.user.id, text: 'f', attachments: [attached.id, sharedA.id] } });
  await request(app.url, 'POST', '/api/messages', { token: b.accessToken, body: { recipientId: a.user.id, text: 'mine', attachments: [sharedB.id] } });
  await request(app.url, 'DELETE', `/api/media/${sharedA.id}`, { token: a.accessToken });

  const blobs = await new LocalBlobStore(join(app.storageDir, 'media')).init();
  const orphan = 'f'.repeat(64);
  const orphanPath = blobs.pathOf(orphan);
  await (await import('node:fs/promises')).mkdir(join(orphanPath, '..'), { recursive: true });
  writeFileSync(orphanPath, 'written, never recorded: a crash between the two');
  const staleTemp = blobs.tempPath();
  writeFileSync(staleTemp, 'half an upload');
  const old = new Date(Date.now() - 2 * HOUR);
  utimesSync(orphanPath, old, old);
  utimesSync(staleTemp, old, old);

  const deps = { readStore: app.readStore, commands: new CommandHandler(app.eventStore, eventUpcaster), blobs };
  const later = { now: new Date(Date.now() + 2 * 86_400_000), unattachedTtlMs: 86_400_000, graceMs: HOUR };
  const dry = await collectMedia(deps, { ...later, dryRun: true });
  t.like(dry, { expired: 1, tempsDeleted: 1 });
  t.true(existsSync(orphanPath) && existsSync(staleTemp), 'a dry run deletes nothing');

  const done = await collectMedia(deps, { ...later, dryRun: false });
  t.like(done, { expired: 1, tempsDeleted: 1 });
  t.false(existsSync(orphanPath), 'the orphan is gone');
  t.false(existsSync(staleTemp));
  await app.projections.waitFor(await app.eventStore.headPosition());
  t.deepEqual((await app.eventStore.readStream(`media-${lonely.id}`)).map((e) => e.type), ['MediaUploaded', 'MediaExpired']);
  // The lonely upload's blob is young (within the grace) in real time: it goes on a later pass, not now.
  t.true(await blobs.exists(attached.sha256), 'attached: kept');
  t.true(await blobs.exists(sharedB.sha256), 'shared bytes: kept for the owner who did not delete them');
  t.is((await fetch(`${app.url}/api/media/${lonely.id}`, { headers: { authorization: `Bearer ${a.accessToken}` } })).status, 404, 'an expired upload is gone');
});

test('whether an upload is a group\'s icon is answered from an index, not a scan of every group', async (t) => {
  const app = await startTestApp({ env: { MEDIA_GC_INTERVAL_MS: '0' } });
  t.teardown(() => app.dispose());
  const store = app.readStore as SqliteReadStore;
  const prepared: string[] = [];
  const prepare = store.prepare.bind(store);
  store.prepare = (sql, db) => {
    prepared.push(sql);
    return prepare(sql, db);
  };
  await store.collection(GROUPS).countDocuments({ iconMediaId: 'some-upload' }, { limit: 1 });
  const sql = prepared.find((text) => text.startsWith('SELECT count'))!;
  const params = Array.from({ length: (sql.match(/\?/g) ?? []).length }, () => null);
  const plan = (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((row) => row.detail).join(' | ');
  t.regex(plan, /USING (COVERING )?INDEX ix_/, sql);
  t.notRegex(plan, /SCAN c_groups/, sql);
});
