import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stripContainerMetadata, UnreadableContainerError } from '../../src/media/containerMetadata.ts';
import { box, DEVICE, GPS, layout, MEDIA_DATA, phoneVideo } from '../helpers/mp4.ts';

function fileOf(t: { teardown: (fn: () => void) => void }, bytes: Buffer): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'container-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'video');
  fs.writeFileSync(file, bytes);
  return file;
}

test('a phone video loses its location, device and XMP boxes, and no other byte moves: same size, same layout, same media data', async (t) => {
  const original = phoneVideo();
  t.true(original.includes(GPS) && original.includes(DEVICE), 'the crafted video carries them');
  const file = fileOf(t, original);
  t.true(await stripContainerMetadata(file, 'video/mp4'));
  const stripped = fs.readFileSync(file);
  t.false(stripped.includes(GPS), 'no coordinates left anywhere');
  t.false(stripped.includes(DEVICE), 'no device model');
  t.false(stripped.includes('com.apple.quicktime.location'), 'no location key');
  t.false(stripped.includes('Track shot at home'), "nor a track's own user data");
  t.is(stripped.length, original.length);
  t.deepEqual(
    layout(stripped).map(([type, size]) => [type.replace(/(udta|meta|uuid)$/, 'free'), size]),
    layout(original).map(([type, size]) => [type.replace(/(udta|meta|uuid)$/, 'free'), size]),
  );
  t.deepEqual(
    layout(stripped)
      .map(([type]) => type)
      .filter((type) => /udta|meta|uuid/.test(type)),
    [],
    'every such box is now free',
  );
  t.true(stripped.includes(MEDIA_DATA), 'the samples are untouched');
  t.deepEqual(stripped.subarray(0, 32), original.subarray(0, 32), 'ftyp untouched');
});

test('QuickTime and M4A are stripped alike; a file without metadata is left as it is', async (t) => {
  for (const [brand, mime] of [
    ['qt  ', 'video/quicktime'],
    ['M4A ', 'audio/mp4'],
  ] as const) {
    const file = fileOf(t, phoneVideo(brand));
    t.true(await stripContainerMetadata(file, mime));
    t.false(fs.readFileSync(file).includes(GPS), mime);
  }
  const plain = Buffer.concat([
    box('ftyp', Buffer.from('isom\0\0\0\0isom', 'latin1')),
    box('moov', box('mvhd', Buffer.alloc(100))),
    box('mdat', MEDIA_DATA),
  ]);
  const file = fileOf(t, plain);
  t.false(await stripContainerMetadata(file, 'video/mp4'));
  t.deepEqual(fs.readFileSync(file), plain);
  t.false(await stripContainerMetadata(fileOf(t, Buffer.from('ID3 not a box')), 'audio/mpeg'), 'other containers are not touched');
});

test('a structure it cannot follow is refused rather than passed on with its metadata', async (t) => {
  const video = phoneVideo();
  const broken = Buffer.from(video);
  const moovAt = video.indexOf('moov') - 4;
  broken.writeUInt32BE(video.length * 2, moovAt); // moov claims more than the file
  await t.throwsAsync(stripContainerMetadata(fileOf(t, broken), 'video/mp4'), {
    instanceOf: UnreadableContainerError,
    code: 'unsupported_media_type',
  });
  const tiny = Buffer.from(video);
  tiny.writeUInt32BE(4, video.indexOf('udta') - 4); // a box smaller than its own header
  await t.throwsAsync(stripContainerMetadata(fileOf(t, tiny), 'video/mp4'), { instanceOf: UnreadableContainerError });
  // A recording cut short in its media data is fine: nothing follows it.
  const cut = video.subarray(0, video.length - 10);
  const file = fileOf(t, cut);
  t.true(await stripContainerMetadata(file, 'video/mp4'));
  t.false(fs.readFileSync(file).includes(GPS));
});
