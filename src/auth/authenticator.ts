import { UnauthorizedError } from '../../commands/shared/errors.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { TokenClaims, TokenService } from './tokens.ts';

export interface Principal extends TokenClaims {
  user: UserDoc;
}

/** Who a bearer token speaks for: a valid signature, a user that exists, and a token not revoked. */
export class Authenticator {
  constructor(private readonly tokens: TokenService, private readonly readStore: ReadStore) {}

  async authenticate(token: string | null | undefined): Promise<Principal> {
    if (!token) throw new UnauthorizedError('Missing access token', 'missing_token');
    const claims = this.tokens.verify(token);
    const user = await this.readStore.collection<UserDoc>(USERS).findOne({ _id: claims.userId });
    if (!user) throw new UnauthorizedError('Invalid access token', 'invalid_token');
    if (user.revokedTokens.some((revoked) => revoked.tokenId === claims.tokenId)) {
      throw new UnauthorizedError('Access token revoked', 'token_revoked');
    }
    return { ...claims, user };
  }
}

/** The token from an `Authorization: Bearer <token>` header. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match ? match[1]! : null;
}
