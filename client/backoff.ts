export interface BackoffOptions {
  /** The first retry waits up to this long. */
  baseMs: number;
  /** No retry waits longer. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000 };

/**
 * Exponential backoff with full jitter: a random wait up to base × 2^attempt, capped. The randomness spreads a
 * crowd of clients that lost the same server, so they do not all come back in the same millisecond.
 */
export function reconnectDelay(
  attempt: number,
  { baseMs, maxMs }: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}
