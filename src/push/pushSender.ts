import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import webpush from 'web-push';
import type { PushSettings } from './pushSettings.ts';
import { isPrivateAddress, publicOnlyLookup } from '../net/privateAddress.ts';
import type { VapidKeys } from './vapidKeys.ts';

export interface PushTarget {
  endpoint: string;
  p256dh: string;
  auth: string;
}

export interface PushOptions {
  ttlSeconds: number;
  urgency: 'very-low' | 'low' | 'normal' | 'high';
  /** Collapses notifications of one conversation or call at the push service: at most 32 base64url characters. */
  topic: string;
}

/** What the push service answered: its status (0 when it could not be reached) and how long it asked us to wait. */
export interface PushAnswer {
  status: number;
  retryAfterMs: number | null;
}

/** An endpoint whose host resolves to (or is) a private address: never requested. */
export class PrivateAddressRefused extends Error {
  constructor(host: string) {
    super(`The push endpoint ${host} resolves to a private address`);
    this.name = 'PrivateAddressRefused';
  }
}

/**
 * One encrypted request to a push service (RFC 8030 with VAPID, RFC 8292; payload RFC 8291 aes128gcm, by web-push).
 * The request goes only to the subscription's own endpoint, and the address it resolves to is checked as the socket
 * connects (a name that resolves to a loopback or private address is refused, however it was registered).
 */
export class PushSender {
  constructor(
    private readonly vapid: VapidKeys,
    private readonly settings: Pick<PushSettings, 'subject' | 'allowPrivateEndpoints' | 'requestTimeoutMs'>,
  ) {}

  async send(target: PushTarget, payload: string, options: PushOptions): Promise<PushAnswer> {
    const details = webpush.generateRequestDetails(
      { endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } },
      payload,
      {
        vapidDetails: { subject: this.settings.subject, publicKey: this.vapid.publicKey, privateKey: this.vapid.privateKey },
        TTL: options.ttlSeconds,
        urgency: options.urgency,
        topic: options.topic,
        contentEncoding: 'aes128gcm',
      },
    );
    const url = new URL(details.endpoint);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!this.settings.allowPrivateEndpoints && isIP(host) && isPrivateAddress(host)) throw new PrivateAddressRefused(host);
    const body = details.body ?? Buffer.alloc(0);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<PushAnswer>((resolve) => {
      const request = send(
        url,
        {
          method: details.method,
          headers: { ...details.headers, 'Content-Length': String(body.length) },
          lookup: this.settings.allowPrivateEndpoints ? undefined : publicOnly,
          timeout: this.settings.requestTimeoutMs,
          agent: false,
        },
        (response) => {
          response.resume();
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, retryAfterMs: retryAfterOf(response.headers['retry-after']) }),
          );
          response.on('error', () => resolve({ status: 0, retryAfterMs: null }));
        },
      );
      request.on('timeout', () => request.destroy(new Error('push request timed out')));
      request.on('error', (error) => {
        if (error instanceof PrivateAddressRefused) resolve({ status: -1, retryAfterMs: null });
        else resolve({ status: 0, retryAfterMs: null });
      });
      request.end(body);
    });
  }
}

/** Retry-After as seconds or an HTTP date, in milliseconds from now; null when absent or unreadable. */
export function retryAfterOf(header: string | undefined, now = Date.now()): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1_000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** dns.lookup, refusing a name any of whose addresses is private. */
const publicOnly = publicOnlyLookup((hostname) => new PrivateAddressRefused(hostname));
