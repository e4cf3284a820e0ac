import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Context } from 'koa';
import { DomainError, PayloadTooLargeError, ValidationError } from '../../commands/shared/errors.ts';
import type { BlobStore } from './blobStore.ts';
import { classifyUpload, TextOpening, UnsupportedMediaTypeError, type MediaLimits, type SniffedType } from './mediaTypes.ts';

/** What the upload sniffer needs to see: file-type reads at most this many bytes. */
const HEAD_BYTES = 4100;

export interface ReceivedUpload {
  tempPath: string;
  sha256: string;
  size: number;
  type: SniffedType;
  /** As the client named it (sanitized later), or null. */
  filename: string | null;
}

export interface ReceiveOptions {
  limits: MediaLimits;
  blobs: BlobStore;
  /** No byte for this long: the upload is cut and cleaned up. */
  idleTimeoutMs: number;
  /** Told the bytes received so far before each is written; throwing (the quota is used up) refuses the upload. */
  onBytes?: (received: number) => void;
}

/**
 * Receives one file, streamed, never buffered whole: a multipart body with one part `file`, or a raw body with
 * its `Content-Type` and `?filename=`. The first bytes decide the type (by their content, not the client's claim)
 * and so the size limit; the bytes are hashed and counted on the way to a temp file (0600), which is synced (a text
 * is read whole for valid UTF-8 and a markup opening). One byte over the limit aborts with 413, and a refused or
 * broken upload leaves no temp file.
 */
export async function receiveUpload(ctx: Context, options: ReceiveOptions): Promise<ReceivedUpload> {
  if (ctx.is('multipart/form-data')) return receiveMultipart(ctx, options);
  if (ctx.is('application/json', 'application/x-www-form-urlencoded') || !ctx.get('content-type')) {
    throw new UnsupportedMediaTypeError(
      null,
      'Send the file as multipart/form-data (part "file") or as the raw body with its Content-Type',
    );
  }
  const filename = typeof ctx.query.filename === 'string' ? ctx.query.filename : null;
  const declared = Number(ctx.get('content-length'));
  if (Number.isFinite(declared) && declared > options.limits.maxBytes)
    throw new PayloadTooLargeError(`Files are at most ${options.limits.maxBytes} bytes`);
  return streamToTemp(ctx.req, filename, options);
}

function receiveMultipart(ctx: Context, options: ReceiveOptions): Promise<ReceivedUpload> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: ctx.req.headers, limits: { files: 1, fields: 0, fileSize: options.limits.maxBytes + 1 } });
    } catch {
      reject(new ValidationError('Malformed multipart body'));
      return;
    }
    let received: Promise<ReceivedUpload> | null = null;
    let current: Readable | null = null;
    let failed = false;
    // Answers only once a file being written is gone: a refused upload leaves no temp file behind.
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      ctx.req.unpipe(parser);
      ctx.req.resume();
      current?.destroy(error instanceof Error ? error : undefined);
      void (received ?? Promise.resolve()).catch(() => undefined).then(() => reject(error));
    };
    parser.on('file', (name, file, info) => {
      // Parts the parser had already buffered still arrive after a failure (a field before the file): not stored.
      if (failed) return void file.resume();
      if (name !== 'file' || received) {
        file.resume();
        return fail(new ValidationError('One part, named "file"', { field: name }));
      }
      current = file;
      // `fail` may destroy this stream with an error before streamToTemp (still opening its temp file) listens to
      // it: without a listener that 'error' is an uncaught exception. streamToTemp still sees the error and cleans up.
      file.on('error', () => undefined);
      received = streamToTemp(file, info.filename || null, options);
      // A refused file (over its type's limit, not UTF-8...) is answered at once: the parser would otherwise wait
      // for the stream that streamToTemp stopped reading, and the request would never be answered.
      received.catch((error: unknown) => {
        file.resume();
        fail(error instanceof DomainError ? error : new ValidationError('Malformed multipart body'));
      });
    });
    parser.on('fieldsLimit', () => fail(new ValidationError('Only the part "file" is accepted')));
    parser.on('filesLimit', () => fail(new ValidationError('One part, named "file"')));
    parser.on('error', () => fail(new ValidationError('Malformed multipart body')));
    parser.on('close', () => {
      if (failed) return;
      if (!received) return fail(new ValidationError('No part named "file"'));
      // A body cut short ends the file part with the parser's own error: that is malformed input, not a bug.
      received.then(resolve, (error: unknown) =>
        reject(error instanceof DomainError ? error : new ValidationError('Malformed multipart body')),
      );
    });
    // Until the file part starts, streamToTemp's idle timer is not running: a body that stalls before it is cut here.
    let idle: NodeJS.Timeout | null = null;
    const armIdle = () => {
      if (idle) clearTimeout(idle);
      if (current || failed) return;
      idle = setTimeout(() => {
        fail(new UploadStalledError());
        ctx.req.destroy();
      }, options.idleTimeoutMs);
    };
    ctx.req.on('data', armIdle);
    ctx.req.once('end', () => {
      if (idle) clearTimeout(idle);
    });
    ctx.req.once('close', () => {
      if (idle) clearTimeout(idle);
    });
    armIdle();
    ctx.req.pipe(parser);
  });
}

