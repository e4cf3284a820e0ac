import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import type { Context } from 'koa';
import contentDisposition from 'content-disposition';
import parseRange from 'range-parser';
import { NotFoundError } from '../../commands/shared/errors.ts';

/** A stored, immutable, content-addressed file and how to present it. Everything here was decided by the caller. */
export interface BlobToSend {
  /** Absolute path of the immutable content-addressed file. */
  path: string;
  size: number;
  /** Hex SHA-256 of the content; the strong ETag is `"<sha256>"`. */
  sha256: string;
  /** The SNIFFED type, never the one the uploader claimed. */
  mime: string;
  /** Already sanitized display name; `content-disposition` still encodes it (RFC 6266/8187). */
  filename: string;
  /** True only for the safe image/video/audio list (decided by the caller); anything else downloads. */
  inline: boolean;
}

/** The content never changes, but access is per user: a browser may keep it, a shared cache may not. */
const CACHE_CONTROL = 'private, max-age=3600';
/** Whatever the file is, a browser that renders it anyway gets no script, no plugins, no origin, no fetches. */
const CONTENT_SECURITY_POLICY = "sandbox; default-src 'none'";

type Plan = { status: 304 } | { status: 416 } | { status: 200 | 206; start: number; end: number; body: boolean };

/**
 * Answers a GET or HEAD for a stored file, with the headers of the OWASP ASVS file-download rules
 * (nosniff, sandboxing CSP, CORP, an encoded Content-Disposition) and HTTP caching and ranges (RFC 9110):
 * - `If-None-Match` (a list, `*`, weak comparison) matching the ETag: 304, no body;
 * - `Range: bytes=…` on a GET: 206 with that slice, or 416 with the JSON error shape and a Content-Range giving the
 *   size when no byte of it is in the file; a malformed Range, or a unit other than bytes, is ignored (200 whole);
 * - `If-Range` with the current strong ETag keeps the Range; anything else (another ETag, a date: we send no
 *   Last-Modified) means 200 whole;
 * - HEAD: the headers and Content-Length of a 200, no body (Range is defined for GET only, so HEAD ignores it).
 * Any other method is answered like a GET; route only GET and HEAD here.
 *
 * The file is streamed, never read into memory. It is stat'ed, and opened when a body is due, BEFORE any header
 * is set, so a file that vanished since the lookup becomes a clean 404 (`NotFoundError('Media')`) with none of
 * the blob's headers on it, instead of a reset connection halfway through a 200.
 */
export async function sendBlob(ctx: Context, blob: BlobToSend): Promise<void> {
  const stats = await statOrNotFound(blob.path);
  if (stats.size !== blob.size) {
    // Serving it would send a Content-Length or ETag that lies about the bytes; this is a 500, logged.
    throw new Error(`Stored media ${blob.sha256} is ${stats.size} bytes on disk but ${blob.size} in its record`);
  }
  const etag = `"${blob.sha256}"`;
  const plan = planResponse(ctx, etag, blob.size);

  // Open before touching the response; the stream made from the handle owns it and closes it when it ends or is
  // destroyed (Koa destroys it when the response finishes or the client goes away). An empty file needs no handle.
  const streamed = plan.status !== 304 && plan.status !== 416 && plan.body && plan.end >= plan.start;
  const handle = streamed ? await openOrNotFound(blob.path) : null;

  ctx.set('ETag', etag);
  ctx.set('Cache-Control', CACHE_CONTROL);
  ctx.set('Accept-Ranges', 'bytes');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  ctx.set('Cross-Origin-Resource-Policy', 'same-site');

  if (plan.status === 304) {
    ctx.status = 304; // Koa strips the body and its Content-* headers for a 304.
    return;
  }
  if (plan.status === 416) {
    ctx.status = 416;
    ctx.set('Content-Range', `bytes */${blob.size}`);
    // The API's one error shape, like every other 4xx.
    ctx.body = { error: { code: 'range_not_satisfiable', message: `The file has ${blob.size} bytes`, details: { size: blob.size } } };
    return;
  }

  ctx.status = plan.status;
  ctx.set('Content-Type', blob.mime); // As sniffed: `ctx.type` would append a charset we do not know.
  ctx.set('Content-Disposition', dispositionHeader(blob));
  if (plan.status === 206) ctx.set('Content-Range', `bytes ${plan.start}-${plan.end}/${blob.size}`);
  if (handle) ctx.body = handle.createReadStream({ start: plan.start, end: plan.end });
  else if (plan.body) ctx.body = ''; // An empty file.
  ctx.length = plan.end - plan.start + 1; // After the body: a HEAD keeps it, a stream body does not reset it.
}

function planResponse(ctx: Context, etag: string, size: number): Plan {
  const ifNoneMatch = ctx.get('If-None-Match');
  if (ifNoneMatch && noneMatchFails(ifNoneMatch, etag)) return { status: 304 };

  const whole = { status: 200, start: 0, end: size - 1, body: ctx.method !== 'HEAD' } as const;
  const range = ctx.get('Range');
  if (!range || ctx.method === 'HEAD') return whole;
  const ifRange = ctx.get('If-Range');
  // If-Range: a strong ETag equal to ours keeps the Range; a date never matches, as we send no Last-Modified.
  if (ifRange && ifRange.trim() !== etag) return whole;

  const ranges = parseRange(size, range, { combine: true });
  if (ranges === -2) return whole; // Malformed: ignored (RFC 9110 §14.2).
  if (ranges === -1) return { status: 416 };
  if (ranges.type !== 'bytes') return whole;
  // Several disjoint ranges (after combining overlapping and adjacent ones): we serve only the first one asked
  // for, as a plain 206 whose Content-Range says which. RFC 9110 allows it and clients read Content-Range;
  // multipart/byteranges is not worth it for media players, which ask for one range at a time.
  const first = ranges[0];
  if (!first) return whole;
  return { status: 206, start: first.start, end: first.end, body: true };
}

const ENTITY_TAG = /(?:W\/)?"[^"]*"/g;

/** RFC 9110 §13.1.2: `*` matches any current representation; otherwise a weak comparison against each listed tag. */
function noneMatchFails(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const opaque = etag.replace(/^W\//, '');
  for (const [tag] of header.matchAll(ENTITY_TAG)) {
    if (tag.replace(/^W\//, '') === opaque) return true;
  }
  return false;
}

/**
 * `inline` or `attachment`, with `filename*=UTF-8''…` carrying the exact name and a printable-ASCII `filename="…"`
 * fallback (quotes escaped) for old clients, so no CR, LF, quote or non-ASCII byte reaches the header raw.
 */
function dispositionHeader(blob: BlobToSend): string {
  const fallback = blob.filename.replace(/[^\x20-\x7e]/g, '_');
  return contentDisposition(blob.filename, { type: blob.inline ? 'inline' : 'attachment', fallback });
}

const isMissing = (error: unknown) => {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

async function statOrNotFound(path: string): Promise<Stats> {
  let stats: Stats;
  try {
    stats = await stat(path);
  } catch (error) {
    if (isMissing(error)) throw new NotFoundError('Media');
    throw error;
  }
  if (!stats.isFile()) throw new NotFoundError('Media');
  return stats;
}

async function openOrNotFound(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (error) {
    if (isMissing(error)) throw new NotFoundError('Media');
    throw error;
  }
}
