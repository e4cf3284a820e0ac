import { existsSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import sharp from 'sharp';
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
  const upload = async (who: typeof a, text: string) =>
    (
      (await (
        await fetch(`${app.url}/api/media/upload?filename=f.txt`, {
          method: 'POST',
          headers: { authorization: `Bearer ${who.accessToken}`, 'content-type': 'text/plain' },
          body: text,
        })
      ).json()) as any
    ).media;
  const lonely = await upload(a, 'never attached');
  const attached = await upload(a, 'attached to a message');
  const sharedA = await upload(a, 'the same bytes');
  const sharedB = await upload(b, 'the same bytes');
  await request(app.url, 'POST', '/api/messages', {
    token: a.accessToken,
    body: { recipientId: b.user.id, text: 'f', attachments: [attached.id, sharedA.id] },
  });
  await request(app.url, 'POST', '/api/messages', {
    token: b.accessToken,
    body: { recipientId: a.user.id, text: 'mine', attachments: [sharedB.id] },
  });
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
  t.deepEqual(
    (await app.eventStore.readStream(`media-${lonely.id}`)).map((e) => e.type),
    ['MediaUploaded', 'MediaExpired'],
  );
  // The lonely upload's blob is young (within the grace) in real time: it goes on a later pass, not now.
  t.true(await blobs.exists(attached.sha256), 'attached: kept');
  t.true(await blobs.exists(sharedB.sha256), 'shared bytes: kept for the owner who did not delete them');
  t.is(
    (await fetch(`${app.url}/api/media/${lonely.id}`, { headers: { authorization: `Bearer ${a.accessToken}` } })).status,
    404,
    'an expired upload is gone',
  );
});

test("whether an upload is a group's icon is answered from an index, not a scan of every group", async (t) => {
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
  const plan = (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>)
    .map((row) => row.detail)
    .join(' | ');
  t.regex(plan, /USING (COVERING )?INDEX ix_/, sql);
  t.notRegex(plan, /SCAN c_groups/, sql);
});

test('identical bytes uploaded again while the collector walks the blobs are kept: the dedup refreshes the blob and the collector re-checks before deleting', async (t) => {
  const app = await startTestApp({ env: { MEDIA_GC_INTERVAL_MS: '0' } });
  t.teardown(() => app.dispose());
  const owner = await registerUser(app.url);
  const upload = async (text: string) =>
    (
      (await (
        await fetch(`${app.url}/api/media/upload?filename=f.txt`, {
          method: 'POST',
          headers: { authorization: `Bearer ${owner.accessToken}`, 'content-type': 'text/plain' },
          body: text,
        })
      ).json()) as any
    ).media;
  const first = await upload('bytes uploaded, deleted, and uploaded again');
  t.is((await request(app.url, 'DELETE', `/api/media/${first.id}`, { token: owner.accessToken })).status, 204);
  const store = await new LocalBlobStore(join(app.storageDir, 'media')).init();
  const old = new Date(Date.now() - 2 * HOUR);
  utimesSync(store.pathOf(first.sha256), old, old);

  // The same bytes arrive again just as the collector reaches their (old, unnamed) blob.
  let again: any;
  const walking = Object.create(store) as LocalBlobStore;
  walking.blobs = async function* () {
    for await (const blob of store.blobs()) {
      if (blob.sha256 === first.sha256) again = await upload('bytes uploaded, deleted, and uploaded again');
      yield blob;
    }
  };
  const deps = { readStore: app.readStore, commands: new CommandHandler(app.eventStore, eventUpcaster), blobs: walking };
  await collectMedia(deps, { now: new Date(), unattachedTtlMs: 86_400_000, graceMs: HOUR, dryRun: false });

  t.is(again.sha256, first.sha256, 'stored once, by content');
  t.true(await store.exists(first.sha256), 'the blob the fresh upload names is kept');
  t.is((await fetch(`${app.url}/api/media/${again.id}`, { headers: { authorization: `Bearer ${owner.accessToken}` } })).status, 200);
  t.deepEqual(
    (await app.eventStore.readStream(`media-${again.id}`)).map((e) => e.type),
    ['MediaUploaded'],
  );
  // And a later pass, once the fresh upload is an hour old too, still keeps what a live file names.
  await collectMedia(
    { ...deps, blobs: store },
    { now: new Date(Date.now() + 2 * HOUR), unattachedTtlMs: 86_400_000, graceMs: HOUR, dryRun: false },
  );
  t.true(await store.exists(first.sha256));
});

