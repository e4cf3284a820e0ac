import { isIP } from 'node:net';
import { isPrivateAddress, type AddressResolver } from '../net/privateAddress.ts';

/**
 * Why a receiver URL is refused, or null when it is acceptable: https (plain http only with WEBHOOK_ALLOW_PRIVATE), and
 * a host that is not, and does not resolve to, a loopback, private, link-local or metadata address. Checked at
 * registration; the address a request really connects to is checked again at each delivery (WebhookSender).
 */
export async function receiverUrlProblem(text: string, allowPrivate: boolean, resolve: AddressResolver): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be a URL';
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) return 'must be an https URL';
  if (allowPrivate) return null;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || isPrivateAddress(host)) return 'must not be a loopback or private address';
  if (isIP(host)) return null;
  let addresses: Array<{ address: string }>;
  try {
    addresses = await resolve(host);
  } catch {
    return 'must name a host that resolves';
  }
  if (addresses.length === 0) return 'must name a host that resolves';
  if (addresses.some((entry) => isPrivateAddress(entry.address))) return 'must not resolve to a loopback or private address';
  return null;
}

/** The URL's origin without credentials, path or query (what lists and logs show). */
export const originOf = (text: string): string => new URL(text).origin;
