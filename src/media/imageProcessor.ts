/**
 * Every decode of an uploaded image goes through here: re-encoding (auto-orient, strip all metadata), square
 * avatar variants and thumbnails. Untrusted input is checked before libvips touches it: the first bytes must
 * be one of the allowed formats (so sharp never parses SVG, PDF, TIFF, HEIC, ... handed to it by mistake),
 * and the header's pixel count must be within `maxPixels` (a decompression bomb fails on its header, without
 * decoding). Each job runs single-threaded in libvips; parallelism and memory are bounded by a pool of
 * `concurrency` jobs with at most `maxQueue` waiting, beyond which work is refused with `BusyError`.
 * Outputs are written to a temp file next to the target and renamed on success, so a failure leaves nothing.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import type { Metadata, OutputInfo, Sharp, SharpOptions } from 'sharp';
import { DomainError } from '../../commands/shared/errors.ts';

export interface ImageProcessorOptions {
  /** Largest width × height (summed over frames for animations) accepted, e.g. 40_000_000. */
  maxPixels: number;
  /** Jobs decoding at once. */
  concurrency: number;
  /** Jobs waiting for a slot beyond which new ones are refused with BusyError. */
  maxQueue: number;
}

export class ImageTooLargeError extends DomainError {
  constructor(maxPixels: number) {
    super('image_too_large', 422, `Image has more than ${maxPixels} pixels`, { maxPixels });
  }
}

export class InvalidImageError extends DomainError {
  constructor(message = 'File is not a valid image of an accepted type', cause?: unknown) {
    super('invalid_image', 422, message);
    // Kept for the server log; the response only carries code, message and details.
    if (cause !== undefined) this.cause = cause;
  }
}

export class BusyError extends DomainError {
  constructor(readonly retryAfterMs: number) {
    super('busy', 503, 'Image processing is busy; retry shortly', { retryAfterMs });
  }
}

/** Same code and details as the upload classifier's 415, for a caller that passes a type we do not re-encode. */
export class UnsupportedImageTypeError extends DomainError {
  constructor(mime: string) {
    super('unsupported_media_type', 415, `Cannot re-encode ${mime}`, { detected: mime });
  }
}

type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'avif';

const MIME_TO_FORMAT: Readonly<Record<string, ImageFormat>> = {
  'image/jpeg': 'jpeg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/avif': 'avif',
};

const FORMAT_TO_MIME: Readonly<Record<ImageFormat, string>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
};

/** How long a refused caller should wait before retrying (the HTTP layer sends it as Retry-After). */
const BUSY_RETRY_AFTER_MS = 1000;
const SNIFF_BYTES = 64;
const VARIANT_WEBP_QUALITY = 82;

type SharpFactory = typeof import('sharp')['default'];
let sharp: SharpFactory | null = null;
/**
 * libvips is loaded with the first image, not at start-up (about 30 MB a server that sees no image does not
 * spend). Its settings are process-wide: one thread per job (the pool gives parallelism) and no operation cache.
 */
async function loadSharp(): Promise<SharpFactory> {
  if (!sharp) {
    const loaded = (await import('sharp')).default;
    loaded.concurrency(1);
    loaded.cache(false);
    sharp = loaded;
  }
  return sharp;
}

/** The format named by the file's first bytes, among the ones we accept; anything else is undefined. */
export function sniffImageFormat(head: Uint8Array): ImageFormat | undefined {
  const ascii = (from: number, to: number) => Buffer.from(head.subarray(from, to)).toString('latin1');
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 8 && Buffer.from(head.subarray(0, 8)).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (head.length >= 16 && ascii(4, 8) === 'ftyp') {
    // ISO-BMFF: major brand then compatible brands up to the end of the ftyp box. HEIC has none of avif/avis.
    const boxSize = Buffer.from(head.subarray(0, 4)).readUInt32BE(0);
    const end = Math.min(boxSize, head.length);
    const brands = [ascii(8, 12)];
    for (let at = 16; at + 4 <= end; at += 4) brands.push(ascii(at, at + 4));
    if (brands.includes('avif') || brands.includes('avis')) return 'avif';
  }
  return undefined;
}

