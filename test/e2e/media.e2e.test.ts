import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import Database from 'better-sqlite3';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { CommandHandler } from '../../src/commandHandler.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { LocalBlobStore } from '../../src/media/blobStore.ts';
import { collectMedia } from '../../src/media/mediaCollector.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { registerUser, request, startTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { spawnServer } from '../helpers/process.ts';
import { connect } from '../helpers/socket.ts';
import { pngBomb } from '../helpers/images.ts';
import { DEVICE, GPS, MEDIA_DATA, phoneVideo } from '../helpers/mp4.ts';

/** Files: checked by their bytes, stored by content, read only by whoever may, served safely. Tests that look into the temp dir run serially, before the others. */
let app: TestApp;
test.before(async () => {
  app = await startTestApp({ env: { MEDIA_MAX_BYTES: String(2 * 1024 * 1024), MEDIA_UPLOAD_TIMEOUT_MS: '500' } });
});
test.after.always(async () => {
  await app.dispose();
});

type User = Awaited<ReturnType<typeof registerUser>>;
const auth = (who: User) => ({ authorization: `Bearer ${who.accessToken}` });
const upload = (who: User, body: RequestInit['body'], contentType: string, query = '') =>
  fetch(`${app.url}/api/media/upload${query}`, { method: 'POST', headers: { ...auth(who), 'content-type': contentType }, body });
