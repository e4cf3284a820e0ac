import { UnavailableError } from '../../commands/shared/errors.ts';

/** How long a read-your-writes wait lasts before the write is answered 503, unless configured otherwise. */
export const DEFAULT_WAIT_TIMEOUT_MS = 10_000;

interface Waiter {
  position: number;
  resolve: () => void;
}

/**
 * Read-your-writes: callers waiting for the projections to reach a position, released as positions are reached,
 * answered 503 (the write is stored, not yet readable) after a while.
 */
export class PositionWaiters {
  private waiters: Waiter[] = [];

  constructor(private readonly reached: () => number) {}

  waitFor(position: number, timeoutMs: number): Promise<void> {
    if (this.reached() >= position) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== entry);
        reject(new UnavailableError('Projections are lagging; the write is stored and will appear shortly', { position }));
      }, timeoutMs);
      const entry: Waiter = {
        position,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(entry);
    });
  }

  /** Releases everyone whose position has been reached. */
  release(): void {
    if (this.waiters.length === 0) return;
    const reached = this.reached();
    const pending: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.position <= reached) waiter.resolve();
      else pending.push(waiter);
    }
    this.waiters = pending;
  }
}
