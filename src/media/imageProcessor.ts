/**
 * Every decode of an uploaded image goes through here: re-encoding (auto-orient, strip all metadata), square
 * avatar variants and thumbnails. Untrusted input is checked before libvips touches it: the first bytes must
 * be one of the allowed formats (so sharp never parses SVG, PDF, TIFF, HEIC, ... handed to it by mistake),
 * and the header's pixel count must be within `maxPixels` (a decompression bomb fails on its header, without
 * decoding; AVIF, whose AV1 encode costs the most, has a lower limit of its own). Each job runs single-threaded in
 * libvips and is stopped past `timeoutSeconds`; parallelism and memory are bounded by a pool of `concurrency` jobs
 * with at most `maxQueue` waiting, beyond which work is refused with `BusyError`. The pool is fair per owner: one
 * owner runs at most `concurrency - 1` jobs at once (one when the pool has a single slot) and queues at most a quarter
 * of `maxQueue`, and waiting owners take turns, so one user's costly images never keep another's small one waiting.
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
  /** Lower pixel limits for formats that cost more per pixel (default: AVIF at 4096 × 4096). */
  maxPixelsByFormat?: Partial<Record<ImageFormat, number>>;
  /** A job still running after this long is stopped (422 image_too_large). Default 30. */
  timeoutSeconds?: number;
}

/** AV1 is the costliest to encode: a flat 36-megapixel AVIF of 1 KB took 16 s to re-encode. */
export const DEFAULT_MAX_PIXELS_BY_FORMAT: Readonly<Partial<Record<ImageFormat, number>>> = Object.freeze({ avif: 4096 * 4096 });
export const DEFAULT_JOB_TIMEOUT_SECONDS = 30;
/** The owner of jobs that name none. */
const NO_OWNER = '';