const multipart = (who: User, bytes: Buffer, filename: string, type = 'application/octet-stream') => {
  const form = new FormData();
  form.append('file', new Blob([bytes], { type }), filename);
  return fetch(`${app.url}/api/media/upload`, { method: 'POST', headers: auth(who), body: form });
};
const tempFiles = () => readdirSync(join(app.storageDir, 'media', 'tmp'));
const jpegWithGps = () =>
  sharp({ create: { width: 64, height: 32, channels: 3, background: '#3a7' } })
    .withExif({ IFD0: { Make: 'Spy Camera' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 0/1' } })
    .jpeg()
    .toBuffer();

test('an image is re-encoded without its EXIF and GPS; the uploader downloads it with safe headers, ranges and ETags', async (t) => {
  const owner = await registerUser(app.url);
  const original = await jpegWithGps();
  t.truthy((await sharp(original).metadata()).exif, 'the original carries EXIF');
  const response = await multipart(owner, original, 'holiday.jpg');
  t.is(response.status, 201);
  const { media } = (await response.json()) as any;
  t.like(media, { kind: 'image', mime: 'image/jpeg', width: 64, height: 32, filename: 'holiday.jpg' });

  const download = await fetch(`${app.url}/api/media/${media.id}`, { headers: auth(owner) });
  t.is(download.status, 200);
  const bytes = Buffer.from(await download.arrayBuffer());
  t.is((await sharp(bytes).metadata()).exif, undefined, 'no EXIF, no GPS');
  t.is(download.headers.get('content-type'), 'image/jpeg');
  t.is(download.headers.get('x-content-type-options'), 'nosniff');
  t.is(download.headers.get('content-security-policy'), "sandbox; default-src 'none'");
  t.regex(download.headers.get('content-disposition') ?? '', /^inline; filename=/);
  t.is(download.headers.get('etag'), `"${media.sha256}"`);
  t.is(
    (await fetch(`${app.url}/api/media/${media.id}`, { headers: { ...auth(owner), 'if-none-match': `"${media.sha256}"` } })).status,
    304,
  );
  const part = await fetch(`${app.url}/api/media/${media.id}`, { headers: { ...auth(owner), range: 'bytes=0-9' } });
  t.is(part.status, 206);
  t.is(part.headers.get('content-range'), `bytes 0-9/${media.size}`);
  t.is((await fetch(`${app.url}/api/media/${media.id}`, { headers: { ...auth(owner), range: `bytes=${media.size + 10}-` } })).status, 416);
  t.is(
    (await fetch(`${app.url}/api/media/${media.id}`, { method: 'HEAD', headers: auth(owner) })).headers.get('content-length'),
    String(media.size),
  );
});

test.serial(
  'bytes decide: HTML named .png, SVG with onload and a zip are refused (415); PNG bytes named .pdf are an extension mismatch',
  async (t) => {
    const owner = await registerUser(app.url);
    const refused = [
      await multipart(owner, Buffer.from('<!doctype html><script>alert(1)</script>'), 'cat.png', 'image/png'),
      await multipart(owner, Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'), 'logo.svg', 'image/svg+xml'),
      await upload(owner, Buffer.from('PK\u0003\u0004 not really a zip but zip magic'), 'application/zip', '?filename=a.zip'),
    ];
    for (const response of refused) {
      t.is(response.status, 415);
      t.is(((await response.json()) as any).error.code, 'unsupported_media_type');
    }
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    const mismatch = await multipart(owner, png, 'report.pdf');
    t.is(mismatch.status, 415);
    t.is(((await mismatch.json()) as any).error.code, 'extension_mismatch');
    t.deepEqual(tempFiles(), [], 'nothing left behind');
  },
);

test.serial('one byte over the limit of the sniffed type is a 413 with no temp file; a stalled upload is cut and cleaned', async (t) => {
  const owner = await registerUser(app.url);
  const tooBig = Buffer.alloc(2 * 1024 * 1024 + 1, 0x61);
  const response = await upload(owner, tooBig, 'text/plain', '?filename=big.txt');
  t.true([413, 415].includes(response.status), `text over 1 MiB: ${response.status}`);
  t.deepEqual(tempFiles(), []);

  const stalled = await fetch(`${app.url}/api/media/upload?filename=slow.txt`, {
    method: 'POST',
    headers: { ...auth(owner), 'content-type': 'text/plain' },
    body: new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('first bytes, then nothing'));
      },
    }),
    duplex: 'half',
  }).then(
    (r) => r.status,
    () => 'dropped',
  );
  t.true(stalled === 400 || stalled === 'dropped', `stalled upload: ${stalled}`);
  // The connection may drop before the server has finished cleaning up: give it a moment.
  for (let i = 0; i < 40 && tempFiles().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(tempFiles(), []);
});

test.serial(
  "a multipart upload one byte over its type's limit is answered 413 at once, like a raw body, with no temp file and no event",
  async (t) => {
    const owner = await registerUser(app.url);
    const before = await app.eventStore.headPosition();
    const started = performance.now();
    // Text is limited to 1 MiB (MEDIA_MAX_BYTES here is 2 MiB): the part is refused by its sniffed type's limit.
    const response = await Promise.race([
      multipart(owner, Buffer.alloc(1024 * 1024 + 1, 0x61), 'big.txt', 'text/plain'),
      new Promise<'unanswered'>((resolve) => setTimeout(() => resolve('unanswered'), 10_000)),
    ]);
    t.not(response, 'unanswered', 'answered, not left hanging');
    if (response === 'unanswered') return;
    t.is(response.status, 413);
    t.like(await response.json(), { error: { code: 'payload_too_large', details: { maxBytes: 1024 * 1024 } } });
    t.true(performance.now() - started < 5_000);
    for (let i = 0; i < 40 && tempFiles().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    t.deepEqual(tempFiles(), [], 'no temp file left');
    t.deepEqual(
      (await app.eventStore.readAll({ after: before })).filter((event) => event.type.startsWith('Media')),
      [],
      'nothing recorded',
    );
  },
);

test.serial(
  'markup is refused however far it is pushed past the sniffed head, and however it opens: 415, nothing recorded, no temp file',
  async (t) => {
    const owner = await registerUser(app.url);
    const before = await app.eventStore.headPosition();
    const hostile = [
      `${' '.repeat(5_000)}<html><script>alert(document.cookie)</script></html>`,
      `${'\n'.repeat(8_000)}<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`,
      '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "svg11.dtd"><svg onload="alert(1)"/>',
      '<svg:svg xmlns:svg="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    ];
    for (const text of hostile) {
      const response = await upload(owner, Buffer.from(text), 'text/plain', '?filename=notes.txt');
      t.is(response.status, 415, text.trim().slice(0, 30));
      t.is(((await response.json()) as any).error.code, 'unsupported_media_type');
    }
    t.deepEqual(tempFiles(), []);
    t.deepEqual(
      (await app.eventStore.readAll({ after: before })).filter((event) => event.type.startsWith('Media')),
      [],
      'nothing recorded',
    );
  },
);

test('the byte quota is reserved before the bytes stream: four parallel 900 KB uploads against 1 MiB store one', async (t) => {
  const limited = await startTestApp({ env: { MEDIA_QUOTA_BYTES: String(1024 * 1024) } });
  t.teardown(() => limited.dispose());
  const user = await registerUser(limited.url);
  // Each body trickles in, so all four are in flight together, as four phones on a slow network would be.
  const slowBody = (n: number) => {
    let sent = 0;
    return new ReadableStream({
      async pull(controller) {
        if (sent >= 900 * 1024) return controller.close();
        await new Promise((resolve) => setTimeout(resolve, 20));
        controller.enqueue(new TextEncoder().encode(String(n).repeat(90 * 1024)));
        sent += 90 * 1024;
      },
    });
  };
  const statuses = await Promise.all(
    [1, 2, 3, 4].map((n) =>
      fetch(`${limited.url}/api/media/upload?filename=${n}.txt`, {
        method: 'POST',
        headers: { ...auth(user), 'content-type': 'text/plain' },
        body: slowBody(n),
        duplex: 'half',
      }).then(
        async (response) => ({ status: response.status, body: (await response.json()) as any }),
        () => ({ status: 0, body: null }),
      ),
    ),
  );
  t.deepEqual(statuses.map((s) => s.status).sort(), [201, 403, 403, 403], JSON.stringify(statuses));
  for (const refused of statuses.filter((s) => s.status === 403)) t.is(refused.body.error.code, 'quota_exceeded');
  const uploaded = (await limited.eventStore.readAll()).filter((event) => event.type === 'MediaUploaded');
  t.is(uploaded.length, 1, 'one upload recorded');
  t.true(
    uploaded.reduce((sum, event) => sum + (event.data as { size: number }).size, 0) <= 1024 * 1024,
    'never more than the quota stored',
  );
  t.deepEqual(readdirSync(join(limited.storageDir, 'media', 'tmp')), [], 'the refused ones left no temp file');
});

test('an upload whose declared size does not fit the quota is refused before its body is read', async (t) => {
  const limited = await startTestApp({ env: { MEDIA_QUOTA_BYTES: String(64 * 1024), MEDIA_UPLOAD_TIMEOUT_MS: '5000' } });
  t.teardown(() => limited.dispose());
  const user = await registerUser(limited.url);
  // It declares 100 KB and sends only its first bytes: an answer now is an answer given before reading the body.
  const answer = await new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = httpRequest(
      `${limited.url}/api/media/upload?filename=big.txt`,
      {
        method: 'POST',
        headers: { ...auth(user), 'content-type': 'text/plain', 'content-length': String(100 * 1024) },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => {
          resolve({ status: res.statusCode!, body: JSON.parse(text) });
          req.destroy();
        });
      },
    );
    req.on('error', reject);
    req.write('x'.repeat(1024));
  });
  t.is(answer.status, 403);
  t.like(answer.body, { error: { code: 'quota_exceeded', details: { usedBytes: 0, maxBytes: 64 * 1024 } } });
  t.deepEqual(
    (await limited.eventStore.readAll()).filter((event) => event.type.startsWith('Media')),
    [],
  );
});

