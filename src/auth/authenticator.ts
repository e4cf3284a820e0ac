import { UnauthorizedError } from '../../commands/shared/errors.ts';
import { AccountSuspendedError, USER_STREAM_CATEGORY, userDecider, userStream } from '../../commands/users.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { CommandHandler } from '../commandHandler.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { TokenClaims, TokenService } from './tokens.ts';
import { BOT_TOKEN_EXPIRES_AT, botSecretMatches, parseBotToken } from './botTokens.ts';

export interface Principal extends TokenClaims {
  user: UserDoc;
}

/** Who a bearer token speaks for: a valid signature, a user that exists and is not suspended, and a token not revoked. */
export class Authenticator {
  constructor(
    private readonly tokens: TokenService,
    private readonly readStore: ReadStore,
    private readonly commands: Pick<CommandHandler, 'load' | 'acknowledgedPositionOf'>,
    private readonly projections: Pick<Projections, 'position' | 'positionOf'>,
  ) {}

  async authenticate(token: string | null | undefined): Promise<Principal> {
    if (!token) throw new UnauthorizedError('Missing access token', 'missing_token');
    const bot = parseBotToken(token);
    if (bot) return this.authenticateBot(bot.botId, bot.secret);
    const claims = this.tokens.verify(token);
    const user = await this.readStore.collection<UserDoc>(USERS).findOne({ _id: claims.userId });
    if (!user) throw new UnauthorizedError('Invalid access token', 'invalid_token');
    const refusal = await this.refusal(user, claims.tokenId);
    if (refusal === 'suspended') throw new AccountSuspendedError();
    if (refusal === 'revoked') throw new UnauthorizedError('Access token revoked', 'token_revoked');
    return { ...claims, user };
  }

  /**
   * A bot token: its secret must hash to the bot's current token (a rotated or revoked one matches nothing). Behind the
   * users projector, the bot's own stream decides, as for a logout, so a rotation is refused as soon as it is written.
   */
  private async authenticateBot(botId: string, secret: string): Promise<Principal> {
    const user = await this.readStore.collection<UserDoc>(USERS).findOne({ _id: botId });
    if (!user?.bot) throw new UnauthorizedError('Invalid access token', 'invalid_token');
    let current = { tokenId: user.bot.tokenId, tokenHash: user.bot.tokenHash };
    if (!this.projectionsCaughtUp()) {
      const { state } = await this.commands.load(userDecider, userStream(botId));
      if (state.status !== 'registered' || !state.bot) throw new UnauthorizedError('Invalid access token', 'invalid_token');
      current = { tokenId: state.bot.tokenId, tokenHash: state.bot.tokenHash };
    }
    if (current.tokenId === null || !botSecretMatches(secret, current.tokenHash))
      throw new UnauthorizedError('Access token revoked', 'token_revoked');
    const refusal = await this.refusal(user, current.tokenId);
    if (refusal === 'suspended') throw new AccountSuspendedError();
    if (refusal === 'revoked') throw new UnauthorizedError('Access token revoked', 'token_revoked');
    return { userId: botId, tokenId: current.tokenId, expiresAt: BOT_TOKEN_EXPIRES_AT, user };
  }

  /**
   * How far the users projector must have come for the read model to answer: this server's last write to a user's
   * stream (a logout, a suspension; not the messages written since), and whatever the subscription committed.
   */
  private usersWritten(): number {
    return Math.max(this.commands.acknowledgedPositionOf(USER_STREAM_CATEGORY), this.projections.position);
  }

  private projectionsCaughtUp(): boolean {
    return this.projections.positionOf(USERS) >= this.usersWritten();
  }

  /**
   * The read model answers while the users projector has applied every event this server wrote or the subscription
   * committed. Behind that (held at an event it cannot apply, or mid-batch) the user's own stream decides: a logout
   * or a suspension takes effect when it is written, whatever a projector's progress (an unsuspension too).
   */
  private async refusal(user: UserDoc, tokenId: string): Promise<'revoked' | 'suspended' | null> {
    const revoked = user.revokedTokens.some((token) => token.tokenId === tokenId);
    if (this.projections.positionOf(USERS) >= this.usersWritten()) return user.suspended ? 'suspended' : revoked ? 'revoked' : null;
    const { state } = await this.commands.load(userDecider, userStream(user._id));
    if (state.status !== 'registered') return revoked ? 'revoked' : null;
    return state.suspended ? 'suspended' : revoked || state.revokedTokens.has(tokenId) ? 'revoked' : null;
  }
}

/** The token from an `Authorization: Bearer <token>` header. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match ? match[1]! : null;
}