async function streamToTemp(source: Readable, filename: string | null, options: ReceiveOptions): Promise<ReceivedUpload> {
  const tempPath = options.blobs.tempPath();
  const file = await open(tempPath, 'wx', 0o600);
  const hash = createHash('sha256');
  let size = 0;
  let type: SniffedType | null = null;
  let head: Buffer[] = [];
  let headBytes = 0;
  const text = new TextDecoder('utf-8', { fatal: true });
  // The head was sniffed, but leading space can push markup past it: the opening is read from the whole stream.
  const opening = new TextOpening();
  const refuseMarkup = (markup: string | null) => {
    if (markup) throw new UnsupportedMediaTypeError(markup, 'HTML, SVG and XML files are not accepted');
  };
  let idle: NodeJS.Timeout | null = null;
  const armIdle = () => {
    if (idle) clearTimeout(idle);
    idle = setTimeout(() => source.destroy(new UploadStalledError()), options.idleTimeoutMs);
  };

  const write = async (chunk: Buffer) => {
    size += chunk.length;
    if (size > type!.maxBytes)
      throw new PayloadTooLargeError(`${type!.kind} files are at most ${type!.maxBytes} bytes`, { maxBytes: type!.maxBytes });
    options.onBytes?.(size);
    if (type!.kind === 'text') {
      if (chunk.includes(0)) throw new UnsupportedMediaTypeError('text/plain', 'Text files cannot contain NUL bytes');
      refuseMarkup(opening.feed(text.decode(chunk, { stream: true })));
    }
    hash.update(chunk);
    await file.write(chunk);
  };
  const classify = async () => {
    const first = Buffer.concat(head);
    head = [];
    type = await classifyUpload(first, filename, options.limits);
    await write(first);
  };

  try {
    armIdle();
    for await (const chunk of source) {
      armIdle();
      if (type) {
        await write(chunk as Buffer);
        continue;
      }
      head.push(chunk as Buffer);
      headBytes += (chunk as Buffer).length;
      if (headBytes > options.limits.maxBytes) throw new PayloadTooLargeError();
      if (headBytes >= HEAD_BYTES) await classify();
    }
    if (!type) {
      if (headBytes === 0) throw new ValidationError('The file is empty');
      await classify();
    }
    if (type!.kind === 'text') {
      let rest: string;
      try {
        rest = text.decode();
      } catch {
        throw new UnsupportedMediaTypeError('text/plain', 'Text files must be valid UTF-8');
      }
      refuseMarkup(opening.feed(rest) ?? opening.end());
    }
    await file.sync();
    await file.close();
    return { tempPath, sha256: hash.digest('hex'), size, type: type!, filename };
  } catch (error) {
    await file.close().catch(() => undefined);
    await rm(tempPath, { force: true });
    if (error instanceof TypeError && (error as { code?: string }).code === 'ERR_ENCODING_INVALID_ENCODED_DATA') {
      throw new UnsupportedMediaTypeError('text/plain', 'Text files must be valid UTF-8');
    }
    throw error;
  } finally {
    if (idle) clearTimeout(idle);
  }
}

export class UploadStalledError extends ValidationError {
  constructor() {
    super('The upload stalled: no data for too long');
  }
}