test('who may read a file: the uploader, the readers of a message attaching it, not others, not a removed member; tokens for <img>', async (t) => {
  const [owner, member, outsider] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const { media } = (await (await upload(owner, Buffer.from('meeting notes'), 'text/plain', '?filename=notes.txt')).json()) as any;
  const get = (who: User) => fetch(`${app.url}/api/media/${media.id}`, { headers: auth(who) }).then((r) => r.status);
  t.is(await get(member), 404, 'not attached to anything the member reads yet');
  const group = (
    await request(app.url, 'POST', '/api/groups', { token: owner.accessToken, body: { name: 'Files', memberIds: [member.user.id] } })
  ).body.group;
  const sent = await request(app.url, 'POST', '/api/messages', {
    token: owner.accessToken,
    body: { groupId: group.id, text: 'see file', attachments: [media.id] },
  });
  t.is(sent.status, 201);
  t.is(await get(member), 200);
  t.is(await get(outsider), 404);
  const text = await fetch(`${app.url}/api/media/${media.id}`, { headers: auth(member) });
  t.regex(text.headers.get('content-disposition') ?? '', /^attachment;/, 'text is never rendered inline');

  const { token } = (await request(app.url, 'POST', `/api/media/${media.id}/token`, { token: member.accessToken })).body;
  t.is((await fetch(`${app.url}/api/media/${media.id}?token=${token}`)).status, 200, 'a token instead of a header');
  t.is((await fetch(`${app.url}/api/media/${media.id}?token=${member.accessToken}`)).status, 404, 'an access token is not a media token');
  const otherFile = ((await (await upload(member, Buffer.from('mine'), 'text/plain', '?filename=m.txt')).json()) as any).media;
  t.is((await fetch(`${app.url}/api/media/${otherFile.id}?token=${token}`)).status, 404, 'a token is for one file');
  t.is((await request(app.url, 'POST', `/api/media/${media.id}/token`, { token: outsider.accessToken })).status, 404);

  t.is((await request(app.url, 'DELETE', `/api/groups/${group.id}/members/${member.user.id}`, { token: owner.accessToken })).status, 204);
  t.is(await get(member), 404, "a removed member no longer reads the group's files");
  for (const id of ['..%2F..%2Fpackage.json', '%2e%2e', 'not-a-uuid'])
    t.true([400, 404].includes((await fetch(`${app.url}/api/media/${id}`, { headers: auth(owner) })).status));
});

