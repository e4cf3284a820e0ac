/**
 * Hand-made voice recordings (there is no encoder on the test machines): an Ogg/Opus file of silent 20 ms packets and
 * an MP3 of silent MPEG-1 Layer III frames, both valid enough for file-type to recognise and for music-metadata to
 * read their duration (the Ogg one from its last page's granule position, the MP3 one by counting its frames).
 */

/** Ogg's CRC-32: polynomial 0x04c11db7, not reflected, initial value 0, no final xor (RFC 3533). */
const OGG_CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let index = 0; index < 256; index++) {
    let crc = index << 24;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
    table[index] = crc >>> 0;
  }
  return table;
})();

function oggCrc(bytes: Buffer): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) ^ OGG_CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]!) >>> 0;
  return crc;
}

/** One Ogg page holding `packets` (each under 255 bytes, so one lacing value apiece). */
function oggPage(packets: Buffer[], options: { granule: bigint; sequence: number; flags: number }): Buffer {
  const header = Buffer.alloc(27 + packets.length);
  header.write('OggS', 0, 'latin1');
  header.writeUInt8(0, 4);
  header.writeUInt8(options.flags, 5);
  header.writeBigInt64LE(options.granule, 6);
  header.writeUInt32LE(0x5eed, 14);
  header.writeUInt32LE(options.sequence, 18);
  header.writeUInt8(packets.length, 26);
  packets.forEach((packet, index) => header.writeUInt8(packet.length, 27 + index));
  const page = Buffer.concat([header, ...packets]);
  page.writeUInt32LE(oggCrc(page), 22);
  return page;
}

const PRE_SKIP = 312;

/** An Ogg/Opus recording of `seconds` (a multiple of 0.02) of silence: mono, 48 kHz, 20 ms packets. */
export function oggOpus(seconds: number): Buffer {
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head.writeUInt8(1, 8); // version
  head.writeUInt8(1, 9); // channels
  head.writeUInt16LE(PRE_SKIP, 10);
  head.writeUInt32LE(48_000, 12);
  const vendor = Buffer.from('letsapp-test');
  const tags = Buffer.alloc(8 + 4 + vendor.length + 4);
  tags.write('OpusTags', 0, 'latin1');
  tags.writeUInt32LE(vendor.length, 8);
  vendor.copy(tags, 12);
  const pages = [oggPage([head], { granule: 0n, sequence: 0, flags: 0x02 }), oggPage([tags], { granule: 0n, sequence: 1, flags: 0 })];
  // TOC 0xf8: CELT fullband 20 ms, mono, one frame; with no frame bytes it is a lost (silent) frame.
  const packet = Buffer.from([0xf8]);
  const total = Math.round(seconds * 50);
  for (let sent = 0, sequence = 2; sent < total; sequence++) {
    const count = Math.min(200, total - sent);
    sent += count;
    pages.push(
      oggPage(
        Array.from({ length: count }, () => packet),
        {
          granule: BigInt(PRE_SKIP + sent * 960),
          sequence,
          flags: sent === total ? 0x04 : 0,
        },
      ),
    );
  }
  return Buffer.concat(pages);
}

/** An MP3 of about `seconds` of silence: MPEG-1 Layer III, 32 kbit/s, 44.1 kHz, mono; 1152 samples (26 ms) a frame. */
export function mp3(seconds: number): Buffer {
  const frame = Buffer.alloc(104); // 144 × 32000 / 44100, no padding
  frame.set([0xff, 0xfb, 0x10, 0xc0]);
  const count = Math.round((seconds * 44_100) / 1152);
  return Buffer.concat(Array.from({ length: count }, () => frame));
}

/** A voice note's waveform as a client computes it: `length` peaks, 0..255. */
export const waveform = (length = 64): number[] => Array.from({ length }, (_, index) => Math.round(127.5 + 127.5 * Math.sin(index / 4)));
