import { createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { isPrivateAddress, publicOnlyLookup, resolveAll, type AddressResolver } from '../net/privateAddress.ts';
import type { WebhookSettings } from './webhookSettings.ts';

/** The headers of a delivery (documented in the README, with a verification snippet). */
export const SIGNATURE_HEADER = 'X-LetsApp-Signature';
export const DELIVERY_HEADER = 'X-LetsApp-Delivery';
export const EVENT_HEADER = 'X-LetsApp-Event';
export const WEBHOOK_HEADER = 'X-LetsApp-Webhook';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the webhook's secret>`. */
export function signatureOf(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/** What a receiver answered: its status (0 when unreachable or too slow; -1 when refused before sending). */
export interface WebhookAnswer {
  status: number;
  retryAfterMs: number | null;
  error: string | null;
  durationMs: number;
  /** The server stopped before the receiver answered: the attempt does not count. */
  aborted?: boolean;
}

export interface WebhookRequest {
  url: string;
  body: string;
  secret: string;
  deliveryId: string;
  kind: string;
  webhookId: string;
}

/** A URL whose host resolves to (or is) a private address: never requested. */
export class WebhookAddressRefused extends Error {
  constructor(host: string) {
    super(`${host} resolves to a loopback, private or link-local address`);
    this.name = 'WebhookAddressRefused';
  }
}

/**
 * One signed POST to a receiver. The address is checked as the socket connects (a name that resolves to a private
 * address is refused however it was registered: a DNS rebind gains nothing); the request is bounded in time
 * (`requestTimeoutMs` for all of it) and the answer's body is read up to `maxResponseBytes`, then dropped.
 */
export class WebhookSender {
  private readonly lookup;

  constructor(
    private readonly settings: Pick<WebhookSettings, 'allowPrivate' | 'requestTimeoutMs' | 'maxResponseBytes'>,
    resolve: AddressResolver = resolveAll,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.lookup = publicOnlyLookup((host) => new WebhookAddressRefused(host), resolve);
  }

  send(request: WebhookRequest, signal?: AbortSignal): Promise<WebhookAnswer> {
    const started = Date.now();
    const answer = (status: number, error: string | null, retryAfterMs: number | null = null): WebhookAnswer => ({
      status,
      retryAfterMs,
      error,
      durationMs: Date.now() - started,
    });
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return Promise.resolve(answer(-1, 'not a URL'));
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!this.settings.allowPrivate && isIP(host) && isPrivateAddress(host))
      return Promise.resolve(answer(-1, new WebhookAddressRefused(host).message));
    const timestamp = Math.floor(this.now().getTime() / 1_000);
    const body = Buffer.from(request.body);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<WebhookAnswer>((resolve) => {
      let settled = false;
      const finish = (result: WebhookAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const outgoing = send(
        url,
        {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': String(body.length),
            'User-Agent': 'LetsApp-Webhooks/1',
            [SIGNATURE_HEADER]: signatureOf(request.secret, timestamp, request.body),
            [DELIVERY_HEADER]: request.deliveryId,
            [EVENT_HEADER]: request.kind,
            [WEBHOOK_HEADER]: request.webhookId,
          },
          lookup: this.settings.allowPrivate ? undefined : this.lookup,
          agent: false,
        },
        (response) => {
          let read = 0;
          const status = response.statusCode ?? 0;
          const retryAfterMs = retryAfterOf(response.headers['retry-after']);
          response.on('data', (chunk: Buffer) => {
            read += chunk.length;
            // Enough is known: the rest of a large answer is not read.
            if (read > this.settings.maxResponseBytes) {
              response.destroy();
              finish(answer(status, null, retryAfterMs));
            }
          });
          response.on('end', () => finish(answer(status, null, retryAfterMs)));
          response.on('error', () => finish(answer(status, null, retryAfterMs)));
          response.on('close', () => finish(answer(status, null, retryAfterMs)));
        },
      );
      // One deadline for connecting, sending and reading: a receiver that trickles its answer is cut off too.
      const deadline = setTimeout(() => {
        outgoing.destroy();
        finish(answer(0, `no answer within ${this.settings.requestTimeoutMs} ms`));
      }, this.settings.requestTimeoutMs);
      const onAbort = () => {
        outgoing.destroy();
        finish({ ...answer(0, 'stopped'), aborted: true });
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      outgoing.on('error', (error) =>
        finish(error instanceof WebhookAddressRefused ? answer(-1, error.message) : answer(0, error.message.slice(0, 200))),
      );
      outgoing.end(body);
    });
  }
}

/** Retry-After as seconds or an HTTP date, in milliseconds from now; null when absent or unreadable. */
function retryAfterOf(header: string | undefined, now = Date.now()): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1_000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