test("delete: the uploader only; a message keeps a tombstone; identical bytes are stored once and survive one owner's delete", async (t) => {
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const same = Buffer.from(`identical bytes ${Date.now()}`);
  const first = ((await (await upload(a, same, 'text/plain', '?filename=a.txt')).json()) as any).media;
  const second = ((await (await upload(b, same, 'text/plain', '?filename=b.txt')).json()) as any).media;
  t.not(first.id, second.id);
  t.is(first.sha256, second.sha256);
  await request(app.url, 'POST', '/api/messages', {
    token: a.accessToken,
    body: { recipientId: b.user.id, text: 'file', attachments: [first.id] },
  });
  t.is((await request(app.url, 'DELETE', `/api/media/${first.id}`, { token: b.accessToken })).status, 404, 'not yours: not found');
  t.is((await request(app.url, 'DELETE', `/api/media/${first.id}`, { token: a.accessToken })).status, 204);
  const page = await request(app.url, 'GET', `/api/messages?with=${a.user.id}`, { token: b.accessToken });
  t.like(page.body.messages[0].files[0], { id: first.id, deleted: true, filename: null });
  t.is((await fetch(`${app.url}/api/media/${first.id}`, { headers: auth(a) })).status, 404);
  t.is((await fetch(`${app.url}/api/media/${second.id}`, { headers: auth(b) })).status, 200, "the other owner's file still reads");

  const retried = [
    await upload(a, Buffer.from('retry me'), 'text/plain', '?clientUploadId=up-1'),
    await upload(a, Buffer.from('retry me'), 'text/plain', '?clientUploadId=up-1'),
  ];
  t.deepEqual(
    retried.map((r) => r.status),
    [201, 200],
  );
});

test('quotas: over the file count the upload is a 403 with the usage', async (t) => {
  const limited = await startTestApp({ env: { MEDIA_QUOTA_FILES: '2' } });
  t.teardown(() => limited.dispose());
  const user = await registerUser(limited.url);
  const post = (n: number) =>
    fetch(`${limited.url}/api/media/upload?filename=${n}.txt`, {
      method: 'POST',
      headers: { ...auth(user), 'content-type': 'text/plain' },
      body: `file ${n}`,
    });
  t.deepEqual([(await post(1)).status, (await post(2)).status], [201, 201]);
  const over = await post(3);
  t.is(over.status, 403);
  t.like(await over.json(), { error: { code: 'quota_exceeded', details: { usedFiles: 2, maxFiles: 2 } } });
});

