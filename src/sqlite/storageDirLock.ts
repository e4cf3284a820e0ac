import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateFile } from '../config.ts';

/** Another server holds the embedded STORAGE_DIR: two would both project into one read store and both append. */
export class StorageDirInUseError extends Error {
  constructor(
    readonly storageDir: string,
    readonly pid: number | null,
  ) {
    super(
      `Cannot start: STORAGE_DIR ${storageDir} is in use by another LetsApp server (pid ${pid ?? 'unknown'}): stop it, ` +
        'or give this server its own STORAGE_DIR (instances share data through DATABASE_URL, not a directory)',
    );
  }
}

export interface StorageDirLock {
  release(): void;
}

/**
 * Holds the embedded STORAGE_DIR for this server: an exclusive SQLite lock on `server.lock`, taken in a transaction
 * never committed. The lock is the operating system's (fcntl), so it goes with the process, even on kill -9: no stale
 * lock file to clear. The holder's pid is written beside it, for the refusal's message.
 */
export function lockStorageDir(storageDir: string): StorageDirLock {
  const lockFile = join(storageDir, 'server.lock');
  createPrivateFile(lockFile);
  const db = new Database(lockFile);
  const pidFile = join(storageDir, 'server.pid');
  try {
    db.pragma('busy_timeout = 0');
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
    let pid: number | null = null;
    try {
      pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10) || null;
    } catch {
      // Not written yet by a server starting at this very moment.
    }
    throw new StorageDirInUseError(storageDir, pid);
  }
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  return {
    release() {
      if (!db.open) return;
      db.exec('ROLLBACK');
      db.close();
    },
  };
}
