import { setTimeout as sleep } from 'node:timers/promises';
import { UnavailableError } from '../../commands/shared/errors.ts';

/**
 * Connections on the serving thread use `busy_timeout = 0`: better-sqlite3 is synchronous, so SQLite's own busy
 * handler would sleep the whole event loop while another process (an operator script) or the checkpointer holds
 * a lock. They get SQLITE_BUSY at once instead and wait here, asynchronously, while frames keep being served.
 */
export const isBusy = (error: unknown): boolean => {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
};

/** How long a write waits for a lock before answering 503; operator scripts hold it in short slices. */
export const LOCK_WAIT_LIMIT_MS = 30_000;

/** Runs `attempt` until it does not fail with SQLITE_BUSY, sleeping 1, 2, 4 … 50 ms between tries. */
export async function retryWhileBusy<R>(attempt: () => R, limitMs = LOCK_WAIT_LIMIT_MS): Promise<R> {
  const started = performance.now();
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      return attempt();
    } catch (error) {
      if (!isBusy(error)) throw error;
      if (performance.now() - started > limitMs)
        throw new UnavailableError('The database is locked by another process; try again', { waitedMs: limitMs });
    }
    await sleep(delay);
  }
}