test('a profile picture: square webp variants, shown per the avatar privacy setting', async (t) => {
  const [owner, contact, stranger] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  await request(app.url, 'POST', '/api/contacts', { token: owner.accessToken, body: { userId: contact.user.id } });
  await request(app.url, 'POST', '/api/messages', { token: contact.accessToken, body: { recipientId: owner.user.id, text: 'hi' } });
  const contactSocket = await connect(app.wsUrl, contact.accessToken);
  t.teardown(() => contactSocket.close());
  contactSocket.send({ type: 'sync', id: 's' });
  await contactSocket.next((f) => f.id === 's');
  const picture = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#c33' } })
    .png()
    .toBuffer();
  const form = new FormData();
  form.append('file', new Blob([picture], { type: 'image/png' }), 'me.png');
  const set = await fetch(`${app.url}/api/users/profile-picture`, { method: 'POST', headers: auth(owner), body: form });
  t.is(set.status, 200);
  const { profile } = (await set.json()) as any;
  t.truthy(profile.avatarMediaId);
  t.like(
    await contactSocket.next((f) => f.type === 'user.updated' && f.userId === owner.user.id),
    { profile: { avatarMediaId: profile.avatarMediaId } },
    'one user.updated to a direct peer, not a write per conversation',
  );
  const small = await fetch(`${app.url}/api/media/${profile.avatarMediaId}?size=48`, { headers: auth(stranger) });
  t.is(small.status, 200, 'avatars are shown to everyone by default');
  t.is(small.headers.get('content-type'), 'image/webp');
  t.like(await sharp(Buffer.from(await small.arrayBuffer())).metadata(), { width: 48, height: 48, format: 'webp' });

  await request(app.url, 'PUT', '/api/users/profile', { token: owner.accessToken, body: { privacy: { avatar: 'contacts' } } });
  t.is((await fetch(`${app.url}/api/media/${profile.avatarMediaId}?size=128`, { headers: auth(stranger) })).status, 404);
  t.is((await fetch(`${app.url}/api/media/${profile.avatarMediaId}?size=128`, { headers: auth(contact) })).status, 200);
  t.is((await request(app.url, 'GET', `/api/users/${owner.user.id}`, { token: stranger.accessToken })).body.user.avatarMediaId, null);
  t.is((await request(app.url, 'DELETE', '/api/users/profile-picture', { token: owner.accessToken })).status, 204);
  t.is((await request(app.url, 'GET', '/api/users/profile', { token: owner.accessToken })).body.profile.avatarMediaId, null);
});

test("a group icon is an image of the admin who sets it; the group's members read it, nobody else; someone else's file is refused", async (t) => {
  const [admin, member, outsider] = [await registerUser(app.url), await registerUser(app.url), await registerUser(app.url)];
  const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#09f' } })
    .png()
    .toBuffer();
  const icon = ((await (await multipart(admin, png, 'icon.png')).json()) as any).media;
  const outsidersFile = ((await (await upload(outsider, Buffer.from('private'), 'text/plain', '?filename=p.txt')).json()) as any).media;
  const stolen = await request(app.url, 'POST', '/api/groups', {
    token: admin.accessToken,
    body: { name: 'Thieves', iconMediaId: outsidersFile.id },
  });
  t.is(stolen.status, 422);
  t.is(stolen.body.error.code, 'invalid_attachment');
  const group = (
    await request(app.url, 'POST', '/api/groups', {
      token: admin.accessToken,
      body: { name: 'Icons', memberIds: [member.user.id], iconMediaId: icon.id },
    })
  ).body.group;
  t.is(group.iconMediaId, icon.id);
  t.is((await fetch(`${app.url}/api/media/${icon.id}`, { headers: auth(member) })).status, 200);
  t.is((await fetch(`${app.url}/api/media/${icon.id}`, { headers: auth(outsider) })).status, 404);
  const memberCannot = await request(app.url, 'PUT', `/api/groups/${group.id}`, {
    token: admin.accessToken,
    body: { iconMediaId: outsidersFile.id },
  });
  t.is(memberCannot.status, 422);
});

test('thumbnails: made on first request, never upscaled, same access as the file, kept', async (t) => {
  const [owner, outsider] = [await registerUser(app.url), await registerUser(app.url)];
  const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#777' } })
    .png()
    .toBuffer();
  const { media } = (await (await multipart(owner, png, 'wide.png')).json()) as any;
  const thumb = (query: string, who = owner) => fetch(`${app.url}/api/media/${media.id}/thumbnail?${query}`, { headers: auth(who) });
  const cropped = await thumb('width=64&height=64&method=crop');
  t.is(cropped.status, 200);
  t.is(cropped.headers.get('content-type'), 'image/webp');
  t.like(await sharp(Buffer.from(await cropped.arrayBuffer())).metadata(), { width: 64, height: 64 });
  const big = await thumb('width=1024&height=1024');
  t.like(await sharp(Buffer.from(await big.arrayBuffer())).metadata(), { width: 300, height: 200 }, 'never upscaled');
  t.is((await thumb('width=64&height=64&method=crop')).headers.get('etag'), cropped.headers.get('etag'), 'the same kept file');
  t.is((await thumb('width=64&height=64', outsider)).status, 404);
  t.is((await thumb('width=8&height=64')).status, 400);
});

