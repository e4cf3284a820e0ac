import { createHash } from 'node:crypto';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { claimIsStale, identityClaimDecider, type IdentityKind } from '../../commands/identityClaims.ts';
import { ConflictError } from '../../commands/shared/errors.ts';
import { InvalidCredentialsError, userDecider, userStream } from '../../commands/users.ts';
import { toOwnUser, USERS, type OwnUser, type UserDoc } from '../../projections/users.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { deriveId } from '../ids.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { Principal } from './authenticator.ts';
import type { LoginThrottle } from './loginThrottle.ts';
import type { PasswordHasher } from './passwords.ts';
import type { AccessToken, TokenService } from './tokens.ts';
import { sealPersonal, type IdentityClaimKeys } from '../privacy/personalData.ts';
import type { ShreddingKeys } from '../privacy/shreddingKeys.ts';

export interface Registration {
  email: string;
  username: string;
  displayName?: string | undefined;
  password: string;
}

export interface Session {
  user: OwnUser;
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  expiresAt: string;
}

/**
 * Where claims were made before they were keyed (an unkeyed SHA-256 of the value): still honoured, so an account
 * registered then keeps its email and username, and released with the keyed one when the account is deleted.
 */
const legacyClaimStream = (kind: IdentityKind, value: string) => `identity-${kind}-${createHash('sha256').update(value).digest('hex')}`;

/** Registration, login and logout: the orchestration around the user and identity-claim deciders. */
export class AuthService {
  constructor(
    private readonly commands: CommandHandler,
    private readonly readStore: ReadStore,
    private readonly projections: Projections,
    private readonly tokens: TokenService,
    private readonly passwords: PasswordHasher,
    private readonly throttle: LoginThrottle,
    /** The users' data keys: personal fields are sealed before they are appended. */
    private readonly keys: ShreddingKeys,
    private readonly claimKeys: IdentityClaimKeys,
  ) {}

  /** `client`: the address asking, which takes its turn for the password hash. */
  async register(input: Registration, client: string, metadata: CommandMetadata): Promise<Session> {
    // The user id derives from the command id: a retried registration targets the same user stream.
    const userId = deriveId('user', metadata.commandId);
    const password = await this.passwords.hash(input.password, client);
    await this.claim('email', input.email, userId, metadata);
    try {
      await this.claim('username', input.username, userId, metadata);
      const stream = userStream(userId);
      const seal = (text: string, field: string) => sealPersonal(this.keys, userId, text, { metadata, stream, field });
      await this.commands.handle(userDecider, stream, {
        type: 'RegisterUser',
        data: {
          userId,
          email: await seal(input.email, 'email'),
          username: await seal(input.username, 'username'),
          displayName: await seal(input.displayName ?? input.username, 'displayName'),
          passwordHash: password.hash,
          passwordScheme: password.scheme,
        },
        metadata,
      });
    } catch (error) {
      // Releasing is a no-op for a claim that is no longer ours (taken over after this registration stalled).
      await this.release('username', input.username, userId, metadata);
      await this.release('email', input.email, userId, metadata);
      throw error;
    }
    // Every command appends at most one event, so each event has a position of its own in every event store.
    const token = this.tokens.issue(userId, new Date(metadata.now));
    const result = await this.commands.handle(userDecider, userStream(userId), {
      type: 'LogUserIn',
      data: { userId, passwordVerified: true, token: { tokenId: token.tokenId, expiresAt: token.expiresAt } },
      metadata: { ...metadata, commandId: deriveId(metadata.commandId, 'first-login') },
    });
    if (result.position !== null) await this.projections.waitFor(result.position);
    return this.session(await this.requireUser(userId), token);
  }

  /**
   * The throttle is passed before the password is checked (429 for an address out of guesses on this account, a
   * wait for an account guessed from many addresses); a right password gives back what the attempt took.
   */
  async login(email: string, password: string, client: string, metadata: CommandMetadata): Promise<Session> {
    const attempt = await this.throttle.admit(email, client);
    const found = await this.readStore.collection<UserDoc>(USERS).findOne({ email });
    // A bot has no password: it is refused as an unknown email is, after the same decoy comparison.
    const user = found?.bot ? null : found;
    const stored = user ? { hash: user.passwordHash, scheme: user.passwordScheme } : null;
    const passwordVerified = await this.passwords.verify(password, stored, client);
    if (!user) throw new InvalidCredentialsError();
    if (passwordVerified) await attempt.succeeded();
    const token = this.tokens.issue(user._id, new Date(metadata.now));
    await this.commands.handle(userDecider, userStream(user._id), {
      type: 'LogUserIn',
      data: { userId: user._id, passwordVerified, token: { tokenId: token.tokenId, expiresAt: token.expiresAt } },
      metadata,
    });
    // Logging in calls off a scheduled account deletion (nothing is appended when none is scheduled).
    await this.commands.handle(userDecider, userStream(user._id), {
      type: 'CancelAccountDeletion',
      data: { userId: user._id, by: 'login' },
      metadata: { ...metadata, commandId: deriveId(metadata.commandId, 'cancel-deletion') },
    });
    return this.session(user, token);
  }

