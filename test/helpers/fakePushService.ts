import { createDecipheriv, createECDH, hkdfSync, randomBytes, randomUUID, type ECDH } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A browser's side of a push subscription: its P-256 key pair and auth secret (RFC 8291), and the endpoint. */
export interface TestDevice {
  endpoint: string;
  keys: { p256dh: string; auth: string };
  ecdh: ECDH;
  authSecret: Buffer;
}

/** One request the stand-in received, its payload decrypted with the device's private key. */
export interface ReceivedPush {
  path: string;
  status: number;
  headers: IncomingHttpHeaders;
  /** The decrypted payload parsed as JSON, or null when the device is unknown or the request was answered with an error. */
  payload: unknown;
  at: number;
}

/**
 * Decrypts an `aes128gcm` body (RFC 8188 framing, RFC 8291 keys) for the device with `ecdh` and `authSecret`:
 * header salt(16) | rs(4) | idlen(1) | keyid = the sender's ephemeral public key, then one record.
 */
export function decryptAes128gcm(body: Buffer, ecdh: ECDH, authSecret: Buffer): Buffer {
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const idLength = body[20]!;
  const senderPublic = body.subarray(21, 21 + idLength);
  const record = body.subarray(21 + idLength);
  if (record.length > recordSize) throw new Error('more than one record');
  const shared = ecdh.computeSecret(senderPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), senderPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', shared, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  // The last record ends with the delimiter 0x02, then zero padding.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Error('bad padding delimiter');
  return padded.subarray(0, end);
}

/**
 * A push service on loopback: devices made by `device()` get an endpoint here; each request is answered with the next
 * scripted status for its path (201 when none is left) and, when accepted, its payload decrypted and kept.
 */
export class FakePushService {
  readonly received: ReceivedPush[] = [];
  private readonly devices = new Map<string, TestDevice>();
  private readonly scripts = new Map<string, Array<{ status: number; headers?: Record<string, string> }>>();
  private readonly waiters: Array<() => void> = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakePushService> {
    let service: FakePushService | null = null;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => service!.handle(req.url ?? '', req.headers, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    service = new FakePushService(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return service;
  }

  /** A new device: its key pair, auth secret and endpoint on this service. */
  device(): TestDevice {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const authSecret = randomBytes(16);
    const endpoint = `${this.url}/push/${randomUUID()}`;
    const device = {
      endpoint,
      keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: authSecret.toString('base64url') },
      ecdh,
      authSecret,
    };
    this.devices.set(new URL(endpoint).pathname, device);
    return device;
  }

  /** The next answers to `device`'s requests, in order. */
  script(device: TestDevice, ...answers: Array<{ status: number; headers?: Record<string, string> }>): void {
    this.scripts.set(new URL(device.endpoint).pathname, answers);
  }

  for(device: TestDevice): ReceivedPush[] {
    const path = new URL(device.endpoint).pathname;
    return this.received.filter((push) => push.path === path);
  }

  /** Resolves once `predicate` holds for what was received (checked at each request), or rejects after `timeoutMs`. */
  async waitFor(predicate: (received: ReceivedPush[]) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for pushes; received ${JSON.stringify(this.received.map((r) => [r.path, r.status]))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private handle(url: string, headers: IncomingHttpHeaders, body: Buffer, res: import('node:http').ServerResponse): void {
    const path = url.split('?')[0]!;
    const answer = this.scripts.get(path)?.shift() ?? { status: 201 };
    const device = this.devices.get(path);
    let payload: unknown = null;
    if (device && answer.status < 300) {
      try {
        payload = JSON.parse(decryptAes128gcm(body, device.ecdh, device.authSecret).toString('utf8'));
      } catch (error) {
        payload = { decryptionFailed: String(error) };
      }
    }
    this.received.push({ path, status: answer.status, headers, payload, at: Date.now() });
    res.writeHead(answer.status, answer.headers ?? {});
    res.end();
    for (const wake of this.waiters.splice(0)) wake();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
