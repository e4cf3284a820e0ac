import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { crc32, pngBomb } from '../helpers/images.ts';
import {
  BusyError,
  ImageProcessor,
  ImageTooLargeError,
  InvalidImageError,
  UnsupportedImageTypeError,
} from '../../src/media/imageProcessor.ts';

const MAX_PIXELS = 40_000_000;

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-processor-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function processor(options: Partial<ConstructorParameters<typeof ImageProcessor>[0]> = {}) {
  return new ImageProcessor({ maxPixels: MAX_PIXELS, concurrency: 2, maxQueue: 32, ...options });
}

/** A width × height image whose left half is red and right half blue, so orientation can be checked by pixels. */
function halves(width: number, height: number) {
  const half = Math.floor(width / 2);
  return sharp({ create: { width, height, channels: 3, background: { r: 255, g: 0, b: 0 } } }).composite([
    { input: { create: { width: width - half, height, channels: 3, background: { r: 0, g: 0, b: 255 } } }, left: half, top: 0 },
  ]);
}

async function writePlain(dir: string, name: string, width: number, height: number, format: 'png' | 'jpeg' = 'png') {
  const file = path.join(dir, name);
  await halves(width, height).toFormat(format).toFile(file);
  return file;
}

/** Tag numbers in IFD0 of an EXIF block as sharp returns it ("Exif\0\0" then a TIFF header). */
function ifd0Tags(exif: Buffer): number[] {
  const tiff = exif.subarray(6);
  const little = tiff.toString('latin1', 0, 2) === 'II';
  const u16 = (at: number) => (little ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number) => (little ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const ifd = u32(4);
  return Array.from({ length: u16(ifd) }, (_, i) => u16(ifd + 2 + i * 12));
}
const GPS_IFD_POINTER = 0x8825;

async function pixel(file: string, x: number, y: number) {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * info.channels;
  return { r: data[at]!, g: data[at + 1]!, b: data[at + 2]! };
}

test('crc32 matches the standard check value', (t) => {
  t.is(crc32(Buffer.from('123456789')), 0xcbf43926);
});

test('reencode strips EXIF (GPS included) and turns an orientation-6 JPEG upright', async (t) => {
  const dir = tempDir(t);
  const input = path.join(dir, 'photo.jpg');
  await halves(300, 200)
    .jpeg()
    .withMetadata({ orientation: 6 })
    .withExif({ IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 0/1' } })
    .toFile(input);
  const before = await sharp(input).metadata();
  t.is(before.orientation, 6);
  t.true(ifd0Tags(before.exif!).includes(GPS_IFD_POINTER), 'the source carries a GPS IFD');

  const output = path.join(dir, 'out.jpg');
  const result = await processor().reencode(input, output, 'image/jpeg');

  t.deepEqual(result, { width: 200, height: 300, mime: 'image/jpeg', bytes: fs.statSync(output).size });
  const after = await sharp(output).metadata();
  t.is(after.format, 'jpeg');
  t.is(after.exif, undefined);
  t.is(after.xmp, undefined);
  t.is(after.iptc, undefined);
  t.is(after.orientation, undefined);
  t.deepEqual([after.width, after.height], [200, 300]);
  // 90° clockwise: the stored left (red) half is now on top, the right (blue) half at the bottom.
  const top = await pixel(output, 100, 40);
  const bottom = await pixel(output, 100, 260);
  t.true(top.r > 200 && top.b < 60, `top is red: ${JSON.stringify(top)}`);
  t.true(bottom.b > 200 && bottom.r < 60, `bottom is blue: ${JSON.stringify(bottom)}`);
  t.deepEqual(fs.readdirSync(dir).sort(), ['out.jpg', 'photo.jpg'], 'no temp file left behind');
});

test('reencode keeps the format of each accepted type and the frames of an animated GIF', async (t) => {
  const dir = tempDir(t);
  const images = processor();
  for (const format of ['png', 'webp', 'avif'] as const) {
    const input = path.join(dir, `in.${format}`);
    await halves(64, 48).toFormat(format).toFile(input);
    const result = await images.reencode(input, path.join(dir, `out.${format}`), `image/${format}`);
    t.like(result, { width: 64, height: 48, mime: `image/${format}` });
    const meta = await sharp(path.join(dir, `out.${format}`)).metadata();
    t.is(meta.format, format === 'avif' ? 'heif' : format);
  }

  const frame = (colour: string) =>
    sharp({ create: { width: 100, height: 80, channels: 4, background: colour } })
      .png()
      .toBuffer();
  const gif = path.join(dir, 'anim.gif');
  await sharp([await frame('#f00'), await frame('#0f0'), await frame('#00f')], { join: { animated: true } })
    .gif({ delay: [100, 100, 100] })
    .toFile(gif);
  const result = await images.reencode(gif, path.join(dir, 'anim-out.gif'), 'image/gif');
  t.like(result, { width: 100, height: 80, mime: 'image/gif' });
  const meta = await sharp(path.join(dir, 'anim-out.gif')).metadata();
  t.is(meta.pages, 3);
  t.deepEqual(meta.delay, [100, 100, 100]);
});

test('a PNG whose header claims 30,000 × 30,000 fails fast with image_too_large and writes nothing', async (t) => {
  const dir = tempDir(t);
  const input = path.join(dir, 'bomb.png');
  fs.writeFileSync(input, pngBomb(30_000, 30_000));
  const images = processor();
  const rssBefore = process.memoryUsage().rss;

  for (const run of [
    () => images.reencode(input, path.join(dir, 'out.png'), 'image/png'),
    () => images.squareVariants(input, (size) => path.join(dir, `v${size}.webp`), [512, 128, 48]),
    () => images.thumbnail(input, path.join(dir, 'thumb.webp'), 96, 96, 'crop'),
  ]) {
    const started = performance.now();
    const error = await t.throwsAsync(run, { instanceOf: ImageTooLargeError });
    t.true(performance.now() - started < 500, `took ${performance.now() - started} ms`);
    t.like(error, { code: 'image_too_large', status: 422, details: { maxPixels: MAX_PIXELS } });
  }
  t.true(process.memoryUsage().rss - rssBefore < 100 * 1024 * 1024, 'no large allocation (30,000² RGBA would be 3.6 GB)');
  t.deepEqual(fs.readdirSync(dir), ['bomb.png']);
});

test('an image just over maxPixels is refused and one at the limit is accepted', async (t) => {
  const dir = tempDir(t);
  const input = await writePlain(dir, 'in.png', 100, 100);
  await t.throwsAsync(processor({ maxPixels: 9_999 }).reencode(input, path.join(dir, 'a.png'), 'image/png'), {
    instanceOf: ImageTooLargeError,
  });
  t.like(await processor({ maxPixels: 10_000 }).reencode(input, path.join(dir, 'b.png'), 'image/png'), { width: 100, height: 100 });
  t.deepEqual(fs.readdirSync(dir).sort(), ['b.png', 'in.png']);
});

test('random bytes are invalid_image and leave no output file', async (t) => {
  const dir = tempDir(t);
  const input = path.join(dir, 'noise.jpg');
  fs.writeFileSync(input, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251)));
  const images = processor();
  const error = await t.throwsAsync(images.reencode(input, path.join(dir, 'out.jpg'), 'image/jpeg'), { instanceOf: InvalidImageError });
  t.like(error, { code: 'invalid_image', status: 422 });
  await t.throwsAsync(images.thumbnail(input, path.join(dir, 'thumb.webp'), 32, 32, 'scale'), { instanceOf: InvalidImageError });
  t.deepEqual(fs.readdirSync(dir), ['noise.jpg']);
});

test("a truncated JPEG is invalid_image (failOn 'error' rejects it) and its partial output is removed", async (t) => {
  const dir = tempDir(t);
  // Noise does not compress, so cutting the file loses most of the scan data while the header stays intact.
  const noise = Buffer.from(Array.from({ length: 400 * 300 * 3 }, (_, i) => (i * 2654435761) >>> 24));
  const full = await sharp(noise, { raw: { width: 400, height: 300, channels: 3 } })
    .jpeg()
    .toBuffer();
  const input = path.join(dir, 'cut.jpg');
  fs.writeFileSync(input, full.subarray(0, Math.floor(full.length * 0.6)));
  t.is((await sharp(input).metadata()).width, 400, 'the header still reads');
  await t.notThrowsAsync(sharp(input, { failOn: 'none' }).jpeg().toBuffer(), "with failOn 'none' it would pass as a grey-filled image");

  await t.throwsAsync(processor().reencode(input, path.join(dir, 'out.jpg'), 'image/jpeg'), { instanceOf: InvalidImageError });
  t.deepEqual(fs.readdirSync(dir), ['cut.jpg']);
});

test('content that is not the declared type, or not an accepted image at all, is refused before decoding', async (t) => {
  const dir = tempDir(t);
  const png = await writePlain(dir, 'real.png', 20, 20);
  const images = processor();
  await t.throwsAsync(images.reencode(png, path.join(dir, 'a.jpg'), 'image/jpeg'), { instanceOf: InvalidImageError });

  const svg = path.join(dir, 'evil.png');
  fs.writeFileSync(
    svg,
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(1)"><rect width="10" height="10"/></svg>',
  );
  await t.throwsAsync(images.reencode(svg, path.join(dir, 'b.png'), 'image/png'), { instanceOf: InvalidImageError });
  await t.throwsAsync(
    images.squareVariants(svg, (size) => path.join(dir, `s${size}.webp`), [48]),
    { instanceOf: InvalidImageError },
  );

  const error = await t.throwsAsync(images.reencode(png, path.join(dir, 'c.heic'), 'image/heic'), {
    instanceOf: UnsupportedImageTypeError,
  });
  t.like(error, { code: 'unsupported_media_type', status: 415 });
  t.deepEqual(fs.readdirSync(dir).sort(), ['evil.png', 'real.png']);
});

test('squareVariants crops to squares in WebP and never upscales past the smaller side', async (t) => {
  const dir = tempDir(t);
  const input = await writePlain(dir, 'in.png', 300, 200);
  const variants = await processor().squareVariants(input, (size) => path.join(dir, `avatar-${size}.webp`), [512, 128, 48]);

  t.deepEqual(
    variants.map(({ size, path: file, width, height }) => ({ size, file: path.basename(file), width, height })),
    [
      { size: 512, file: 'avatar-512.webp', width: 200, height: 200 },
      { size: 128, file: 'avatar-128.webp', width: 128, height: 128 },
      { size: 48, file: 'avatar-48.webp', width: 48, height: 48 },
    ],
  );
  for (const variant of variants) {
    const meta = await sharp(variant.path).metadata();
    t.is(meta.format, 'webp');
    t.deepEqual([meta.width, meta.height], [variant.width, variant.height]);
    t.is(variant.bytes, fs.statSync(variant.path).size);
  }
  // Centred: the 300-wide source loses 50 px on each side, so the red/blue split stays in the middle.
  const left = await pixel(variants[1]!.path, 10, 64);
  const right = await pixel(variants[1]!.path, 117, 64);
  t.true(left.r > 200 && right.b > 200);
});

test('squareVariants of an upright-by-EXIF photo uses the displayed orientation', async (t) => {
  const dir = tempDir(t);
  const input = path.join(dir, 'photo.jpg');
  await halves(300, 200).jpeg().withMetadata({ orientation: 6 }).toFile(input);
  const [variant] = await processor().squareVariants(input, () => path.join(dir, 'sq.webp'), [100]);
  // After rotation red is on top and blue at the bottom of the square.
  t.true((await pixel(variant!.path, 50, 5)).r > 200);
  t.true((await pixel(variant!.path, 50, 95)).b > 200);
});

test('thumbnail crops or scales to WebP and never upscales', async (t) => {
  const dir = tempDir(t);
  const input = await writePlain(dir, 'in.png', 300, 200);
  const images = processor();
  const cases = [
    { width: 100, height: 100, method: 'crop', expected: [100, 100] },
    { width: 640, height: 480, method: 'crop', expected: [267, 200] }, // 4:3 kept, shrunk to fit the source
    { width: 100, height: 100, method: 'scale', expected: [100, 67] },
    { width: 640, height: 480, method: 'scale', expected: [300, 200] },
  ] as const;
  for (const [i, c] of cases.entries()) {
    const output = path.join(dir, `thumb-${i}.webp`);
    const result = await images.thumbnail(input, output, c.width, c.height, c.method);
    t.deepEqual([result.width, result.height], [...c.expected], `${c.method} ${c.width}×${c.height}`);
    const meta = await sharp(output).metadata();
    t.is(meta.format, 'webp');
    t.deepEqual([meta.width, meta.height], [...c.expected]);
    t.is(result.bytes, fs.statSync(output).size);
  }
});

test('the pool runs `concurrency` jobs, queues `maxQueue`, and refuses the rest at once with busy', async (t) => {
  const dir = tempDir(t);
  const input = await writePlain(dir, 'in.jpg', 1600, 1200, 'jpeg');
  const images = processor({ concurrency: 1, maxQueue: 1 });

  const settled: Array<{ index: number; busy: boolean }> = [];
  const jobs = Array.from({ length: 5 }, (_, index) =>
    images.reencode(input, path.join(dir, `out-${index}.jpg`), 'image/jpeg').then(
      (value) => {
        settled.push({ index, busy: false });
        return value;
      },
      (error: unknown) => {
        settled.push({ index, busy: error instanceof BusyError });
        throw error;
      },
    ),
  );
  t.deepEqual(images.load, { running: 1, queued: 1 });

  const results = await Promise.allSettled(jobs);
  const busy = results.flatMap((r) => (r.status === 'rejected' && r.reason instanceof BusyError ? [r.reason] : []));
  t.true(busy.length >= 3, `${busy.length} refused`);
  t.is(results.filter((r) => r.status === 'fulfilled').length, 5 - busy.length);
  t.like(busy[0], { code: 'busy', status: 503, details: { retryAfterMs: 1000 } });
  // Refused before any accepted job finished: the refusals settle first.
  t.true(
    settled.slice(0, busy.length).every((s) => s.busy),
    JSON.stringify(settled),
  );
  t.deepEqual(images.load, { running: 0, queued: 0 });
});

test('a failing job frees its slot for the next one', async (t) => {
  const dir = tempDir(t);
  const good = await writePlain(dir, 'in.png', 40, 30);
  const bad = path.join(dir, 'bad.png');
  fs.writeFileSync(bad, 'not an image');
  const images = processor({ concurrency: 1, maxQueue: 0 });
  await t.throwsAsync(images.reencode(bad, path.join(dir, 'x.png'), 'image/png'), { instanceOf: InvalidImageError });
  t.deepEqual(images.load, { running: 0, queued: 0 });
  t.like(await images.reencode(good, path.join(dir, 'y.png'), 'image/png'), { width: 40, height: 30 });
});

// ---- decode cost and fairness (serial: they load the CPU, and the tests above time how fast a refusal is) ---------

test.serial(
  'a 1 KB, 36-megapixel AVIF is refused from its header (AVIF has a pixel limit of its own): it never holds a slot for seconds',
  async (t) => {
    const dir = tempDir(t);
    const input = path.join(dir, 'flat.avif');
    await sharp({ create: { width: 6000, height: 6000, channels: 3, background: '#7a3' } })
      .avif({ effort: 0 })
      .toFile(input);
    t.true(fs.statSync(input).size < 4096, 'tiny on disk');
    const started = performance.now();
    const error = await t.throwsAsync(processor().reencode(input, path.join(dir, 'out.avif'), 'image/avif'), {
      instanceOf: ImageTooLargeError,
    });
    t.like(error, { code: 'image_too_large', status: 422 });
    t.true(performance.now() - started < 1_500, `refused in ${Math.round(performance.now() - started)} ms`);
    t.false(fs.existsSync(path.join(dir, 'out.avif')));
  },
);

test.serial("one user cannot hold the pool: beside one user's three heavy images, another user's 64 × 64 PNG runs at once", async (t) => {
  const dir = tempDir(t);
  const heavy = path.join(dir, 'heavy.avif');
  await sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#7a3' } })
    .avif({ effort: 0 })
    .toFile(heavy);
  const small = await writePlain(dir, 'small.png', 64, 64);
  const images = processor({ concurrency: 2, maxQueue: 32 });
  const finished: string[] = [];
  const heavyJobs = [1, 2, 3].map((n) =>
    images.reencode(heavy, path.join(dir, `heavy-${n}.avif`), 'image/avif', 'alice').then(() => finished.push(`alice-${n}`)),
  );
  const smallJob = images.reencode(small, path.join(dir, 'small-out.png'), 'image/png', 'bob').then(() => finished.push('bob'));
  t.deepEqual(images.load, { running: 2, queued: 2 }, "alice runs one, bob the other; alice's other two wait");
  await smallJob;
  t.deepEqual(finished, ['bob'], 'bob did not wait for alice');
  await Promise.all(heavyJobs);
  t.is(finished.length, 4);
  t.deepEqual(images.load, { running: 0, queued: 0 });
});

test.serial('a user may queue only a share of the pool: past it they get busy, and others still get in', async (t) => {
  const dir = tempDir(t);
  const input = await writePlain(dir, 'in.jpg', 1600, 1200, 'jpeg');
  const images = processor({ concurrency: 2, maxQueue: 8 });
  const mine = Array.from({ length: 5 }, (_, n) => images.reencode(input, path.join(dir, `mine-${n}.jpg`), 'image/jpeg', 'alice'));
  const theirs = images.reencode(input, path.join(dir, 'theirs.jpg'), 'image/jpeg', 'bob');
  const results = await Promise.allSettled(mine);
  t.deepEqual(
    results.map((r) => (r.status === 'rejected' && r.reason instanceof BusyError ? 'busy' : r.status)),
    ['fulfilled', 'fulfilled', 'fulfilled', 'busy', 'busy'],
    'one running and two waiting (a quarter of the queue), the rest refused',
  );
  t.like(await theirs, { width: 1600 });
});

test.serial(
  'a job past its time is answered image_too_large at once; its slot stays taken until libvips is done, and it writes nothing',
  async (t) => {
    const dir = tempDir(t);
    const noisy = path.join(dir, 'noisy.jpg');
    await sharp({
      create: { width: 4000, height: 3000, channels: 3, background: '#777', noise: { type: 'gaussian', mean: 128, sigma: 30 } },
    })
      .jpeg()
      .toFile(noisy);
    const images = processor({ concurrency: 1, maxQueue: 1, timeoutSeconds: 1 });
    const started = performance.now();
    const error = await t.throwsAsync(images.reencode(noisy, path.join(dir, 'out.jpg'), 'image/jpeg'), { instanceOf: ImageTooLargeError });
    t.like(error, { code: 'image_too_large', details: { timeoutSeconds: 1 } });
    t.true(performance.now() - started < 3_000, `answered after ${Math.round(performance.now() - started)} ms`);
    t.deepEqual(images.load, { running: 1, queued: 0 }, 'the encoder cannot be interrupted: its slot is still counted');
    for (let i = 0; i < 600 && images.load.running > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    t.deepEqual(images.load, { running: 0, queued: 0 });
    t.deepEqual(fs.readdirSync(dir).sort(), ['noisy.jpg'], 'nothing written, not even late');
  },
);
