import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { createHash, randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';

/**
 * Content-addressed file storage: each blob is named by the SHA-256 of its bytes, so identical bytes are stored
 * once and a blob never changes. Writes go to a temp file that is synced, then renamed into place and the
 * directory synced: a blob is either whole at its address or not there.
 */
export interface BlobStore {
  /** A fresh temp file path (the caller creates it with mode 0600). */
  tempPath(): string;
  /**
   * Moves a fully written temp file to the address of `sha256`; if that blob exists already the temp file is dropped
   * and the blob's time refreshed (the collector spares blobs younger than its grace, and a fresh upload names it).
   */
  commit(tempPath: string, sha256: string): Promise<string>;
  pathOf(sha256: string): string;
  exists(sha256: string): Promise<boolean>;
  /** Removes the blob, or one of its derived files (`path`). */
  remove(sha256: string, path?: string): Promise<void>;
  /**
   * Removes the blob only if it was not written or refreshed after `untouchedSince` (ms since the epoch), deciding on
   * the blob taken out of place, so a commit of the same bytes at that moment either refreshed it first (it is put
   * back) or writes its own copy. Whether it was removed.
   */
  removeIfUntouched(sha256: string, untouchedSince: number): Promise<boolean>;
  /** Every stored blob, for the collector. */
  blobs(): AsyncIterable<{ sha256: string; path: string; size: number; modifiedAt: number }>;
  /** Temp files left by interrupted uploads. */
  temps(): AsyncIterable<{ path: string; modifiedAt: number }>;
  /** Where a derived file (a thumbnail) of a blob is kept; the collector removes it with its blob. */
  derivedPath(sha256: string, name: string): string;
}

const SHA256 = /^[0-9a-f]{64}$/;

export class LocalBlobStore implements BlobStore {
  private readonly blobDir: string;
  private readonly tempDir: string;

  constructor(root: string) {
    this.blobDir = join(root, 'blobs');
    this.tempDir = join(root, 'tmp');
  }

  async init(): Promise<this> {
    await mkdir(this.blobDir, { recursive: true, mode: 0o700 });
    await mkdir(this.tempDir, { recursive: true, mode: 0o700 });
    return this;
  }

  tempPath(): string {
    return join(this.tempDir, `${randomUUID()}.part`);
  }

  pathOf(sha256: string): string {
    // Only ever a hash: no client-chosen name reaches a path.
    if (!SHA256.test(sha256)) throw new Error(`Not a SHA-256: ${sha256}`);
    return join(this.blobDir, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  async commit(tempPath: string, sha256: string): Promise<string> {
    const target = this.pathOf(sha256);
    const now = new Date();
    if (
      await utimes(target, now, now).then(
        () => true,
        () => false,
      )
    ) {
      await rm(tempPath, { force: true });
      return target;
    }
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    await rename(tempPath, target);
    await syncDirectory(dirname(target));
    return target;
  }

  derivedPath(sha256: string, name: string): string {
    if (!/^[a-z0-9x-]{1,40}$/.test(name)) throw new Error(`Not a derived file name: ${name}`);
    return `${this.pathOf(sha256)}.${name}`;
  }

  async exists(sha256: string): Promise<boolean> {
    return stat(this.pathOf(sha256)).then(
      () => true,
      () => false,
    );
  }

  async remove(sha256: string, path = this.pathOf(sha256)): Promise<void> {
    if (!path.startsWith(this.pathOf(sha256))) throw new Error('Not a file of this blob');
    await rm(path, { force: true });
  }

  async removeIfUntouched(sha256: string, untouchedSince: number): Promise<boolean> {
    const path = this.pathOf(sha256);
    const aside = join(this.tempDir, `${randomUUID()}.collecting`);
    if (
      !(await rename(path, aside).then(
        () => true,
        () => false,
      ))
    )
      return false;
    const info = await stat(aside);
    if (info.mtimeMs > untouchedSince) {
      // Refreshed by an upload of the same bytes just before it was taken: back in place (a copy committed meanwhile
      // holds the same bytes, so replacing it changes nothing).
      await rename(aside, path);
      return false;
    }
    await rm(aside, { force: true });
    return true;
  }

  async *blobs(): AsyncIterable<{ sha256: string; path: string; size: number; modifiedAt: number }> {
    for (const first of await readdir(this.blobDir).catch(() => [] as string[])) {
      for (const second of await readdir(join(this.blobDir, first)).catch(() => [] as string[])) {
        for (const name of await readdir(join(this.blobDir, first, second)).catch(() => [] as string[])) {
          // A derived file (`<sha256>.<name>`) goes with its blob.
          if (!SHA256.test(name.slice(0, 64)) || (name.length > 64 && name[64] !== '.')) continue;
          const path = join(this.blobDir, first, second, name);
          const info = await stat(path).catch(() => null);
          if (info) yield { sha256: name.slice(0, 64), path, size: info.size, modifiedAt: info.mtimeMs };
        }
      }
    }
  }

  async *temps(): AsyncIterable<{ path: string; modifiedAt: number }> {
    for (const name of await readdir(this.tempDir).catch(() => [] as string[])) {
      const path = join(this.tempDir, name);
      const info = await stat(path).catch(() => null);
      if (info) yield { path, modifiedAt: info.mtimeMs };
    }
  }
}

/** A rename is durable once its directory is synced. */
async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** SHA-256 and size of a file, streamed. */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}
