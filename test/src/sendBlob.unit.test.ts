import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Koa from 'koa';
import contentDisposition from 'content-disposition';
import { pino } from 'pino';
import { errorMiddleware } from '../../src/http/errors.ts';
import { sendBlob, type BlobToSend } from '../../src/media/sendBlob.ts';

const SIZE = 1357;
const dir = mkdtempSync(join(tmpdir(), 'letsapp-sendblob-'));

/** Bytes that differ from their neighbours, so a wrong slice cannot look right. */
const content = (size: number) => Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + (i >> 8)) % 251));
const storeFile = (name: string, bytes: Buffer) => {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
};

const bytes = content(SIZE);
const stored = storeFile('blob', bytes);
const ETAG = `"${stored.sha256}"`;
const WEIRD_NAME = 'a\r\nb"c ü.png';
const big = storeFile('big', content(16 * 1024 * 1024));
const empty = storeFile('empty', Buffer.alloc(0));

const blobs = new Map<string, BlobToSend>([
  ['/photo', { ...stored, mime: 'image/png', filename: 'photo.png', inline: true }],
  ['/doc', { ...stored, mime: 'application/pdf', filename: 'report.pdf', inline: false }],
  ['/weird', { ...stored, mime: 'image/png', filename: WEIRD_NAME, inline: true }],
  ['/gone', { ...stored, path: join(dir, 'never-written'), mime: 'image/png', filename: 'x.png', inline: true }],
  ['/wrong-size', { ...stored, size: SIZE + 1, mime: 'image/png', filename: 'x.png', inline: true }],
  ['/big', { ...big, mime: 'video/mp4', filename: 'big.mp4', inline: true }],
  ['/empty', { ...empty, mime: 'text/plain', filename: 'empty.txt', inline: false }],
]);

let server: Server;
let base: string;

