import { BotsLimitError, NotForBotsError, ownedBot } from '../../commands/bots.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { userDecider, userStream, type UserCommand } from '../../commands/users.ts';
import { botEmail, USERS, type UserDoc } from '../../projections/users.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { deriveId } from '../ids.ts';
import type { AccountDeletionService } from '../people/accountDeletionService.ts';
import { sealPersonal } from '../privacy/personalData.ts';
import type { ShreddingKeys } from '../privacy/shreddingKeys.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { AuthService } from './authService.ts';
import type { Principal } from './authenticator.ts';
import { mintBotToken } from './botTokens.ts';

/** A bot as its owner sees it (GET /api/bots): never its token. */
export interface OwnedBot {
  id: string;
  username: string;
  displayName: string;
  ownerId: string;
  isBot: true;
  createdAt: string;
  tokenIssuedAt: string | null;
}

export interface BotWithToken {
  bot: OwnedBot;
  /** Shown once: only its hash is kept. */
  token: string;
}

export interface BotServiceDeps {
  commands: CommandHandler;
  readStore: ReadStore;
  projections: Projections;
  keys: ShreddingKeys;
  auth: AuthService;
  deletions: AccountDeletionService;
  /** BOTS_MAX_PER_OWNER. */
  maxPerOwner: number;
}

const toOwnedBot = (doc: UserDoc): OwnedBot => ({
  id: doc._id,
  username: doc.username,
  displayName: doc.displayName,
  ownerId: doc.bot!.ownerId,
  isBot: true,
  createdAt: doc.createdAt,
  tokenIssuedAt: doc.bot!.tokenIssuedAt,
});

/**
 * Bot accounts (POST /api/bots): users made by a user, acting with a token of their own. A bot claims its username
 * like a registration (and a stand-in email, so nobody registers with it), its personal fields are sealed under its
 * own data key, and deleting it is an account deletion. A bot may not manage bots.
 */
export class BotService {
  constructor(private readonly deps: BotServiceDeps) {}

  async create(
    owner: Principal,
    input: { username: string; displayName?: string | undefined },
    metadata: CommandMetadata,
  ): Promise<BotWithToken> {
    refuseBots(owner, 'make bots');
    // Counted on the read model: two creations at the same instant could both pass at the limit (documented).
    const existing = await this.bots().find({ 'bot.ownerId': owner.userId }, { limit: this.deps.maxPerOwner });
    if (existing.length >= this.deps.maxPerOwner) throw new BotsLimitError(this.deps.maxPerOwner);

    const { commands, auth, keys } = this.deps;
    // The bot id derives from the command id: a retried creation targets the same stream and claims.
    const botId = deriveId('bot', metadata.commandId);
    const stream = userStream(botId);
    await auth.claim('username', input.username, botId, metadata);
    try {
      await auth.claim('email', botEmail(botId), botId, metadata);
      const seal = (text: string, field: string) => sealPersonal(keys, botId, text, { metadata, stream, field });
      await commands.handle(userDecider, stream, {
        type: 'CreateBot',
        data: {
          userId: botId,
          ownerId: owner.userId,
          username: await seal(input.username, 'username'),
          displayName: await seal(input.displayName ?? input.username, 'displayName'),
        },
        metadata,
      });
    } catch (error) {
      await auth.release('email', botEmail(botId), botId, metadata);
      await auth.release('username', input.username, botId, metadata);
      throw error;
    }
    return this.issueToken(owner, botId, { ...metadata, commandId: deriveId(metadata.commandId, 'bot-token') });
  }

  async list(owner: Principal): Promise<OwnedBot[]> {
    refuseBots(owner, 'manage bots');
    const docs = await this.bots().find({ 'bot.ownerId': owner.userId }, { sort: { createdAt: 1 }, limit: this.deps.maxPerOwner * 2 });
    return docs.map(toOwnedBot);
  }

  /** A new token for the bot; the previous one is refused from the moment it is written (its sockets closed). */
  async issueToken(owner: Principal, botId: string, metadata: CommandMetadata): Promise<BotWithToken> {
    refuseBots(owner, 'manage bots');
    const minted = mintBotToken(botId);
    await this.run(botId, {
      type: 'IssueBotToken',
      data: { userId: botId, actorId: owner.userId, tokenId: minted.tokenId, tokenHash: minted.tokenHash },
      metadata,
    });
    const doc = await this.bots().findOne({ _id: botId });
    if (!doc?.bot) throw new Error(`Bot ${botId} missing from the read model after its token was issued`);
    return { bot: toOwnedBot(doc), token: minted.token };
  }

  /** The bot keeps no token: refused from now on, until its owner issues another. */
  async revokeToken(owner: Principal, botId: string, metadata: CommandMetadata): Promise<void> {
    refuseBots(owner, 'manage bots');
    await this.run(botId, { type: 'RevokeBotToken', data: { userId: botId, actorId: owner.userId }, metadata });
  }

  /** An account deletion (its sockets closed, its token refused, its username free); its messages stay. */
  async delete(owner: Principal, botId: string, metadata: CommandMetadata): Promise<void> {
    refuseBots(owner, 'manage bots');
    const { state } = await this.deps.commands.load(userDecider, userStream(botId));
    ownedBot(state, owner.userId);
    await this.deps.deletions.deleteBot(botId, metadata);
  }

  private bots() {
    return this.deps.readStore.collection<UserDoc>(USERS);
  }

  private async run(botId: string, command: UserCommand): Promise<void> {
    const result = await this.deps.commands.handle(userDecider, userStream(botId), command);
    if (result.position !== null) await this.deps.projections.waitFor(result.position);
  }
}

function refuseBots(principal: Principal, what: string): void {
  if (principal.user.bot) throw new NotForBotsError(what);
}
