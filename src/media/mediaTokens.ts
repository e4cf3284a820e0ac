import { createHash, createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { NotFoundError } from '../../commands/shared/errors.ts';

/**
 * Short-lived tokens for one file and one user, for `?token=` where a browser cannot send a bearer header
 * (`<img>`, `<video>`). Signed with a key derived from the JWT secret for this purpose only, so an access token is
 * never a media token and a media token is never an access token.
 */
export class MediaTokens {
  private readonly key: KeyObject;

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.key = createSecretKey(createHash('sha256').update(`media-token:${secret}`).digest());
  }

  issue(userId: string, mediaId: string, now: Date): { token: string; expiresAt: string } {
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + this.ttlSeconds;
    return {
      token: jwt.sign({ sub: userId, mid: mediaId, iat, exp }, this.key, { algorithm: 'HS256' }),
      expiresAt: new Date(exp * 1000).toISOString(),
    };
  }

  /**
   * The user the token was issued to, if it is valid for this file. An expired, forged or other file's token finds
   * nothing (404), like a file one may not read: a token says nothing about whether a file exists.
   */
  verify(token: string, mediaId: string, now: Date): string {
    try {
      const payload = jwt.verify(token, this.key, {
        algorithms: ['HS256'],
        clockTimestamp: Math.floor(now.getTime() / 1000),
      }) as jwt.JwtPayload;
      if (payload.mid !== mediaId || typeof payload.sub !== 'string') throw new Error('another file');
      return payload.sub;
    } catch {
      throw new NotFoundError('Media');
    }
  }
}