test.before(async () => {
  const app = new Koa();
  app.silent = true; // As in src/http/server.ts: a client that hangs up mid-download is not worth a stack trace.
  app.use(errorMiddleware(pino({ level: 'silent' })));
  app.use(async (ctx) => {
    const blob = blobs.get(ctx.path);
    if (blob) await sendBlob(ctx, blob);
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after.always(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(base + path, { method, headers });
const bodyOf = async (response: Response) => Buffer.from(await response.arrayBuffer());

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "sandbox; default-src 'none'",
  'cross-origin-resource-policy': 'same-site',
  'cache-control': 'private, max-age=3600',
  'accept-ranges': 'bytes',
  etag: ETAG,
};
const assertHeaders = (t: any, response: Response, expected: Record<string, string>) => {
  for (const [name, value] of Object.entries(expected)) t.is(response.headers.get(name), value, name);
};

test('GET answers 200 with the whole file and every download header', async (t) => {
  const response = await get('/photo');
  t.is(response.status, 200);
  assertHeaders(t, response, {
    ...SECURITY_HEADERS,
    'content-type': 'image/png',
    'content-length': String(SIZE),
    'content-disposition': 'inline; filename="photo.png"',
  });
  t.is(response.headers.get('content-range'), null);
  t.deepEqual(await bodyOf(response), bytes);
});

test('the sniffed type is sent as given, with no charset added', async (t) => {
  const response = await get('/empty');
  t.is(response.headers.get('content-type'), 'text/plain');
});

test('HEAD answers the same headers and Content-Length with no body', async (t) => {
  const [getResponse, headResponse] = await Promise.all([get('/doc'), get('/doc', {}, 'HEAD')]);
  await getResponse.arrayBuffer();
  t.is(headResponse.status, 200);
  for (const name of [...Object.keys(SECURITY_HEADERS), 'content-type', 'content-length', 'content-disposition']) {
    t.is(headResponse.headers.get(name), getResponse.headers.get(name), name);
  }
  t.is(headResponse.headers.get('content-length'), String(SIZE));
  t.is((await bodyOf(headResponse)).length, 0);
});

test('HEAD ignores Range (range handling is defined for GET only)', async (t) => {
  const response = await get('/photo', { Range: 'bytes=0-99' }, 'HEAD');
  t.is(response.status, 200);
  t.is(response.headers.get('content-length'), String(SIZE));
  t.is(response.headers.get('content-range'), null);
});

test('If-None-Match with the ETag, *, or a list holding its weak form answers 304 with no body', async (t) => {
  for (const ifNoneMatch of [ETAG, '*', `"other", W/${ETAG}`, `W/"x",${ETAG}`]) {
    const response = await get('/photo', { 'If-None-Match': ifNoneMatch });
    t.is(response.status, 304, ifNoneMatch);
    t.is(response.headers.get('etag'), ETAG);
    t.is(response.headers.get('cache-control'), 'private, max-age=3600');
    t.is((await bodyOf(response)).length, 0);
  }
  const head = await get('/photo', { 'If-None-Match': ETAG }, 'HEAD');
  t.is(head.status, 304);
});

test('If-None-Match with other tags answers 200 with the file', async (t) => {
  const response = await get('/photo', { 'If-None-Match': `"${'0'.repeat(64)}", W/"abc"` });
  t.is(response.status, 200);
  t.deepEqual(await bodyOf(response), bytes);
});

test('If-None-Match wins over Range', async (t) => {
  const response = await get('/photo', { 'If-None-Match': ETAG, Range: 'bytes=0-9' });
  t.is(response.status, 304);
});

test('Range bytes=0-99 answers 206 with exactly those bytes', async (t) => {
  const response = await get('/photo', { Range: 'bytes=0-99' });
  t.is(response.status, 206);
  assertHeaders(t, response, {
    ...SECURITY_HEADERS,
    'content-range': `bytes 0-99/${SIZE}`,
    'content-length': '100',
    'content-type': 'image/png',
    'content-disposition': 'inline; filename="photo.png"',
  });
  t.deepEqual(await bodyOf(response), bytes.subarray(0, 100));
});

test('a suffix range bytes=-10 answers the last 10 bytes', async (t) => {
  const response = await get('/photo', { Range: 'bytes=-10' });
  t.is(response.status, 206);
  t.is(response.headers.get('content-range'), `bytes ${SIZE - 10}-${SIZE - 1}/${SIZE}`);
  t.deepEqual(await bodyOf(response), bytes.subarray(SIZE - 10));
});

test('an open range bytes=1000- answers from there to the end', async (t) => {
  const response = await get('/photo', { Range: 'bytes=1000-' });
  t.is(response.status, 206);
  t.is(response.headers.get('content-range'), `bytes 1000-${SIZE - 1}/${SIZE}`);
  t.deepEqual(await bodyOf(response), bytes.subarray(1000));
});

test('an unsatisfiable range answers 416 with Content-Range bytes */size and the JSON error, none of the file', async (t) => {
  for (const range of ['bytes=5000-', `bytes=${SIZE}-`]) {
    const response = await get('/photo', { Range: range });
    t.is(response.status, 416, range);
    t.is(response.headers.get('content-range'), `bytes */${SIZE}`);
    t.is(response.headers.get('content-disposition'), null);
    t.like(JSON.parse((await bodyOf(response)).toString()), { error: { code: 'range_not_satisfiable', details: { size: SIZE } } });
  }
});

test('a malformed Range, or another unit, is ignored: 200 with the whole file', async (t) => {
  for (const range of ['bytes=abc', 'bytes', 'items=0-9']) {
    const response = await get('/photo', { Range: range });
    t.is(response.status, 200, range);
    t.is(response.headers.get('content-range'), null);
    t.deepEqual(await bodyOf(response), bytes);
  }
});

test('several ranges: only the first one asked for is served, as a single 206', async (t) => {
  const disjoint = await get('/photo', { Range: 'bytes=100-109, 0-9' });
  t.is(disjoint.status, 206);
  t.is(disjoint.headers.get('content-range'), `bytes 100-109/${SIZE}`);
  t.is(disjoint.headers.get('content-type'), 'image/png');
  t.deepEqual(await bodyOf(disjoint), bytes.subarray(100, 110));

  const overlapping = await get('/photo', { Range: 'bytes=0-10,5-20' });
  t.is(overlapping.headers.get('content-range'), `bytes 0-20/${SIZE}`);
  t.deepEqual(await bodyOf(overlapping), bytes.subarray(0, 21));
});

test('If-Range with the current ETag honours the Range', async (t) => {
  const response = await get('/photo', { Range: 'bytes=0-99', 'If-Range': ETAG });
  t.is(response.status, 206);
  t.deepEqual(await bodyOf(response), bytes.subarray(0, 100));
});

test('If-Range with another ETag, a weak one or a date answers 200 with the whole file', async (t) => {
  for (const ifRange of [`"${'0'.repeat(64)}"`, `W/${ETAG}`, new Date().toUTCString()]) {
    const response = await get('/photo', { Range: 'bytes=0-99', 'If-Range': ifRange });
    t.is(response.status, 200, ifRange);
    t.is(response.headers.get('content-range'), null);
    t.deepEqual(await bodyOf(response), bytes);
  }
});

test('a filename with CR, LF, a quote and non-ASCII gives a well-formed, exact Content-Disposition', async (t) => {
  const response = await get('/weird');
  t.is(response.status, 200);
  const header = response.headers.get('content-disposition')!;
  t.true(header.includes("filename*=UTF-8''"));
  t.regex(header, /^[\x20-\x7e]+$/, 'printable ASCII only: no raw CR, LF or non-ASCII byte');
  const parsed = contentDisposition.parse(header);
  t.is(parsed.type, 'inline');
  t.is(parsed.parameters.filename, WEIRD_NAME);
  await response.arrayBuffer();
});

test('inline only when the caller says so; otherwise attachment', async (t) => {
  const [inline, attachment] = await Promise.all([get('/photo'), get('/doc')]);
  t.is(inline.headers.get('content-disposition'), 'inline; filename="photo.png"');
  t.is(attachment.headers.get('content-disposition'), 'attachment; filename="report.pdf"');
  t.is(attachment.headers.get('content-type'), 'application/pdf');
  await Promise.all([inline.arrayBuffer(), attachment.arrayBuffer()]);
});

test('a file that is not there answers 404 not_found JSON, without the blob headers', async (t) => {
  for (const method of ['GET', 'HEAD']) {
    const response = await get('/gone', {}, method);
    t.is(response.status, 404);
    t.regex(response.headers.get('content-type') ?? '', /^application\/json/);
    t.is(response.headers.get('content-disposition'), null);
    t.is(response.headers.get('etag'), null);
    if (method === 'GET') t.deepEqual(await response.json(), { error: { code: 'not_found', message: 'Media not found' } });
  }
});

test('a file whose size disagrees with its record is a 500, not a response with a lying Content-Length', async (t) => {
  const response = await get('/wrong-size');
  t.is(response.status, 500);
  t.is(response.headers.get('content-disposition'), null);
  t.like(await response.json(), { error: { code: 'internal_error' } });
});

test('an empty file: 200 with an empty body; any range is unsatisfiable', async (t) => {
  const whole = await get('/empty');
  t.is(whole.status, 200);
  t.is(whole.headers.get('content-length'), '0');
  t.is((await bodyOf(whole)).length, 0);
  const ranged = await get('/empty', { Range: 'bytes=0-9' });
  t.is(ranged.status, 416);
  t.is(ranged.headers.get('content-range'), 'bytes */0');
});

/** File descriptors of this process open on `path` (Linux). */
const descriptorsOn = (path: string) =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false; // Closed while we looked.
    }
  }).length;

const eventuallyClosed = async (path: string) => {
  for (let attempt = 0; attempt < 100 && descriptorsOn(path) > 0; attempt++) await sleep(20);
  return descriptorsOn(path);
};

test('the file is streamed and its descriptor closed after whole, partial, HEAD, 304 and abandoned responses', async (t) => {
  if (!existsSync('/proc/self/fd')) return t.pass('no /proc: not Linux');
  // A 16 MiB body the client stops reading: the stream (and its file handle) is still open mid-response.
  const abandoned = await get('/big');
  const reader = abandoned.body!.getReader();
  const first = await reader.read();
  t.false(first.done);
  t.true(descriptorsOn(big.path) >= 1, 'the file is open while it streams');
  await reader.cancel();

  for (const [headers, method] of [
    [{}, 'GET'],
    [{ Range: 'bytes=0-99' }, 'GET'],
    [{}, 'HEAD'],
    [{ 'If-None-Match': `"${big.sha256}"` }, 'GET'],
    [{ Range: 'bytes=999999999-' }, 'GET'],
  ] as const) {
    const response = await get('/big', headers, method);
    await response.arrayBuffer();
  }
  t.is(await eventuallyClosed(big.path), 0);
});