async function readHead(path: string): Promise<Uint8Array> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await file.read(buffer, 0, SNIFF_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** The format sharp reports for each sniffed format (AVIF is HEIF with AV1 inside). */
function metadataMatches(format: ImageFormat, metadata: Metadata): boolean {
  if (format === 'avif') return metadata.format === 'heif' && metadata.compression === 'av1';
  return metadata.format === format;
}

/** A temp path next to `outputPath` (same filesystem, so the rename is atomic), unique per job. */
function tempPathFor(outputPath: string): string {
  return `${outputPath}.${randomBytes(6).toString('hex')}.tmp`;
}

/** Writes through `write(tempPath)` to temp files, renames them all on success, removes them all on failure. */
async function writeAtomically<T>(outputPaths: readonly string[], write: (tempPaths: readonly string[]) => Promise<T>): Promise<T> {
  const tempPaths = outputPaths.map(tempPathFor);
  try {
    // Create them exclusively first: a missing directory or a permission problem surfaces as the ordinary fs
    // error it is, not as something that looks like a bad image.
    for (const tempPath of tempPaths) await (await open(tempPath, 'wx', 0o600)).close();
    const result = await write(tempPaths);
    for (let i = 0; i < tempPaths.length; i += 1) await rename(tempPaths[i]!, outputPaths[i]!);
    return result;
  } catch (error) {
    await Promise.all(tempPaths.map((tempPath) => rm(tempPath, { force: true })));
    throw error;
  }
}

function isPositiveInteger(value: number): boolean {
  return Number.isInteger(value) && value > 0;
}

/** Width and height as displayed (after EXIF orientation); for animations, of one frame. */
function orientedSize(metadata: Metadata): { width: number; height: number } {
  return { width: metadata.autoOrient.width, height: metadata.autoOrient.height };
}

/** Dimensions of a written image: one frame's height for animations (sharp reports the whole strip). */
function outputSize(info: OutputInfo): { width: number; height: number } {
  return { width: info.width, height: info.pageHeight ?? info.height };
}

export class ImageProcessor {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly options: ImageProcessorOptions) {
    for (const name of ['maxPixels', 'concurrency'] as const) {
      if (!isPositiveInteger(options[name])) throw new RangeError(`${name} must be a positive integer`);
    }
    if (!Number.isInteger(options.maxQueue) || options.maxQueue < 0) throw new RangeError('maxQueue must be a non-negative integer');
  }

  /** Jobs running and waiting, for /ping. */
  get load(): { running: number; queued: number } {
    return { running: this.running, queued: this.waiting.length };
  }

  /**
   * Re-encodes an upload in its own format with every piece of metadata dropped (EXIF incl. GPS, XMP, IPTC;
   * colour converted to sRGB and the ICC profile dropped), after turning it upright by its EXIF orientation.
   * Animated GIF/WebP keep their frames; they are not auto-oriented (libvips cannot rotate multi-page images),
   * and their orientation tag is dropped with the rest.
   */
  reencode(inputPath: string, outputPath: string, mime: string): Promise<{ width: number; height: number; mime: string; bytes: number }> {
    const format = MIME_TO_FORMAT[mime];
    if (format === undefined) return Promise.reject(new UnsupportedImageTypeError(mime));
    return this.schedule(async () => {
      const metadata = await this.inspect(inputPath, format);
      const pages = metadata.pages ?? 1;
      const animated = pages > 1 && (format === 'gif' || format === 'webp');
      if (animated && metadata.width * metadata.height * pages > this.options.maxPixels) throw new ImageTooLargeError(this.options.maxPixels);
      let pipeline = this.open(inputPath, animated ? { animated: true } : {});
      if (!animated) pipeline = pipeline.rotate();
      pipeline = encodeAs(pipeline, format);
      const info = await writeAtomically([outputPath], ([tempPath]) => this.run(() => pipeline.toFile(tempPath!)));
      return { ...outputSize(info), mime: FORMAT_TO_MIME[format], bytes: info.size };
    });
  }

  /**
   * Square variants (cover, centred) as WebP, one per size, never larger than the source's smaller side.
   * All are written or none.
   */
  squareVariants(
    inputPath: string,
    outputPathFor: (size: number) => string,
    sizes: readonly number[],
  ): Promise<Array<{ size: number; path: string; width: number; height: number; bytes: number }>> {
    if (sizes.length === 0 || !sizes.every(isPositiveInteger)) return Promise.reject(new RangeError('sizes must be positive integers'));
    return this.schedule(async () => {
      const metadata = await this.inspect(inputPath);
      const { width, height } = orientedSize(metadata);
      const largest = Math.min(width, height);
      const paths = sizes.map((size) => outputPathFor(size));
      return writeAtomically(paths, async (tempPaths) => {
        const results: Array<{ size: number; path: string; width: number; height: number; bytes: number }> = [];
        // One at a time: each decode uses shrink-on-load for its own size, and memory stays one decode deep.
        for (let i = 0; i < sizes.length; i += 1) {
          const size = sizes[i]!;
          const side = Math.min(size, largest);
          const info = await this.run(() =>
            this.open(inputPath)
              .rotate()
              .resize(side, side, { fit: 'cover', position: 'centre' })
              .webp({ quality: VARIANT_WEBP_QUALITY })
              .toFile(tempPaths[i]!),
          );
          results.push({ size, path: paths[i]!, ...outputSize(info), bytes: info.size });
        }
        return results;
      });
    });
  }

  /**
   * A WebP thumbnail. 'scale' fits inside width × height keeping the aspect ratio; 'crop' covers width × height
   * (centred). Neither upscales: a crop larger than the source shrinks the box, keeping the requested ratio.
   */
  thumbnail(inputPath: string, outputPath: string, width: number, height: number, method: 'crop' | 'scale'): Promise<{ width: number; height: number; bytes: number }> {
    if (!isPositiveInteger(width) || !isPositiveInteger(height)) return Promise.reject(new RangeError('width and height must be positive integers'));
    return this.schedule(async () => {
      const metadata = await this.inspect(inputPath);
      const source = orientedSize(metadata);
      let pipeline = this.open(inputPath).rotate();
      if (method === 'crop') {
        const k = Math.min(1, source.width / width, source.height / height);
        const boxWidth = Math.max(1, Math.round(width * k));
        const boxHeight = Math.max(1, Math.round(height * k));
        pipeline = pipeline.resize(boxWidth, boxHeight, { fit: 'cover', position: 'centre' });
      } else {
        pipeline = pipeline.resize(width, height, { fit: 'inside', withoutEnlargement: true });
      }
      const info = await writeAtomically([outputPath], ([tempPath]) =>
        this.run(() => pipeline.webp({ quality: VARIANT_WEBP_QUALITY }).toFile(tempPath!)),
      );
      return { ...outputSize(info), bytes: info.size };
    });
  }

  /** Runs `job` when a slot is free; refuses at once when `maxQueue` jobs are already waiting. */
  private async schedule<T>(job: () => Promise<T>): Promise<T> {
    if (this.running < this.options.concurrency) {
      this.running += 1;
    } else {
      if (this.waiting.length >= this.options.maxQueue) throw new BusyError(BUSY_RETRY_AFTER_MS);
      // The finishing job hands its slot over directly, so `running` stays counted.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    try {
      await loadSharp();
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.running -= 1;
      else next();
    }
  }

  private open(inputPath: string, extra: SharpOptions = {}): Sharp {
    // failOn 'error' rejects truncated and corrupt pixel data; 'warning' would also reject the many camera
    // files with harmless libjpeg warnings (extraneous bytes before a marker and the like).
    // Loaded by `schedule` before any job runs.
    return sharp!(inputPath, { limitInputPixels: this.options.maxPixels, failOn: 'error', ...extra });
  }

  /**
   * Checks the magic bytes (optionally against the expected format) and the header's pixel count, without
   * decoding any pixel data. Returns the header metadata.
   */
  private async inspect(inputPath: string, expected?: ImageFormat): Promise<Metadata> {
    const sniffed = sniffImageFormat(await readHead(inputPath));
    if (sniffed === undefined) throw new InvalidImageError();
    if (expected !== undefined && sniffed !== expected) throw new InvalidImageError(`File content is not ${FORMAT_TO_MIME[expected]}`);
    const metadata = await this.run(() => this.open(inputPath).metadata());
    if (!metadataMatches(sniffed, metadata)) throw new InvalidImageError();
    if (!isPositiveInteger(metadata.width) || !isPositiveInteger(metadata.height)) throw new InvalidImageError();
    if (metadata.width * metadata.height > this.options.maxPixels) throw new ImageTooLargeError(this.options.maxPixels);
    return metadata;
  }

  /** Runs one sharp call and turns libvips' failures into domain errors; I/O failures stay what they are. */
  private async run<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw this.translate(error);
    }
  }

  private translate(error: unknown): unknown {
    if (error instanceof DomainError) return error;
    if (!(error instanceof Error)) return error;
    if ('code' in error && typeof error.code === 'string') return error; // ENOENT, EACCES, ... from Node
    const message = error.message;
    if (/exceeds pixel limit/i.test(message)) return new ImageTooLargeError(this.options.maxPixels);
    // Output trouble (disk full, directory gone) is ours, not the uploader's.
    if (/unable to open for write|write error|system error|Input file is missing/i.test(message)) return error;
    return new InvalidImageError(undefined, error);
  }
}

function encodeAs(pipeline: Sharp, format: ImageFormat): Sharp {
  switch (format) {
    case 'jpeg':
      return pipeline.jpeg({ mozjpeg: true, quality: 85 });
    case 'png':
      return pipeline.png();
    case 'webp':
      return pipeline.webp({ quality: 85 });
    case 'gif':
      return pipeline.gif();
    case 'avif':
      return pipeline.avif();
    default: {
      const never: never = format;
      throw new Error(`Unhandled format ${String(never)}`);
    }
  }
}