  /** Frees a deleted account's email and username for anyone to register (its keyed and any legacy claims). */
  async releaseIdentities(userId: string, identities: { email: string; username: string }, metadata: CommandMetadata): Promise<void> {
    for (const kind of ['email', 'username'] as const) {
      for (const stream of [this.claimKeys.streamFor(kind, identities[kind]), legacyClaimStream(kind, identities[kind])]) {
        await this.commands.handle(identityClaimDecider, stream, {
          type: 'ReleaseIdentity',
          data: { kind, ownerId: userId },
          metadata: { ...metadata, commandId: deriveId(metadata.commandId, 'release', stream) },
        });
      }
    }
  }

  /** Revokes the presented token everywhere; returns once the revocation is visible to every reader. */
  async logout(principal: Principal, metadata: CommandMetadata): Promise<void> {
    const result = await this.commands.handle(userDecider, userStream(principal.userId), {
      type: 'LogUserOut',
      data: { userId: principal.userId, token: { tokenId: principal.tokenId, expiresAt: principal.expiresAt } },
      metadata,
    });
    if (result.position !== null) await this.projections.waitFor(result.position);
  }

  /** Takes an email or username for `ownerId` (a registration's, a bot's): 409 `<kind>_taken` when someone holds it. */
  async claim(kind: IdentityKind, value: string, ownerId: string, metadata: CommandMetadata): Promise<void> {
    await this.refuseLegacyClaim(kind, value, ownerId, metadata);
    const stream = this.claimKeys.streamFor(kind, value);
    const { state } = await this.commands.load(identityClaimDecider, stream);
    const currentOwner = state.ownerId;
    const currentOwnerAbandoned =
      currentOwner !== null &&
      currentOwner !== ownerId &&
      claimIsStale(state, metadata.now) &&
      (await this.abandon(currentOwner, metadata));
    await this.commands.handle(identityClaimDecider, stream, {
      type: 'ClaimIdentity',
      data: { kind, ownerId, currentOwnerAbandoned },
      metadata: { ...metadata, commandId: deriveId(metadata.commandId, 'claim', kind) },
    });
  }

  /** A claim made before claims were keyed holds too, on the same terms (a stale one's owner is voided first). */
  private async refuseLegacyClaim(kind: IdentityKind, value: string, ownerId: string, metadata: CommandMetadata): Promise<void> {
    const { state } = await this.commands.load(identityClaimDecider, legacyClaimStream(kind, value));
    if (state.ownerId === null || state.ownerId === ownerId) return;
    if (claimIsStale(state, metadata.now) && (await this.abandon(state.ownerId, metadata))) return;
    throw new ConflictError(`${kind}_taken`, `This ${kind} is already registered`, { field: kind });
  }

  /**
   * Voids a stale claim owner's registration on that user's own stream, so a registration that stalled cannot
   * complete after its email or username was taken over (it would then collide in the users projection).
   * False when the owner did register after all.
   */
  private async abandon(userId: string, metadata: CommandMetadata): Promise<boolean> {
    try {
      await this.commands.handle(userDecider, userStream(userId), {
        type: 'AbandonRegistration',
        data: { userId },
        metadata: { ...metadata, commandId: deriveId(metadata.commandId, 'abandon', userId) },
      });
      return true;
    } catch (error) {
      if (error instanceof ConflictError && error.code === 'user_exists') return false;
      throw error;
    }
  }

  /** Gives back a claim of `ownerId`'s (nothing when it is no longer theirs). */
  async release(kind: IdentityKind, value: string, ownerId: string, metadata: CommandMetadata): Promise<void> {
    await this.commands.handle(identityClaimDecider, this.claimKeys.streamFor(kind, value), {
      type: 'ReleaseIdentity',
      data: { kind, ownerId },
      metadata: { ...metadata, commandId: deriveId(metadata.commandId, 'release', kind) },
    });
  }

  private async requireUser(userId: string): Promise<UserDoc> {
    const user = await this.readStore.collection<UserDoc>(USERS).findOne({ _id: userId });
    if (!user) throw new Error(`User ${userId} missing from the read model after registration`);
    return user;
  }

  private session(user: UserDoc, token: AccessToken): Session {
    return {
      user: toOwnUser(user),
      accessToken: token.token,
      tokenType: 'Bearer',
      expiresIn: token.expiresIn,
      expiresAt: token.expiresAt,
    };
  }
}
