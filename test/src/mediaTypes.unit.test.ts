import test from 'ava';
import { crc32, deflateRawSync } from 'node:zlib';
import sharp from 'sharp';
import {
  classifyUpload,
  DEFAULT_MEDIA_LIMITS,
  ExtensionMismatchError,
  INLINE_SAFE_MIME,
  isValidUtf8Text,
  safeFilename,
  SNIFF_BYTES,
  TEXT_MIME,
  UnsupportedMediaTypeError,
  type MediaLimits,
} from '../../src/media/mediaTypes.ts';

const MiB = 1024 * 1024;
const limits: MediaLimits = { maxBytes: 16 * MiB, imageMaxBytes: 10 * MiB, textMaxBytes: 1 * MiB };

// ---- real (minimal) file heads -------------------------------------------------------------------------------

const image = (format: 'png' | 'jpeg' | 'webp' | 'gif' | 'avif') =>
  sharp({ create: { width: 2, height: 2, channels: 3, background: '#f00' } })
    .toFormat(format)
    .toBuffer();

const ascii = (text: string) => Buffer.from(text, 'latin1');
const u32be = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const u32le = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u16le = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
/** Pads a head to a realistic length with bytes that carry no signature. */
const padded = (head: Buffer, length = 512) => Buffer.concat([head, Buffer.alloc(Math.max(0, length - head.length), 0x55)]);

/** An ISO-BMFF file: an `ftyp` box with this major brand, then an empty `mdat`. */
const isoBmff = (brand: string, compatible: string[] = ['isom']) => {
  const body = Buffer.concat([ascii(brand.padEnd(4)), u32be(0), ...compatible.map((c) => ascii(c.padEnd(4)))]);
  return padded(Buffer.concat([u32be(8 + body.length), ascii('ftyp'), body, u32be(8), ascii('mdat')]));
};

/** An Ogg page whose first packet starts with `packet`. */
const ogg = (packet: Buffer) => {
  const header = Buffer.concat([
    ascii('OggS'),
    Buffer.from([0, 2]),
    Buffer.alloc(8),
    u32le(1),
    u32le(0),
    u32le(0),
    Buffer.from([1, packet.length]),
  ]);
  return padded(Buffer.concat([header, packet]));
};

const wav = () =>
  padded(
    Buffer.concat([
      ascii('RIFF'),
      u32le(36 + 400),
      ascii('WAVEfmt '),
      u32le(16),
      u16le(1),
      u16le(1),
      u32le(8000),
      u32le(8000),
      u16le(1),
      u16le(8),
      ascii('data'),
      u32le(400),
    ]),
  );
const flac = () => padded(Buffer.concat([ascii('fLaC'), Buffer.from([0x80, 0, 0, 34]), Buffer.alloc(34)]));
/** MPEG-1 Layer III frame header (128 kbit/s, 44.1 kHz), repeated. */
const mp3Frames = () => Buffer.concat(Array.from({ length: 4 }, () => padded(Buffer.from([0xff, 0xfb, 0x90, 0x64]), 417)));
const id3Tagged = () => Buffer.concat([ascii('ID3'), Buffer.from([4, 0, 0, 0, 0, 0, 10]), Buffer.alloc(10), mp3Frames()]);
/** ADTS (AAC) frame header, MPEG-4, no CRC. */
const adts = () =>
  padded(Buffer.concat(Array.from({ length: 8 }, () => padded(Buffer.from([0xff, 0xf1, 0x50, 0x80, 0x02, 0x1f, 0xfc]), 16))));
/** A WebM EBML header (DocType "webm") and the start of a Segment. */
const webm = () =>
  padded(
    Buffer.concat([
      Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x87, 0x42, 0x82, 0x84]),
      ascii('webm'),
      Buffer.from([0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    ]),
  );
const pdf = () =>
  ascii('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');
const cfb = () =>
  padded(
    Buffer.concat([
      Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]),
      Buffer.alloc(16),
      Buffer.from([0x3e, 0, 3, 0, 0xfe, 0xff, 9, 0]),
    ]),
  );