test('a send that attaches a file the collector is expiring at that same moment: the file stays, attached and readable', async (t) => {
  let now = Date.now();
  const app = await startTestApp({ env: { MEDIA_GC_INTERVAL_MS: '0' }, clock: () => new Date(now) });
  t.teardown(() => app.dispose());
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const file = (
    (await (
      await fetch(`${app.url}/api/media/upload?filename=f.txt`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.accessToken}`, 'content-type': 'text/plain' },
        body: 'attached just in time',
      })
    ).json()) as any
  ).media;
  now += 2 * 86_400_000; // a day past its time to be attached

  // The collector has found it unattached; the send lands between that read and its expiry.
  const commands = new CommandHandler(app.eventStore, eventUpcaster);
  let sent: Awaited<ReturnType<typeof request>> | undefined;
  const racing = Object.create(commands) as CommandHandler;
  racing.handle = (async (decider: any, stream: string, command: any, options: any) => {
    if (command.type === 'ExpireMedia' && command.data.mediaId === file.id && !sent) {
      sent = await request(app.url, 'POST', '/api/messages', {
        token: a.accessToken,
        body: { recipientId: b.user.id, text: 'here', attachments: [file.id] },
      });
    }
    return commands.handle(decider, stream, command, options);
  }) as CommandHandler['handle'];
  const blobs = await new LocalBlobStore(join(app.storageDir, 'media')).init();
  const summary = await collectMedia(
    { readStore: app.readStore, commands: racing, blobs },
    { now: new Date(now), unattachedTtlMs: 86_400_000, graceMs: HOUR, dryRun: false },
  );

  t.is(sent?.status, 201);
  t.is(summary.expired, 0);
  t.false(
    (await app.eventStore.readStream(`media-${file.id}`)).some((e) => e.type === 'MediaExpired'),
    'not expired under the message',
  );
  t.is(
    (await fetch(`${app.url}/api/media/${file.id}`, { headers: { authorization: `Bearer ${b.accessToken}` } })).status,
    200,
    'the recipient reads it',
  );
  const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
  t.like(page.body.messages[0].files[0], { id: file.id, deleted: false });
});

test('thumbnails are bounded by bytes: past the budget the collector evicts those served least recently, and a request makes one again', async (t) => {
  const app = await startTestApp({ env: { MEDIA_GC_INTERVAL_MS: '0' } });
  t.teardown(() => app.dispose());
  const owner = await registerUser(app.url);
  const auth = { authorization: `Bearer ${owner.accessToken}` };
  const image = async (background: string) => {
    const form = new FormData();
    form.append(
      'file',
      new Blob([
        await sharp({
          create: { width: 600, height: 400, channels: 3, background: background, noise: { type: 'gaussian', mean: 128, sigma: 40 } },
        })
          .png()
          .toBuffer(),
      ]),
      `${background}.png`,
    );
    return ((await (await fetch(`${app.url}/api/media/upload`, { method: 'POST', headers: auth, body: form })).json()) as any).media;
  };
  const [served, forgotten] = [await image('#a00'), await image('#0a0')];
  const thumbnail = (id: string) => fetch(`${app.url}/api/media/${id}/thumbnail?width=256&height=256`, { headers: auth });
  t.is((await thumbnail(served.id)).status, 200);
  t.is((await thumbnail(forgotten.id)).status, 200);
  const blobs = await new LocalBlobStore(join(app.storageDir, 'media')).init();
  const thumbnails = async () => {
    const found: Array<{ sha256: string; size: number }> = [];
    for await (const blob of blobs.blobs())
      if (blob.path !== blobs.pathOf(blob.sha256)) found.push({ sha256: blob.sha256, size: blob.size });
    return found;
  };
  const made = await thumbnails();
  t.is(made.length, 2);
  const old = new Date(Date.now() - 3 * HOUR);
  for await (const blob of blobs.blobs()) if (blob.path !== blobs.pathOf(blob.sha256)) utimesSync(blob.path, old, old);
  t.is((await thumbnail(served.id)).status, 200, 'served again: now the most recently used');

  const budget = Math.max(...made.map((file) => file.size)) + 1;
  const summary = await collectMedia(
    { readStore: app.readStore, commands: new CommandHandler(app.eventStore, eventUpcaster), blobs },
    { now: new Date(), unattachedTtlMs: 86_400_000, graceMs: HOUR, dryRun: false, derivedMaxBytes: budget },
  );
  const left = await thumbnails();
  t.deepEqual(
    left.map((file) => file.sha256),
    [served.sha256],
    'the one not served for longest is evicted',
  );
  t.true(left.reduce((sum, file) => sum + file.size, 0) <= budget);
  t.is(summary.derivedEvicted, 1);
  t.true(await blobs.exists(forgotten.sha256), 'the file itself is untouched');
  t.is((await thumbnail(forgotten.id)).status, 200, 'made again on request');
});
