import { open, type FileHandle } from 'node:fs/promises';
import { UnsupportedMediaTypeError } from './mediaTypes.ts';

/**
 * Metadata removed from MP4, QuickTime and M4A files (ISO/IEC 14496-12 boxes), in place: every `udta` and `meta` box
 * at the top level and in `moov`, `trak` and `mdia` (where phones keep the location: `©xyz`, 3GPP `loci`, Apple's
 * `com.apple.quicktime.location.ISO6709` key; and the device: `©mak`, `©mod`, `©swr`, make/model keys; iTunes
 * tags and cover art), and `uuid` boxes at the top level and in `moov` and `trak` (XMP, which may hold GPS too), is
 * turned into a `free` box of the same size with its payload zeroed. No box moves, so every sample offset (`stco`,
 * `co64`) stays right and the file plays as before.
 *
 * Kept: the timestamps in `mvhd`/`tkhd`/`mdhd` (creation and modification time), handler names, and anything inside
 * the media data itself, such as a timed-metadata track (GoPro GPMF telemetry, a drone's caption track with
 * coordinates), whose samples sit in `mdat`.
 */
export const ISO_BMFF_MIMES: ReadonlySet<string> = new Set(['video/mp4', 'video/quicktime', 'audio/mp4']);

/** Boxes whose children are walked, by the parent they may appear in ('' is the top level). */
const WALKED: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['', new Set(['moov'])],
  ['moov', new Set(['trak'])],
  ['trak', new Set(['mdia'])],
]);
const STRIPPED: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['', new Set(['udta', 'meta', 'uuid'])],
  ['moov', new Set(['udta', 'meta', 'uuid'])],
  ['trak', new Set(['udta', 'meta', 'uuid'])],
  ['mdia', new Set(['udta', 'meta'])],
]);
const ZEROS = Buffer.alloc(64 * 1024);

export class UnreadableContainerError extends UnsupportedMediaTypeError {
  constructor(mime: string, reason: string) {
    super(mime, `The file's structure could not be read to remove its metadata (${reason})`);
  }
}

/** Strips the file at `path` in place; whether anything was removed. A structure it cannot follow is refused. */
export async function stripContainerMetadata(path: string, mime: string): Promise<boolean> {
  if (!ISO_BMFF_MIMES.has(mime)) return false;
  const file = await open(path, 'r+');
  try {
    const { size } = await file.stat();
    const stripped = await walk(file, mime, 0, size, '', true);
    if (stripped > 0) await file.sync();
    return stripped > 0;
  } finally {
    await file.close();
  }
}

/** Boxes stripped between `start` and `end` (the payload of `parent`). */
async function walk(file: FileHandle, mime: string, start: number, end: number, parent: string, topLevel: boolean): Promise<number> {
  let stripped = 0;
  const header = Buffer.alloc(16);
  for (let at = start; at + 8 <= end;) {
    const { bytesRead } = await file.read(header, 0, 16, at);
    if (bytesRead < 8) break;
    const size32 = header.readUInt32BE(0);
    const type = header.toString('latin1', 4, 8);
    let headerSize = 8;
    let size: number;
    if (size32 === 1) {
      if (bytesRead < 16) throw new UnreadableContainerError(mime, `${type} box cut short`);
      size = Number(header.readBigUInt64BE(8));
      headerSize = 16;
    } else if (size32 === 0) {
      size = end - at; // to the end of the enclosing box (or file)
    } else {
      size = size32;
    }
    if (size < headerSize) throw new UnreadableContainerError(mime, `${type} box of ${size} bytes`);
    if (at + size > end) {
      // A recording cut short (its last top-level box, mdat, runs past the end) has nothing further to hide.
      if (topLevel && !STRIPPED.get(parent)!.has(type) && !WALKED.get(parent)!.has(type)) break;
      throw new UnreadableContainerError(mime, `${type} box runs past its parent`);
    }
    if (STRIPPED.get(parent)?.has(type)) {
      await file.write(Buffer.from('free', 'latin1'), 0, 4, at + 4);
      for (let offset = at + headerSize; offset < at + size; offset += ZEROS.length) {
        await file.write(ZEROS, 0, Math.min(ZEROS.length, at + size - offset), offset);
      }
      stripped += 1;
    } else if (WALKED.get(parent)?.has(type)) {
      stripped += await walk(file, mime, at + headerSize, at + size, type, false);
    }
    at += size;
  }
  return stripped;
}