/** A real zip (deflated entries unless `stored`, with central directory), like Word or LibreOffice write. */
function zip(entries: { name: string; data: string; stored?: boolean }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const raw = Buffer.from(entry.data, 'utf8');
    const data = entry.stored ? raw : deflateRawSync(raw);
    const name = Buffer.from(entry.name, 'utf8');
    const method = entry.stored ? 0 : 8;
    const common = Buffer.concat([
      u16le(20),
      u16le(0),
      u16le(method),
      u16le(0),
      u16le(0x21),
      u32le(crc32(raw)),
      u32le(data.length),
      u32le(raw.length),
      u16le(name.length),
      u16le(0),
    ]);
    const local = Buffer.concat([u32le(0x04034b50), common, name, data]);
    centrals.push(Buffer.concat([u32le(0x02014b50), u16le(20), common, u16le(0), u16le(0), u16le(0), u32le(0), u32le(offset), name]));
    locals.push(local);
    offset += local.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.concat([
    u32le(0x06054b50),
    u16le(0),
    u16le(0),
    u16le(entries.length),
    u16le(entries.length),
    u32le(directory.length),
    u32le(offset),
    u16le(0),
  ]);
  return Buffer.concat([...locals, directory, end]);
}

const filler = 'x'.repeat(6000); // pushes the central directory out of the sniffed head, as in a real document
const contentTypes = (main: string) =>
  `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="${main}"/></Types>`;
const docx = () =>
  zip([
    { name: '[Content_Types].xml', data: contentTypes('application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml') },
    { name: '_rels/.rels', data: '<Relationships/>' },
    { name: 'word/document.xml', data: `<w:document>${filler}</w:document>`, stored: true },
  ]);
const docm = () =>
  zip([
    { name: '[Content_Types].xml', data: contentTypes('application/vnd.ms-word.document.macroEnabled.main+xml') },
    { name: 'word/document.xml', data: filler, stored: true },
  ]);
const odt = () =>
  zip([
    { name: 'mimetype', data: 'application/vnd.oasis.opendocument.text', stored: true },
    { name: 'content.xml', data: filler, stored: true },
  ]);
const plainZip = () => zip([{ name: 'hello.txt', data: `hello ${filler}`, stored: true }]);

/** What the upload pipeline hands over: the first SNIFF_BYTES of the file (all of it when shorter). */
const head = (file: Buffer) => file.subarray(0, SNIFF_BYTES);
const classify = (file: Buffer, name: string | null) => classifyUpload(head(file), name, limits);

// ---- accepted families -----------------------------------------------------------------------------------------

