import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { UnauthorizedError } from '../../commands/shared/errors.ts';
import type { IssuedToken } from '../../commands/users.ts';
import { newId } from '../ids.ts';

export interface AccessToken extends IssuedToken {
  token: string;
  expiresIn: number;
}

export interface TokenClaims {
  userId: string;
  tokenId: string;
  expiresAt: string;
}

/** HS256 access tokens with the algorithm pinned on both sides, each with its own id so it can be revoked. */
export class TokenService {
  /** A KeyObject made once: given a string, jsonwebtoken re-derives a key on every call, on the hot path. */
  private readonly key: KeyObject;

  constructor(
    secret: string,
    private readonly expiresInSeconds: number,
  ) {
    this.key = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  issue(userId: string, now: Date): AccessToken {
    const tokenId = newId();
    const issuedAt = Math.floor(now.getTime() / 1000);
    const expiresAtSeconds = issuedAt + this.expiresInSeconds;
    const token = jwt.sign({ sub: userId, jti: tokenId, iat: issuedAt, exp: expiresAtSeconds }, this.key, { algorithm: 'HS256' });
    return { token, tokenId, expiresAt: new Date(expiresAtSeconds * 1000).toISOString(), expiresIn: this.expiresInSeconds };
  }

  verify(token: string): TokenClaims {
    let payload: jwt.JwtPayload | string;
    try {
      payload = jwt.verify(token, this.key, { algorithms: ['HS256'] });
    } catch (error) {
      if (error instanceof jwt.TokenExpiredError) throw new UnauthorizedError('Access token expired', 'token_expired');
      throw new UnauthorizedError('Invalid access token', 'invalid_token');
    }
    if (
      typeof payload === 'string' ||
      typeof payload.sub !== 'string' ||
      typeof payload.jti !== 'string' ||
      typeof payload.exp !== 'number'
    ) {
      throw new UnauthorizedError('Invalid access token', 'invalid_token');
    }
    return { userId: payload.sub, tokenId: payload.jti, expiresAt: new Date(payload.exp * 1000).toISOString() };
  }
}
