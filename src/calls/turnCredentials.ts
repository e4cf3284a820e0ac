import { createHmac } from 'node:crypto';

/** One entry of a WebRTC `RTCConfiguration.iceServers` list. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface TurnCredentialsOptions {
  userId: string;
  now: Date;
  /** How long the TURN credential is valid, in whole seconds (> 0). */
  ttlSeconds: number;
  stunUris: readonly string[];
  turnUris: readonly string[];
  /** coturn's `static-auth-secret`; null (or empty) means no TURN relay is offered. */
  sharedSecret: string | null;
}

/**
 * ICE servers for one user, using coturn's REST API credential scheme (`use-auth-secret` + `static-auth-secret`):
 * the username is `<unix expiry seconds>:<userId>` and the password is base64(HMAC-SHA1(secret, username)), so the
 * TURN server checks it with the shared secret alone and rejects it once the expiry has passed.
 * Without a shared secret or without TURN URIs only STUN is offered (never an error); with neither, an empty list.
 */
export function turnCredentials(options: TurnCredentialsOptions): { iceServers: IceServer[]; ttl: number; expiresAt: string } {
  const { userId, now, ttlSeconds, stunUris, turnUris, sharedSecret } = options;
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0)
    throw new RangeError(`ttlSeconds must be a positive whole number, got ${ttlSeconds}`);
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) throw new RangeError('now is not a valid date');
  const expiry = Math.floor(nowMs / 1000) + ttlSeconds;
  const iceServers: IceServer[] = [];
  if (stunUris.length > 0) iceServers.push({ urls: [...stunUris] });
  if (sharedSecret && turnUris.length > 0) {
    const username = `${expiry}:${userId}`;
    const credential = createHmac('sha1', sharedSecret).update(username).digest('base64');
    iceServers.push({ urls: [...turnUris], username, credential });
  }
  return { iceServers, ttl: ttlSeconds, expiresAt: new Date(expiry * 1000).toISOString() };
}