const accepted: [string, () => Buffer | Promise<Buffer>, string | null, { kind: string; mime: string; ext: string; maxBytes: number }][] = [
  ['PNG', () => image('png'), 'photo.png', { kind: 'image', mime: 'image/png', ext: 'png', maxBytes: 10 * MiB }],
  ['JPEG', () => image('jpeg'), 'photo.JPEG', { kind: 'image', mime: 'image/jpeg', ext: 'jpg', maxBytes: 10 * MiB }],
  ['WebP', () => image('webp'), 'photo.webp', { kind: 'image', mime: 'image/webp', ext: 'webp', maxBytes: 10 * MiB }],
  ['GIF', () => image('gif'), 'anim.gif', { kind: 'image', mime: 'image/gif', ext: 'gif', maxBytes: 10 * MiB }],
  ['AVIF', () => image('avif'), 'photo.avif', { kind: 'image', mime: 'image/avif', ext: 'avif', maxBytes: 10 * MiB }],
  [
    'MP4 video (isom)',
    () => isoBmff('isom', ['isom', 'iso2', 'avc1', 'mp41']),
    'clip.mp4',
    { kind: 'video', mime: 'video/mp4', ext: 'mp4', maxBytes: 16 * MiB },
  ],
  ['QuickTime', () => isoBmff('qt  ', ['qt  ']), 'clip.mov', { kind: 'video', mime: 'video/quicktime', ext: 'mov', maxBytes: 16 * MiB }],
  ['WebM', webm, 'clip.webm', { kind: 'video', mime: 'video/webm', ext: 'webm', maxBytes: 16 * MiB }],
  [
    'M4A (M4A brand)',
    () => isoBmff('M4A ', ['M4A ', 'mp42', 'isom']),
    'song.m4a',
    { kind: 'audio', mime: 'audio/mp4', ext: 'm4a', maxBytes: 16 * MiB },
  ],
  ['MP3 frames', mp3Frames, 'song.mp3', { kind: 'audio', mime: 'audio/mpeg', ext: 'mp3', maxBytes: 16 * MiB }],
  ['MP3 with ID3 tag', id3Tagged, 'song.mp3', { kind: 'audio', mime: 'audio/mpeg', ext: 'mp3', maxBytes: 16 * MiB }],
  [
    'Ogg Vorbis',
    () => ogg(Buffer.concat([ascii('\x01vorbis'), Buffer.alloc(23)])),
    'song.ogg',
    { kind: 'audio', mime: 'audio/ogg', ext: 'ogg', maxBytes: 16 * MiB },
  ],
  [
    'Ogg Opus',
    () => ogg(Buffer.concat([ascii('OpusHead'), Buffer.alloc(11)])),
    'voice.opus',
    { kind: 'audio', mime: 'audio/ogg', ext: 'opus', maxBytes: 16 * MiB },
  ],
  ['WAV', wav, 'sound.wav', { kind: 'audio', mime: 'audio/wav', ext: 'wav', maxBytes: 16 * MiB }],
  ['FLAC', flac, 'song.flac', { kind: 'audio', mime: 'audio/flac', ext: 'flac', maxBytes: 16 * MiB }],
  ['AAC (ADTS)', adts, 'song.aac', { kind: 'audio', mime: 'audio/aac', ext: 'aac', maxBytes: 16 * MiB }],
  ['PDF', pdf, 'report.pdf', { kind: 'document', mime: 'application/pdf', ext: 'pdf', maxBytes: 16 * MiB }],
  [
    'DOCX (zip, head only)',
    docx,
    'report.docx',
    { kind: 'document', mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', ext: 'docx', maxBytes: 16 * MiB },
  ],
  [
    'ODT (zip, head only)',
    odt,
    'report.odt',
    { kind: 'document', mime: 'application/vnd.oasis.opendocument.text', ext: 'odt', maxBytes: 16 * MiB },
  ],
  ['legacy DOC (CFB)', cfb, 'old.doc', { kind: 'document', mime: 'application/msword', ext: 'doc', maxBytes: 16 * MiB }],
  ['legacy XLS (CFB)', cfb, 'old.xls', { kind: 'document', mime: 'application/vnd.ms-excel', ext: 'xls', maxBytes: 16 * MiB }],
  [
    'password-protected DOCX (CFB)',
    cfb,
    'secret.docx',
    { kind: 'document', mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', ext: 'docx', maxBytes: 16 * MiB },
  ],
  [
    'UTF-8 text',
    () => Buffer.from('Meeting notes — café ☕\nline 2\n', 'utf8'),
    'notes.txt',
    { kind: 'text', mime: TEXT_MIME, ext: 'txt', maxBytes: 1 * MiB },
  ],
  ['CSV', () => Buffer.from('a,b\n1,2\n'), 'data.csv', { kind: 'text', mime: TEXT_MIME, ext: 'txt', maxBytes: 1 * MiB }],
  ['JSON', () => Buffer.from('{"a":[1,2]}'), 'data.json', { kind: 'text', mime: TEXT_MIME, ext: 'txt', maxBytes: 1 * MiB }],
];

for (const [what, make, name, expected] of accepted) {
  test(`accepts ${what} by its bytes, with its kind's size limit`, async (t) => {
    t.deepEqual(await classify(await make(), name), expected);
  });
}

test('every image, video and audio type accepted is served inline; documents and text never are', async (t) => {
  for (const [, make, name, expected] of accepted) {
    const type = await classify(await make(), name);
    t.is(INLINE_SAFE_MIME.has(type.mime), expected.kind === 'image' || expected.kind === 'video' || expected.kind === 'audio', type.mime);
  }
  for (const mime of ['image/svg+xml', 'text/html', 'application/pdf', 'text/plain', TEXT_MIME, 'application/xml', 'image/heic'])
    t.false(INLINE_SAFE_MIME.has(mime), mime);
  t.true(INLINE_SAFE_MIME.has('audio/webm'));
});

test('a file with no name, or a name without extension, is decided by its bytes alone', async (t) => {
  t.like(await classify(await image('png'), null), { kind: 'image', mime: 'image/png' });
  t.like(await classify(await image('png'), 'screenshot'), { kind: 'image', mime: 'image/png' });
  t.like(await classify(Buffer.from('hi'), '.profile'), { kind: 'text' }, 'a dot-file has no extension');
  t.like(await classify(cfb(), null), { kind: 'document', mime: 'application/x-cfb', ext: 'cfb' });
});

test('an extension of the same kind is fine: JPEG bytes named .png are an image/jpeg', async (t) => {
  t.like(await classify(await image('jpeg'), 'photo.png'), { kind: 'image', mime: 'image/jpeg', ext: 'jpg' });
  t.like(await classify(pdf(), 'report.docx'), { kind: 'document', mime: 'application/pdf', ext: 'pdf' });
  t.like(await classify(wav(), 'sound.mp4'), { kind: 'audio', mime: 'audio/wav', ext: 'wav' }, '.mp4 is an audio extension');
});

test('an MP4 or WebM container named as audio is audio; with a video or shared extension it stays video', async (t) => {
  const mp4 = isoBmff('mp42', ['mp42', 'isom']);
  t.like(await classify(mp4, 'voice.m4a'), { kind: 'audio', mime: 'audio/mp4', ext: 'm4a' });
  t.like(await classify(mp4, 'clip.mp4'), { kind: 'video', mime: 'video/mp4' });
  t.like(await classify(webm(), 'voice.weba'), { kind: 'audio', mime: 'audio/webm', ext: 'weba' });
  t.like(await classify(webm(), 'voice.webm'), { kind: 'video', mime: 'video/webm' });
  t.like(await classify(isoBmff('M4A ', ['M4A ']), 'song.mp4'), { kind: 'audio', mime: 'audio/mp4' }, '.mp4 is an audio extension too');
  await t.throwsAsync(classify(isoBmff('M4A ', ['M4A ']), 'song.mov'), { instanceOf: ExtensionMismatchError });
});

test('image and text limits never exceed the overall cap', async (t) => {
  const small: MediaLimits = { maxBytes: 1000, imageMaxBytes: 10 * MiB, textMaxBytes: 1 * MiB };
  t.is((await classifyUpload(await image('png'), null, small)).maxBytes, 1000);
  t.is((await classifyUpload(Buffer.from('hi'), null, small)).maxBytes, 1000);
  t.is((await classifyUpload(await image('png'), null, DEFAULT_MEDIA_LIMITS)).maxBytes, 10 * MiB);
  t.is((await classifyUpload(wav(), null, DEFAULT_MEDIA_LIMITS)).maxBytes, 16 * MiB);
});

// ---- hostile uploads -------------------------------------------------------------------------------------------

async function assertUnsupported(t: import('ava').ExecutionContext, file: Buffer, name: string | null, detected: string | null) {
  const error = await t.throwsAsync(classify(file, name), { instanceOf: UnsupportedMediaTypeError, code: 'unsupported_media_type' });
  t.is(error?.status, 415);
  t.deepEqual(error?.details, { detected });
}

test('HTML named .png is refused as unsupported (never accepted as text)', async (t) => {
  await assertUnsupported(t, Buffer.from('<!DOCTYPE html><html><body><script>alert(1)</script></body></html>'), 'cat.png', 'text/html');
  await assertUnsupported(t, Buffer.from('\ufeff  \n<HTML><img src=x onerror=alert(1)>'), 'cat.png', 'text/html');
  await assertUnsupported(t, Buffer.from('\t<script>fetch("/api/me")</script>'), 'notes.txt', 'text/html');
  await assertUnsupported(t, Buffer.from('<iframe src="https://evil.example"></iframe>'), null, 'text/html');
  await assertUnsupported(t, Buffer.from('<head><meta http-equiv="refresh" content="0;url=https://evil.example">'), 'a.txt', 'text/html');
  await assertUnsupported(t, Buffer.from('<body onload=alert(1)>'), 'a.txt', 'text/html');
  await assertUnsupported(t, Buffer.from('<!-- hi --><p>x</p>'), 'a.md', 'text/html');
});

test('text that merely mentions a tag, or starts with a non-HTML "<", is still text', async (t) => {
  t.like(await classify(Buffer.from('To embed it, write <script src="x.js"></script> in the page.'), 'howto.md'), { kind: 'text' });
  t.like(await classify(Buffer.from('<3 and <- are not tags; <https://example.org> is a link'), 'notes.txt'), { kind: 'text' });
});

test('every opening that makes markup is refused, whatever the browser sniffing list says: any tag, a doctype, a namespaced root, after any leading space', async (t) => {
  await assertUnsupported(
    t,
    Buffer.from(
      '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg onload="alert(1)"/>',
    ),
    'a.txt',
    'image/svg+xml',
  );
  await assertUnsupported(t, Buffer.from('<svg:svg xmlns:svg="http://www.w3.org/2000/svg" onload="alert(1)"/>'), 'a.txt', 'image/svg+xml');
  await assertUnsupported(
    t,
    Buffer.from('<html:html xmlns:html="http://www.w3.org/1999/xhtml"><html:script>alert(1)</html:script></html:html>'),
    'a.txt',
    'text/html',
  );
  await assertUnsupported(t, Buffer.from('<img src=x onerror=alert(1)>'), 'a.txt', 'text/html');
  await assertUnsupported(t, Buffer.from('<math><mtext><script>alert(1)</script></mtext></math>'), 'a.txt', 'text/html');
  await assertUnsupported(t, Buffer.from('<object data="https://evil.example/x.swf"></object>'), 'a.md', 'text/html');
  await assertUnsupported(t, Buffer.from('\u00a0\u2028\u200b\ufeff<svg onload="alert(1)"/>'), 'a.txt', 'image/svg+xml');
  await assertUnsupported(t, Buffer.from('<![CDATA[<script>alert(1)</script>]]>'), 'a.txt', 'text/html');
  await assertUnsupported(t, Buffer.from('<?xml-stylesheet href="x.xsl"?><root/>'), 'a.txt', 'application/xml');
});

test('SVG (with or without an XML declaration) is refused', async (t) => {
  await assertUnsupported(
    t,
    Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>'),
    'icon.svg',
    'image/svg+xml',
  );
  await assertUnsupported(t, Buffer.from('<svg/onload=alert(1)>'), 'icon.png', 'image/svg+xml');
  await assertUnsupported(
    t,
    Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    'icon.png',
    'application/xml',
  );
  await assertUnsupported(t, Buffer.from('\ufeff<?xml version="1.0"?><svg/>'), null, 'application/xml');
});

test('HEIC/HEIF is refused (sharp cannot decode it here)', async (t) => {
  await assertUnsupported(t, isoBmff('heic', ['mif1', 'heic']), 'IMG_0001.HEIC', 'image/heic');
  await assertUnsupported(t, isoBmff('mif1', ['mif1', 'heic']), 'IMG_0001.heif', 'image/heif');
});

test('a plain zip, a macro-enabled Office file, Ogg video and an executable are refused', async (t) => {
  await assertUnsupported(t, plainZip(), 'archive.zip', 'application/zip');
  await assertUnsupported(t, plainZip(), 'report.docx', 'application/zip');
  await assertUnsupported(t, docm(), 'report.docm', 'application/vnd.ms-word.document.macroenabled.12');
  await assertUnsupported(t, ogg(Buffer.concat([ascii('\x80theora'), Buffer.alloc(35)])), 'clip.ogv', 'video/ogg');
  await assertUnsupported(
    t,
    padded(Buffer.concat([ascii('MZ'), Buffer.alloc(58), u32le(64), ascii('PE\0\0')])),
    'setup.png',
    'application/x-msdownload',
  );
  await assertUnsupported(t, padded(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1])), null, 'application/x-elf');
});

