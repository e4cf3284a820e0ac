/** Hand-made ISO-BMFF (MP4/QuickTime) files with the metadata a phone writes: location, make and model. */
export const box = (type: string, ...children: Buffer[]): Buffer => {
  const payload = Buffer.concat(children);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + payload.length);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, payload]);
};
/** A box with a 64-bit size (size field 1, then the largesize). */
export const largeBox = (type: string, ...children: Buffer[]): Buffer => {
  const payload = Buffer.concat(children);
  const header = Buffer.alloc(16);
  header.writeUInt32BE(1);
  header.write(type, 4, 'latin1');
  header.writeBigUInt64BE(BigInt(16 + payload.length), 8);
  return Buffer.concat([header, payload]);
};
const fullBox = (type: string, body: Buffer) => box(type, Buffer.alloc(4), body);
/** A QuickTime user-data string atom (©xyz, ©mak, …): 16-bit length, 16-bit language, text. */
const userText = (type: string, text: string) => {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(Buffer.byteLength(text));
  return box(type, head, Buffer.from(text, 'latin1'));
};

export const GPS = '+48.8584+002.2945+035.000/';
export const DEVICE = 'Pixel 9 Pro';
export const MEDIA_DATA = Buffer.from('pretend these are 2 seconds of H.264 and AAC samples');

/** ftyp, moov (mvhd, a trak with its own udta, a udta with ©xyz/©mak/©mod, an Apple meta with a location key, XMP in a uuid), mdat. */
export function phoneVideo(brand: 'isom' | 'qt  ' | 'M4A ' = 'isom'): Buffer {
  const ftyp = box('ftyp', Buffer.from(brand, 'latin1'), Buffer.alloc(4), Buffer.from(`${brand}mp41`, 'latin1'));
  const mvhd = fullBox('mvhd', Buffer.alloc(96, 1));
  const trak = box(
    'trak',
    fullBox('tkhd', Buffer.alloc(80, 2)),
    box('mdia', fullBox('mdhd', Buffer.alloc(20, 3)), box('udta', userText('\xa9nam', 'Track shot at home'))),
    box('udta', userText('\xa9xyz', GPS)),
  );
  const udta = box('udta', userText('\xa9xyz', GPS), userText('\xa9mak', 'Google'), userText('\xa9mod', DEVICE));
  const meta = fullBox(
    'meta',
    Buffer.concat([
      fullBox('hdlr', Buffer.concat([Buffer.alloc(4), Buffer.from('mdta', 'latin1'), Buffer.alloc(13)])),
      fullBox('keys', Buffer.from('com.apple.quicktime.location.ISO6709', 'latin1')),
      box('ilst', box('data', Buffer.from(GPS, 'latin1'))),
    ]),
  );
  const xmp = largeBox(
    'uuid',
    Buffer.from('be7acfcb97a942e89c71999491e3afac', 'hex'),
    Buffer.from(`<x:xmpmeta><exif:GPSLatitude>${GPS}</exif:GPSLatitude></x:xmpmeta>`, 'latin1'),
  );
  return Buffer.concat([ftyp, box('moov', mvhd, trak, udta, meta, xmp), box('mdat', MEDIA_DATA)]);
}

/** The boxes at the top level and in moov, as [type, size] pairs. */
export function layout(file: Buffer): Array<[string, number]> {
  const boxes: Array<[string, number]> = [];
  const walk = (start: number, end: number, prefix: string) => {
    for (let at = start; at + 8 <= end;) {
      let size = file.readUInt32BE(at);
      const type = file.toString('latin1', at + 4, at + 8);
      let header = 8;
      if (size === 1) {
        size = Number(file.readBigUInt64BE(at + 8));
        header = 16;
      }
      boxes.push([`${prefix}${type}`, size]);
      if (type === 'moov' || type === 'trak' || type === 'mdia') walk(at + header, at + size, `${prefix}${type}/`);
      at += size;
    }
  };
  walk(0, file.length, '');
  return boxes;
}