test('thumbnails come in a fixed set of sizes: forty different requests make at most ten files, and append nothing', async (t) => {
  const owner = await registerUser(app.url);
  const png = await sharp({ create: { width: 1200, height: 900, channels: 3, background: '#468' } })
    .png()
    .toBuffer();
  const { media } = (await (await multipart(owner, png, 'big.png')).json()) as any;
  const sizes = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const width = 16 + i * 25;
    const method = i % 2 === 0 ? 'scale' : 'crop';
    const response = await fetch(
      `${app.url}/api/media/${media.id}/thumbnail?width=${width}&height=${Math.max(16, 1024 - width)}&method=${method}`,
      { headers: auth(owner) },
    );
    t.is(response.status, 200);
    const { width: w, height: h } = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
    sizes.add(`${w}x${h}`);
    // A 1024 crop of a 1200 × 900 image is 900 × 900: never upscaled.
    t.true([64, 128, 256, 512, 1024, 900].includes(Math.max(w, h)), `${w}x${h}: its longer side is one of the fixed sizes`);
  }
  const blobDir = join(app.storageDir, 'media', 'blobs', media.sha256.slice(0, 2), media.sha256.slice(2, 4));
  const derived = readdirSync(blobDir).filter((name) => name.startsWith(`${media.sha256}.`));
  t.true(derived.length <= 10, `${derived.length} thumbnails kept for 40 requests`);
  t.is(derived.length, sizes.size);
  t.deepEqual(
    (await app.eventStore.readStream(`media-${media.id}`)).map((event) => event.type),
    ['MediaUploaded'],
    'a thumbnail is no event',
  );
});

test('a phone video reaches its recipient without its location or device: the MP4 is stored stripped, and that is what the event records', async (t) => {
  const [owner, friend] = [await registerUser(app.url), await registerUser(app.url)];
  const original = phoneVideo();
  const response = await multipart(owner, original, 'VID_20260101.mp4', 'video/mp4');
  t.is(response.status, 201);
  const { media } = (await response.json()) as any;
  t.like(media, { kind: 'video', mime: 'video/mp4', size: original.length });
  await request(app.url, 'POST', '/api/messages', {
    token: owner.accessToken,
    body: { recipientId: friend.user.id, text: 'look', attachments: [media.id] },
  });
  const received = Buffer.from(await (await fetch(`${app.url}/api/media/${media.id}`, { headers: auth(friend) })).arrayBuffer());
  t.false(received.includes(GPS), 'no coordinates');
  t.false(received.includes(DEVICE), 'no device model');
  t.true(received.includes(MEDIA_DATA), 'the video itself is untouched');
  t.is(received.length, original.length);
  const sha256 = createHash('sha256').update(received).digest('hex');
  t.is(media.sha256, sha256, 'addressed by the stored bytes');
  const recorded = (await app.eventStore.readStream(`media-${media.id}`)).map((event) => [
    event.type,
    (event.data as { sha256: string }).sha256,
  ]);
  t.deepEqual(recorded, [['MediaUploaded', sha256]]);
});

