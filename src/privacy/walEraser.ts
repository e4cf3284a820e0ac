import Database from 'better-sqlite3';

/** Tries before giving up on one request (readers holding old WAL frames for this long is a finding for the log). */
const MAX_ATTEMPTS = 100;
const RETRY_MS = 20;

/**
 * Cuts an embedded database's WAL to nothing after an erasure. Deleting a row with secure_delete zeroes it in the
 * page the delete writes, but the page's previous image, text included, stays in an earlier WAL frame until the WAL
 * is overwritten. A TRUNCATE checkpoint copies the frames back and truncates the file to 0 bytes.
 *
 * From a connection of its own (never one a transaction may hold), with no busy wait: while a reader keeps old frames
 * the checkpoint answers busy and is tried again shortly. Requests that arrive meanwhile share the next run.
 */
export class WalEraser {
  private readonly db: Database.Database;
  private timer: NodeJS.Timeout | null = null;
  private waiters: Array<(done: boolean) => void> = [];
  private attempts = 0;
  private closed = false;

  constructor(
    file: string,
    private readonly onGiveUp: (file: string) => void = () => undefined,
  ) {
    this.db = new Database(file);
    this.db.pragma('busy_timeout = 0');
  }

  /** Resolves true once a TRUNCATE checkpoint finished after this call; false if readers kept it from finishing. */
  request(): Promise<boolean> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.timer ??= setTimeout(() => this.run(), 0);
    });
  }

  private run(): void {
    this.timer = null;
    if (this.closed) return this.settle(false);
    let done: boolean;
    try {
      const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
      done = result?.busy === 0;
    } catch {
      done = false;
    }
    if (done) return this.settle(true);
    if (++this.attempts >= MAX_ATTEMPTS) {
      this.onGiveUp(this.db.name);
      return this.settle(false);
    }
    this.timer = setTimeout(() => this.run(), RETRY_MS);
  }

  private settle(done: boolean): void {
    this.attempts = 0;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve(done);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.settle(false);
    if (this.db.open) this.db.close();
  }
}
