/** Outgoing webhook settings (WEBHOOK_* in the README's Configuration table; the rest are fixed bounds tests may lower). */
export interface WebhookSettings {
  /** Test only (refused in production): URLs on loopback and private addresses, and over plain http, are accepted. */
  allowPrivate: boolean;
  /** One request's whole time, connect to last byte read. */
  requestTimeoutMs: number;
  /** Requests in flight at once, over all webhooks (each webhook has at most one). */
  concurrency: number;
  /** The first retry's delay; doubled at each further one, with jitter. */
  retryBaseMs: number;
  /** The longest wait between tries, whatever a Retry-After asks. */
  maxRetryDelayMs: number;
  /** How long after its event a delivery is still retried. */
  retryWindowMs: number;
  /** Failed attempts in a row after which a webhook is disabled. */
  failureThreshold: number;
  /** Bytes of a receiver's answer read (the rest is discarded unread). */
  maxResponseBytes: number;
  /** Ended deliveries kept in each webhook's log. */
  keepDeliveries: number;
  /** Deliveries waiting per webhook; past it new ones are recorded as dropped. */
  maxPending: number;
  /** How often due retries are looked for when nothing else wakes the deliveries. */
  pollIntervalMs: number;
}

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = {
  allowPrivate: false,
  requestTimeoutMs: 10_000,
  concurrency: 16,
  retryBaseMs: 10_000,
  maxRetryDelayMs: 3_600_000,
  retryWindowMs: 24 * 3_600_000,
  failureThreshold: 100,
  maxResponseBytes: 4_096,
  keepDeliveries: 1_000,
  maxPending: 1_000,
  pollIntervalMs: 1_000,
};