test('kill -9 mid-upload: no event records it, and the half-written temp file is collected', async (t) => {
  const storageDir = tempDir();
  const server = await spawnServer(storageDir, { MEDIA_GC_INTERVAL_MS: '0' });
  const user = (
    await request(server.url, 'POST', '/auth/register', {
      body: { email: `crashup_${process.pid}@example.test`, username: `crashup_${process.pid}`, password: 'a long password' },
    })
  ).body;
  let sent = 0;
  const body = new ReadableStream({
    async pull(controller) {
      if (sent > 2) return new Promise(() => undefined); // then it stalls, mid-body
      sent++;
      controller.enqueue(new TextEncoder().encode('x'.repeat(50_000)));
    },
  });
  const uploading = fetch(`${server.url}/api/media/upload?filename=big.txt`, {
    method: 'POST',
    headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'text/plain' },
    body,
    duplex: 'half',
  }).catch(() => 'dropped');
  const temps = () => readdirSync(join(storageDir, 'media', 'tmp'));
  for (let i = 0; i < 100 && temps().length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  t.is(temps().length, 1, 'the upload is being written');
  await server.kill9();
  t.is(await uploading, 'dropped');

  const restarted = await spawnServer(storageDir, { MEDIA_GC_INTERVAL_MS: '0' });
  t.teardown(() => restarted.stop());
  const events = new Database(join(storageDir, 'events.sqlite'), { readonly: true });
  t.is((events.prepare(`SELECT count(*) AS n FROM events WHERE type = 'MediaUploaded'`).get() as { n: number }).n, 0);
  events.close();
  const blobs = await new LocalBlobStore(join(storageDir, 'media')).init();
  const readStore = new SqliteReadStore(join(storageDir, 'read.sqlite'), { checkpoints: false });
  t.teardown(() => readStore.close());
  const eventStore = new SqliteEventStore(join(storageDir, 'events.sqlite'));
  t.teardown(() => eventStore.close());
  const summary = await collectMedia(
    { readStore, commands: new CommandHandler(eventStore, eventUpcaster), blobs },
    { now: new Date(Date.now() + 2 * 3_600_000), unattachedTtlMs: 86_400_000, graceMs: 3_600_000, dryRun: false },
  );
  t.is(summary.tempsDeleted, 1);
  t.deepEqual(temps(), []);
});

test('a pixel flood (a 30,000 × 30,000 PNG header) is refused quickly; a video over MEDIA_MAX_BYTES is a 413; a JPEG/HTML polyglot comes back as a plain JPEG', async (t) => {
  const owner = await registerUser(app.url);
  const started = performance.now();
  const flood = await multipart(owner, pngBomb(30_000, 30_000), 'flood.png');
  t.is(flood.status, 422);
  t.is(((await flood.json()) as any).error.code, 'image_too_large');
  t.true(performance.now() - started < 2_000, 'refused from the header, not by decoding 3.6 GB of pixels');

  const video = Buffer.alloc(2 * 1024 * 1024 + 1);
  Buffer.from([
    0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6f, 0x6d, 0, 0, 2, 0, 0x69, 0x73, 0x6f, 0x6d, 0x69, 0x73, 0x6f, 0x32,
  ]).copy(video);
  const tooBig = await upload(owner, video, 'video/mp4', '?filename=clip.mp4');
  t.is(tooBig.status, 413);

  const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123' } })
    .jpeg()
    .toBuffer();
  const polyglot = Buffer.concat([jpeg, Buffer.from('<html><script>alert(document.cookie)</script></html>')]);
  const { media } = (await (await multipart(owner, polyglot, 'innocent.jpg')).json()) as any;
  const served = await fetch(`${app.url}/api/media/${media.id}`, { headers: auth(owner) });
  t.is(served.headers.get('content-type'), 'image/jpeg');
  t.is(served.headers.get('x-content-type-options'), 'nosniff');
  t.regex(served.headers.get('content-security-policy') ?? '', /sandbox/);
  t.false(Buffer.from(await served.arrayBuffer()).includes('<script>'), 're-encoding dropped the HTML tail');
});

test('a multipart body cut short is a 400; one that stalls before its file part is cut after the idle timeout', async (t) => {
  const owner = await registerUser(app.url);
  const truncated = '--XX\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello';
  const cut = await fetch(`${app.url}/api/media/upload`, {
    method: 'POST',
    headers: { ...auth(owner), 'content-type': 'multipart/form-data; boundary=XX' },
    body: truncated,
  });
  t.is(cut.status, 400);
  const started = performance.now();
  const stalled = await fetch(`${app.url}/api/media/upload`, {
    method: 'POST',
    headers: { ...auth(owner), 'content-type': 'multipart/form-data; boundary=XX' },
    body: new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('--XX\r\nContent-Disposition: form-da'));
      },
    }),
    duplex: 'half',
  }).then(
    (r) => r.status,
    () => 'dropped',
  );
  t.true(stalled === 400 || stalled === 'dropped', String(stalled));
  t.true(performance.now() - started < 5_000, "cut after MEDIA_UPLOAD_TIMEOUT_MS, not Node's 300 s");
});