export class ImageTooLargeError extends DomainError {
  constructor(maxPixels: number, timeoutSeconds?: number) {
    super(
      'image_too_large',
      422,
      timeoutSeconds === undefined ? `Image has more than ${maxPixels} pixels` : `Image takes more than ${timeoutSeconds} s to process`,
      timeoutSeconds === undefined ? { maxPixels } : { maxPixels, timeoutSeconds },
    );
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

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'avif';

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

type SharpFactory = (typeof import('sharp'))['default'];
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
  if (head.length >= 8 && Buffer.from(head.subarray(0, 8)).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'png';
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

/** A job in the pool: its deadline (ms), and whether its caller was already answered (it ran past the deadline). */
interface JobRun {
  deadline: number;
  abandoned: boolean;
}

/**
 * Writes through `write(tempPath)` to temp files, renames them all on success, removes them all on failure or when
 * the job was abandoned meanwhile (its caller has moved on: nothing of it may appear later).
 */
async function writeAtomically<T>(
  job: JobRun,
  outputPaths: readonly string[],
  write: (tempPaths: readonly string[]) => Promise<T>,
): Promise<T> {
  const tempPaths = outputPaths.map(tempPathFor);
  try {
    // Create them exclusively first: a missing directory or a permission problem surfaces as the ordinary fs
    // error it is, not as something that looks like a bad image.
    for (const tempPath of tempPaths) await (await open(tempPath, 'wx', 0o600)).close();
    const result = await write(tempPaths);
    if (job.abandoned) throw new Error('Abandoned past its deadline');
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
  private queued = 0;
  private readonly runningByOwner = new Map<string, number>();
  /** Waiting jobs by owner, owners in turn order (the one served last moves to the end). */
  private readonly waitingByOwner = new Map<string, Array<() => void>>();
  private readonly maxRunningPerOwner: number;
  private readonly maxQueuedPerOwner: number;
  private readonly timeoutSeconds: number;

  constructor(private readonly options: ImageProcessorOptions) {
    for (const name of ['maxPixels', 'concurrency'] as const) {
      if (!isPositiveInteger(options[name])) throw new RangeError(`${name} must be a positive integer`);
    }
    if (!Number.isInteger(options.maxQueue) || options.maxQueue < 0) throw new RangeError('maxQueue must be a non-negative integer');
    this.timeoutSeconds = options.timeoutSeconds ?? DEFAULT_JOB_TIMEOUT_SECONDS;
    if (!isPositiveInteger(this.timeoutSeconds)) throw new RangeError('timeoutSeconds must be a positive integer');
    this.maxRunningPerOwner = Math.max(1, options.concurrency - 1);
    this.maxQueuedPerOwner = Math.max(1, Math.floor(options.maxQueue / 4));
  }

  /** Jobs running and waiting, for /ping. */
  get load(): { running: number; queued: number } {
    return { running: this.running, queued: this.queued };
  }

  private pixelLimitOf(format: ImageFormat): number {
    return Math.min(this.options.maxPixels, (this.options.maxPixelsByFormat ?? DEFAULT_MAX_PIXELS_BY_FORMAT)[format] ?? Infinity);
  }

  /**
   * Re-encodes an upload in its own format with every piece of metadata dropped (EXIF incl. GPS, XMP, IPTC;
   * colour converted to sRGB and the ICC profile dropped), after turning it upright by its EXIF orientation.
   * Animated GIF/WebP keep their frames; they are not auto-oriented (libvips cannot rotate multi-page images),
   * and their orientation tag is dropped with the rest. `owner` is whose turn it is in the pool.
   */
  reencode(
    inputPath: string,
    outputPath: string,
    mime: string,
    owner = NO_OWNER,
  ): Promise<{ width: number; height: number; mime: string; bytes: number }> {
    const format = MIME_TO_FORMAT[mime];
    if (format === undefined) return Promise.reject(new UnsupportedImageTypeError(mime));
    return this.schedule(owner, async (job) => {
      const { metadata, limit } = await this.inspect(inputPath, format);
      const pages = metadata.pages ?? 1;
      const animated = pages > 1 && (format === 'gif' || format === 'webp');
      if (animated && metadata.width * metadata.height * pages > limit) throw new ImageTooLargeError(limit);
      let pipeline = this.open(inputPath, limit, job, animated ? { animated: true } : {});
      if (!animated) pipeline = pipeline.rotate();
      pipeline = encodeAs(pipeline, format);
      const info = await writeAtomically(job, [outputPath], ([tempPath]) => this.run(() => pipeline.toFile(tempPath!), limit));
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
    owner = NO_OWNER,
  ): Promise<Array<{ size: number; path: string; width: number; height: number; bytes: number }>> {
    if (sizes.length === 0 || !sizes.every(isPositiveInteger)) return Promise.reject(new RangeError('sizes must be positive integers'));
    return this.schedule(owner, async (job) => {
      const { metadata, limit } = await this.inspect(inputPath);
      const { width, height } = orientedSize(metadata);
      const largest = Math.min(width, height);
      const paths = sizes.map((size) => outputPathFor(size));
      return writeAtomically(job, paths, async (tempPaths) => {
        const results: Array<{ size: number; path: string; width: number; height: number; bytes: number }> = [];
        // One at a time: each decode uses shrink-on-load for its own size, and memory stays one decode deep.
        for (let i = 0; i < sizes.length; i += 1) {
          const size = sizes[i]!;
          const side = Math.min(size, largest);
          const info = await this.run(
            () =>
              this.open(inputPath, limit, job)
                .rotate()
                .resize(side, side, { fit: 'cover', position: 'centre' })
                .webp({ quality: VARIANT_WEBP_QUALITY })
                .toFile(tempPaths[i]!),
            limit,
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
  thumbnail(
    inputPath: string,
    outputPath: string,
    width: number,
    height: number,
    method: 'crop' | 'scale',
    owner = NO_OWNER,
  ): Promise<{ width: number; height: number; bytes: number }> {
    if (!isPositiveInteger(width) || !isPositiveInteger(height))
      return Promise.reject(new RangeError('width and height must be positive integers'));
    return this.schedule(owner, async (job) => {
      const { metadata, limit } = await this.inspect(inputPath);
      const source = orientedSize(metadata);
      let pipeline = this.open(inputPath, limit, job).rotate();
      if (method === 'crop') {
        const k = Math.min(1, source.width / width, source.height / height);
        const boxWidth = Math.max(1, Math.round(width * k));
        const boxHeight = Math.max(1, Math.round(height * k));
        pipeline = pipeline.resize(boxWidth, boxHeight, { fit: 'cover', position: 'centre' });
      } else {
        pipeline = pipeline.resize(width, height, { fit: 'inside', withoutEnlargement: true });
      }
      const info = await writeAtomically(job, [outputPath], ([tempPath]) =>
        this.run(() => pipeline.webp({ quality: VARIANT_WEBP_QUALITY }).toFile(tempPath!), limit),
      );
      return { ...outputSize(info), bytes: info.size };
    });
  }

  /**
   * Runs `job` when a slot is free for `owner` (a free slot, and fewer than their share running); refuses at once
   * when `maxQueue` jobs, or the owner's share of it, are already waiting. Past `timeoutSeconds` the caller gets
   * image_too_large at once; libvips cannot be interrupted inside an encoder (sharp's own timeout only stops what it
   * evaluates, not AV1 or mozjpeg), so the job keeps its slot, counted against its owner, until it is really done,
   * and then writes nothing.
   */
  private async schedule<T>(owner: string, job: (run: JobRun) => Promise<T>): Promise<T> {
    if (this.mayStart(owner)) {
      this.start(owner);
    } else {
      const mine = this.waitingByOwner.get(owner);
      if (this.queued >= this.options.maxQueue || (mine?.length ?? 0) >= this.maxQueuedPerOwner) throw new BusyError(BUSY_RETRY_AFTER_MS);
      // `dispatch` counts the job as started before it resolves this.
      await new Promise<void>((resolve) => {
        if (mine) mine.push(resolve);
        else this.waitingByOwner.set(owner, [resolve]);
        this.queued += 1;
      });
    }
    const run: JobRun = { deadline: Date.now() + this.timeoutSeconds * 1000, abandoned: false };
    const work = (async () => {
      await loadSharp();
      return job(run);
    })();
    // Registered first, so the slot is free before the caller hears of the result.
    work.then(
      () => this.release(owner),
      () => this.release(owner),
    );
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        run.abandoned = true;
        reject(new ImageTooLargeError(this.options.maxPixels, this.timeoutSeconds));
      }, this.timeoutSeconds * 1000);
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  private release(owner: string): void {
    this.running -= 1;
    const left = (this.runningByOwner.get(owner) ?? 1) - 1;
    if (left === 0) this.runningByOwner.delete(owner);
    else this.runningByOwner.set(owner, left);
    this.dispatch();
  }

  private mayStart(owner: string): boolean {
    return this.running < this.options.concurrency && (this.runningByOwner.get(owner) ?? 0) < this.maxRunningPerOwner;
  }

  private start(owner: string): void {
    this.running += 1;
    this.runningByOwner.set(owner, (this.runningByOwner.get(owner) ?? 0) + 1);
  }

  /** Hands free slots to waiting owners in turn: the first in order who may start, who then goes to the back. */
  private dispatch(): void {
    while (this.running < this.options.concurrency) {
      let next: string | undefined;
      for (const owner of this.waitingByOwner.keys()) {
        if (this.mayStart(owner)) {
          next = owner;
          break;
        }
      }
      if (next === undefined) return;
      const waiting = this.waitingByOwner.get(next)!;
      const resolve = waiting.shift()!;
      this.waitingByOwner.delete(next);
      if (waiting.length > 0) this.waitingByOwner.set(next, waiting);
      this.queued -= 1;
      this.start(next);
      resolve();
    }
  }

  /** A pipeline over the input, refusing more than `limit` pixels, and stopped by libvips where it can at the job's deadline. */
  private open(inputPath: string, limit: number, job: JobRun, extra: SharpOptions = {}): Sharp {
    // failOn 'error' rejects truncated and corrupt pixel data; 'warning' would also reject the many camera
    // files with harmless libjpeg warnings (extraneous bytes before a marker and the like).
    // Loaded by `schedule` before any job runs.
    const seconds = Math.ceil((job.deadline - Date.now()) / 1000);
    if (seconds <= 0 || job.abandoned) throw new ImageTooLargeError(limit, this.timeoutSeconds);
    return sharp!(inputPath, { limitInputPixels: limit, failOn: 'error', ...extra }).timeout({ seconds });
  }

  /**
   * Checks the magic bytes (optionally against the expected format) and the header's pixel count against the
   * format's limit, without decoding any pixel data. Returns the header metadata and that limit.
   */
  private async inspect(inputPath: string, expected?: ImageFormat): Promise<{ metadata: Metadata; limit: number }> {
    const sniffed = sniffImageFormat(await readHead(inputPath));
    if (sniffed === undefined) throw new InvalidImageError();
    if (expected !== undefined && sniffed !== expected) throw new InvalidImageError(`File content is not ${FORMAT_TO_MIME[expected]}`);
    const limit = this.pixelLimitOf(sniffed);
    const metadata = await this.run(() => sharp!(inputPath, { limitInputPixels: limit, failOn: 'error' }).metadata(), limit);
    if (!metadataMatches(sniffed, metadata)) throw new InvalidImageError();
    if (!isPositiveInteger(metadata.width) || !isPositiveInteger(metadata.height)) throw new InvalidImageError();
    if (metadata.width * metadata.height > limit) throw new ImageTooLargeError(limit);
    return { metadata, limit };
  }

  /** Runs one sharp call and turns libvips' failures into domain errors; I/O failures stay what they are. */
  private async run<T>(call: () => Promise<T>, limit: number): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw this.translate(error, limit);
    }
  }

  private translate(error: unknown, limit: number): unknown {
    if (error instanceof DomainError) return error;
    if (!(error instanceof Error)) return error;
    if ('code' in error && typeof error.code === 'string') return error; // ENOENT, EACCES, ... from Node
    const message = error.message;
    if (/exceeds pixel limit/i.test(message)) return new ImageTooLargeError(limit);
    if (/timeout/i.test(message)) return new ImageTooLargeError(limit, this.timeoutSeconds);
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
      // AV1 at its fastest setting: the default effort took six times as long (9.1 s against 1.5 s for 12 megapixels).
      return pipeline.avif({ effort: 0 });
    default: {
      const never: never = format;
      throw new Error(`Unhandled format ${String(never)}`);
    }
  }
}