test('text with a NUL byte, invalid UTF-8 or UTF-16 is refused', async (t) => {
  await assertUnsupported(t, Buffer.from('hello\0world'), 'notes.txt', null);
  await assertUnsupported(t, Buffer.from([0x68, 0x69, 0xc0, 0x80]), 'notes.txt', null); // overlong NUL
  await assertUnsupported(t, Buffer.from([0x68, 0xed, 0xa0, 0x80]), 'notes.txt', null); // a surrogate
  await assertUnsupported(t, Buffer.from('hello', 'utf16le'), 'notes.txt', null); // NULs
  await assertUnsupported(t, Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('hi', 'latin1')]), 'notes.txt', null); // UTF-16BE BOM
});

test('PNG bytes named .pdf or .exe are an extension mismatch', async (t) => {
  const png = await image('png');
  const pdfName = await t.throwsAsync(classify(png, 'photo.pdf'), { instanceOf: ExtensionMismatchError });
  t.like(pdfName, { code: 'extension_mismatch', status: 415, details: { extension: 'pdf', detected: 'image/png' } });
  const exeName = await t.throwsAsync(classify(png, 'x.exe'), { instanceOf: ExtensionMismatchError });
  t.like(exeName, { code: 'extension_mismatch', status: 415, details: { extension: 'exe', detected: 'image/png' } });
  await t.throwsAsync(
    classify(png, 'C:\\Users\\me\\x.EXE. '),
    { instanceOf: ExtensionMismatchError },
    'Windows drops trailing dots/spaces',
  );
  await t.throwsAsync(classify(png, 'photo.png.html'), { instanceOf: ExtensionMismatchError });
  await t.throwsAsync(classify(Buffer.from('hello'), 'notes.pdf'), { instanceOf: ExtensionMismatchError });
  await t.throwsAsync(classify(pdf(), 'report.txt'), { instanceOf: ExtensionMismatchError });
});

