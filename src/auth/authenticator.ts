import { UnauthorizedError } from '../../commands/shared/errors.ts';
import { userDecider, userStream } from '../../commands/users.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { CommandHandler } from '../commandHandler.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { TokenClaims, TokenService } from './tokens.ts';

export interface Principal extends TokenClaims {
  user: UserDoc;
}

/** Who a bearer token speaks for: a valid signature, a user that exists, and a token not revoked. */
export class Authenticator {
  constructor(
    private readonly tokens: TokenService,
    private readonly readStore: ReadStore,
    private readonly commands: Pick<CommandHandler, 'load' | 'acknowledgedPosition'>,
    private readonly projections: Pick<Projections, 'position' | 'positionOf'>,
  ) {}

  async authenticate(token: string | null | undefined): Promise<Principal> {
    if (!token) throw new UnauthorizedError('Missing access token', 'missing_token');
    const claims = this.tokens.verify(token);
    const user = await this.readStore.collection<UserDoc>(USERS).findOne({ _id: claims.userId });
    if (!user) throw new UnauthorizedError('Invalid access token', 'invalid_token');
    if (await this.revoked(user, claims.tokenId)) throw new UnauthorizedError('Access token revoked', 'token_revoked');
    return { ...claims, user };
  }

  /**
   * The read model answers while the users projector has applied every event this server wrote or the subscription
   * committed. Behind that (held at an event it cannot apply, or mid-batch) the user's own stream decides: a logout
   * takes effect when it is written, whatever a projector's progress.
   */
  private async revoked(user: UserDoc, tokenId: string): Promise<boolean> {
    if (user.revokedTokens.some((revoked) => revoked.tokenId === tokenId)) return true;
    const written = Math.max(this.commands.acknowledgedPosition, this.projections.position);
    if (this.projections.positionOf(USERS) >= written) return false;
    const { state } = await this.commands.load(userDecider, userStream(user._id));
    return state.status === 'registered' && state.revokedTokens.has(tokenId);
  }
}

/** The token from an `Authorization: Bearer <token>` header. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match ? match[1]! : null;
}
