/** Timers are armed at most this far ahead: setTimeout clamps anything over 2^31-1 ms to 1 ms, so longer waits re-arm in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