// ---- text and UTF-8 --------------------------------------------------------------------------------------------

test('a head cut in the middle of a multi-byte character is still text; a complete file cut there is not', async (t) => {
  const euro = Buffer.from('€', 'utf8'); // 3 bytes
  const file = Buffer.concat([Buffer.alloc(SNIFF_BYTES - 1, 'a'), euro, Buffer.from(' and more text')]);
  t.is(head(file).length, SNIFF_BYTES);
  t.like(await classify(file, 'notes.txt'), { kind: 'text', mime: TEXT_MIME });
  const cutAfterTwo = Buffer.concat([Buffer.alloc(SNIFF_BYTES - 2, 'a'), euro, Buffer.from('!')]);
  t.like(await classify(cutAfterTwo, 'notes.txt'), { kind: 'text' });
  t.like(await classifyUpload(file, 'notes.txt', limits), { kind: 'text' }, 'a head longer than SNIFF_BYTES is sniffed on its first bytes');
  await assertUnsupported(t, Buffer.concat([Buffer.from('short '), euro.subarray(0, 2)]), 'notes.txt', null);
});

test('a cut character must still be a valid prefix', async (t) => {
  const bad = Buffer.concat([Buffer.alloc(SNIFF_BYTES - 2, 'a'), Buffer.from([0xe0, 0x80])]); // E0 needs A0..BF next
  await assertUnsupported(t, bad, 'notes.txt', null);
});

