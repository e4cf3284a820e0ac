import { isPrivateAddress } from '../net/privateAddress.ts';

/** Shared with the webhooks (src/net/privateAddress.ts); re-exported for the push modules and their tests. */
export { isPrivateAddress };

/** Web Push settings (PUSH_* in the README's Configuration table). */
export interface PushSettings {
  enabled: boolean;
  /** From the environment (required in production), or null: generated into the secrets store. */
  vapidKeys: { publicKey: string; privateKey: string } | null;
  /** The VAPID `sub` claim: how a push service reaches the operator (`mailto:` or `https:`). */
  subject: string;
  /** Test only (refused in production): endpoints on loopback and private addresses, and over plain http, are accepted. */
  allowPrivateEndpoints: boolean;
  /** Requests to push services in flight at once. */
  concurrency: number;
  /** How long a push service keeps a message notification for an offline device (calls: until the ring ends). */
  messageTtlSeconds: number;
  /** Tries of one delivery on 429 and 5xx before it is given up. */
  maxAttempts: number;
  /** The first retry's delay; doubled at each further one. */
  retryBaseMs: number;
  /** The longest wait between tries, whatever a Retry-After asks. */
  maxRetryDelayMs: number;
  requestTimeoutMs: number;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Length in bytes of a base64url text (no padding), or null when it is not base64url. */
export function base64UrlBytes(text: string): number | null {
  const unpadded = text.replace(/=+$/, '');
  if (!BASE64URL.test(unpadded)) return null;
  return Buffer.from(unpadded, 'base64url').length;
}

export function pushSettingsOf(settings: PushSettings): PushSettings {
  if (settings.vapidKeys) {
    const { publicKey, privateKey } = settings.vapidKeys;
    // An uncompressed P-256 point and a 32-byte scalar, as `web-push generate-vapid-keys` prints them.
    if (base64UrlBytes(publicKey) !== 65 || base64UrlBytes(privateKey) !== 32)
      throw new Error('PUSH_VAPID_PUBLIC_KEY and PUSH_VAPID_PRIVATE_KEY must be set together: 65 and 32 bytes, base64url');
  }
  if (!/^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/.test(settings.subject))
    throw new Error('PUSH_VAPID_SUBJECT must be a mailto: address or an https: URL');
  return settings;
}

/** Why an endpoint is refused, or null when it is acceptable. The address it resolves to is checked again at each request. */
export function endpointProblem(endpoint: string, allowPrivate: boolean): string | null {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'must be a URL';
  }
  if (url.username || url.password) return 'must not carry credentials';
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const local = host === 'localhost' || host.endsWith('.localhost') || isPrivateAddress(host);
  if (local && !allowPrivate) return 'must not be a loopback or private address';
  if (url.protocol !== 'https:' && !(allowPrivate && local && url.protocol === 'http:')) return 'must be an https URL';
  return null;
}
