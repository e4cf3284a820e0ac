import { ConflictError, DomainError, NotFoundError } from './shared/errors.ts';
import { assertNever, type Command, type Decision, type Event } from './shared/events.ts';
import type { SealedText } from './shared/sealed.ts';
// Types only: users.ts imports this module (it folds and routes bot events and commands).
import type { UserState } from './users.ts';

/**
 * Bot accounts: users (`user-<botId>` streams, the user aggregate's) that a user made, acting with a token of their
 * own instead of a password. Their events and decisions live here; commands/users.ts folds and routes them.
 */

/** At most this many bots per owner unless BOTS_MAX_PER_OWNER says otherwise (src/config.ts). */
export const DEFAULT_MAX_BOTS_PER_OWNER = 20;

/** What a bot account may not do (make or manage bots, use Leta): 403 `not_for_bots`. */
export class NotForBotsError extends DomainError {
  constructor(what: string) {
    super('not_for_bots', 403, `A bot account cannot ${what}`);
  }
}

/** An owner with their maximum number of bots: 409 `bots_limit`. */
export class BotsLimitError extends ConflictError {
  constructor(max: number) {
    super('bots_limit', `At most ${max} bots per owner: delete one first`, { max });
  }
}

/** What the user aggregate knows of a bot: its owner and the one token that may act for it (none once revoked). */
export interface BotFacts {
  ownerId: string;
  tokenId: string | null;
  /** SHA-256 (hex) of the token's secret: the token itself is never stored. */
  tokenHash: string | null;
}

/**
 * A bot account was made by `ownerId`. `username` and `displayName` are sealed under the bot's own data key
 * (`user:<botId>`), as a registration's are; a bot has no email and no password.
 */
export type BotCreated = Event<
  'BotCreated',
  { userId: string; ownerId: string; username: SealedText; displayName: SealedText; createdAt: string }
>;
/**
 * A new token acts for the bot: only its id and the SHA-256 of its secret are recorded. The previous token
 * (`replacesTokenId`) is refused from this event on.
 */
export type BotTokenIssued = Event<
  'BotTokenIssued',
  { userId: string; tokenId: string; tokenHash: string; replacesTokenId: string | null; issuedAt: string }
>;
/** The bot's token is refused from now on; the bot has none until its owner issues another. */
export type BotTokenRevoked = Event<'BotTokenRevoked', { userId: string; tokenId: string; revokedAt: string }>;

export type BotEvent = BotCreated | BotTokenIssued | BotTokenRevoked;
export const botEventTypes = ['BotCreated', 'BotTokenIssued', 'BotTokenRevoked'] as const satisfies readonly BotEvent['type'][];

/** Sealed by the shell under the bot's data key; the bot id derives from the command id, so a retry targets the same stream. */
export type CreateBot = Command<'CreateBot', { userId: string; ownerId: string; username: SealedText; displayName: SealedText }>;
/** `actorId` must own the bot; the shell made the token and hands in only its id and hash. */
export type IssueBotToken = Command<'IssueBotToken', { userId: string; actorId: string; tokenId: string; tokenHash: string }>;
export type RevokeBotToken = Command<'RevokeBotToken', { userId: string; actorId: string }>;
export type BotCommand = CreateBot | IssueBotToken | RevokeBotToken;

/** The bot of `actorId`, or not found: another user's bot and a user who is not a bot are told apart from nothing. */
export function ownedBot(state: UserState, actorId: string): BotFacts & { userId: string } {
  if (state.status !== 'registered' || !state.bot || state.bot.ownerId !== actorId) throw new NotFoundError('Bot');
  return { ...state.bot, userId: state.userId };
}

/** The token events; a BotCreated starts a registered user's state (commands/users.ts) with `bot` set. */
export function evolveBot(state: UserState, event: BotTokenIssued | BotTokenRevoked): UserState {
  switch (event.type) {
    case 'BotTokenIssued':
      return state.status === 'registered' && state.bot
        ? { ...state, bot: { ...state.bot, tokenId: event.data.tokenId, tokenHash: event.data.tokenHash } }
        : state;
    case 'BotTokenRevoked':
      return state.status === 'registered' && state.bot ? { ...state, bot: { ...state.bot, tokenId: null, tokenHash: null } } : state;
    default:
      return assertNever(event);
  }
}

export function decideBot(command: BotCommand, state: UserState): Decision<BotEvent> {
  const now = command.metadata.now;
  switch (command.type) {
    case 'CreateBot': {
      const { userId, ownerId, username, displayName } = command.data;
      // A retried creation finds its bot made.
      if (state.status === 'registered' && state.bot?.ownerId === ownerId) return [];
      if (state.status !== 'unregistered') throw new ConflictError('user_exists', 'This user already exists', { userId });
      return [{ type: 'BotCreated', data: { userId, ownerId, username, displayName, createdAt: now } }];
    }
    case 'IssueBotToken': {
      const bot = ownedBot(state, command.data.actorId);
      const { tokenId, tokenHash } = command.data;
      if (bot.tokenId === tokenId) return [];
      return [{ type: 'BotTokenIssued', data: { userId: bot.userId, tokenId, tokenHash, replacesTokenId: bot.tokenId, issuedAt: now } }];
    }
    case 'RevokeBotToken': {
      const bot = ownedBot(state, command.data.actorId);
      if (bot.tokenId === null) return [];
      return [{ type: 'BotTokenRevoked', data: { userId: bot.userId, tokenId: bot.tokenId, revokedAt: now } }];
    }
    default:
      return assertNever(command);
  }
}