test('isValidUtf8Text: strict by default, tolerant of an incomplete last character when truncated', (t) => {
  const text = Buffer.from('naïve — 😀', 'utf8');
  t.true(isValidUtf8Text(text));
  t.true(isValidUtf8Text(Buffer.alloc(0)));
  for (let cut = 1; cut <= 3; cut++) {
    const truncated = text.subarray(0, text.length - cut);
    t.false(isValidUtf8Text(truncated), `strict, cut ${cut}`);
    t.true(isValidUtf8Text(truncated, { truncated: true }), `truncated, cut ${cut}`);
  }
  t.false(isValidUtf8Text(Buffer.from([0x61, 0xf4, 0x90, 0x80, 0x80])), 'past U+10FFFF');
  t.false(isValidUtf8Text(Buffer.from([0x61, 0xff]), { truncated: true }));
  t.false(isValidUtf8Text(Buffer.from('a\0b')));
  t.false(isValidUtf8Text(Buffer.from('a\0b'), { truncated: true }));
});

// ---- filenames -------------------------------------------------------------------------------------------------

test('safeFilename keeps only the last path segment and drops leading dots', (t) => {
  t.is(safeFilename('../../etc/passwd', 'txt'), 'passwd.txt');
  t.is(safeFilename('..\\..\\Windows\\win.ini', 'txt'), 'win.txt');
  t.is(safeFilename('.htaccess', 'txt'), 'htaccess.txt');
  t.is(safeFilename('..', 'png'), 'file.png');
});

test('safeFilename removes CR/LF, control characters and double quotes', (t) => {
  const name = safeFilename('a\r\nb"c.png', 'png');
  t.is(name, 'abc.png');
  t.notRegex(name, /[\r\n"\p{Cc}]/u);
  t.is(safeFilename('tab\there\u0000\u0085.png', 'png'), 'tabhere.png');
  t.is(safeFilename("John's photo.png", 'png'), "John's photo.png");
});

test('safeFilename removes bidi overrides, so a right-to-left trick cannot hide the real extension', (t) => {
  t.is(safeFilename('\u202egnp.exe', 'png'), 'gnp.png');
  t.is(safeFilename('invoice\u202Efdp.exe', 'pdf'), 'invoicefdp.pdf');
  t.is(safeFilename('a\u2066b\u2069\u200f\u200b.txt', 'txt'), 'ab.txt');
});

test('safeFilename ends in the served extension (aliases kept, anything else replaced or appended)', (t) => {
  t.is(safeFilename('photo.jpeg', 'jpg'), 'photo.jpeg');
  t.is(safeFilename('photo.JPG', 'jpg'), 'photo.JPG');
  t.is(safeFilename('photo.png', 'jpg'), 'photo.jpg');
  t.is(safeFilename('notes.md', 'txt'), 'notes.md');
  t.is(safeFilename('report', 'pdf'), 'report.pdf');
  t.is(safeFilename('report v2.final draft', 'pdf'), 'report v2.final draft.pdf');
  t.is(safeFilename(null, 'png'), 'file.png');
  t.is(safeFilename('', 'png'), 'file.png');
  t.is(safeFilename('\r\n', 'png'), 'file.png');
});

test('safeFilename normalizes to NFC', (t) => {
  t.is(safeFilename('cafe\u0301.txt', 'txt'), 'caf\u00e9.txt');
});

test('safeFilename caps the name at 120 characters and keeps the extension, never splitting a character', (t) => {
  const long = safeFilename(`${'a'.repeat(300)}.png`, 'png');
  t.is(long.length, 120);
  t.true(long.endsWith('.png'));
  const emoji = safeFilename(`${'😀'.repeat(200)}.png`, 'png');
  t.true(emoji.length <= 120);
  t.true(emoji.endsWith('.png'));
  t.true(isValidUtf8Text(Buffer.from(emoji, 'utf8')));
  t.true(
    [...emoji.slice(0, -4)].every((c) => c === '😀'),
    'no half of a surrogate pair left behind',
  );
});
