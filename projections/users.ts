import { assertNever, eventOf } from '../commands/shared/events.ts';
import { isSealed, textOf, type SealedText } from '../commands/shared/sealed.ts';
import type { DeletedMessages } from '../commands/users.ts';
import type { AiPreferences, PasswordScheme, PrivacySettings, UserEvent } from '../commands/users.ts';
import { DEFAULT_PRIVACY, userEventTypes } from '../commands/users.ts';
import { auditorEventTypes, type AuditorEvent } from '../commands/auditors.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import type { ProjectedDoc, Projector, Unpositioned } from '../src/projection/projector.ts';

export interface RevokedToken {
  tokenId: string;
  expiresAt: string;
}

/** The `users` read model. `passwordHash` and `revokedTokens` are server-only: see `toPublicUser`. */
export interface UserDoc extends ProjectedDoc {
  email: string;
  username: string;
  displayName: string;
  passwordHash: string;
  passwordScheme: PasswordScheme;
  createdAt: string;
  lastLoginAt: string | null;
  revokedTokens: RevokedToken[];
  about: string;
  privacy: PrivacySettings;
  ai: AiPreferences;
  avatarMediaId: string | null;
  /** Published end-to-end encryption keys, oldest first; absent until the first. */
  encryptionKeys?: PublishedKey[];
  /** May read the event history over REST (`npm run grant-auditor`); absent means no. */
  auditor?: boolean;
  /** Suspended by an operator (`npm run admin -- suspend`): since when and why; absent or null means not suspended. */
  suspended?: { at: string; reason: string } | null;
  /** Set on a bot account (commands/bots.ts): its owner and its current token (server-only, like `passwordHash`). */
  bot?: BotDocFacts;
}

export interface BotDocFacts {
  ownerId: string;
  tokenId: string | null;
  /** SHA-256 (hex) of the token's secret. */
  tokenHash: string | null;
  tokenIssuedAt: string | null;
}

/** A new account's document: what it was created with, and the defaults every account starts from. */
const newUserDoc = (
  created: Pick<UserDoc, '_id' | 'email' | 'username' | 'displayName' | 'passwordHash' | 'passwordScheme' | 'createdAt' | 'bot'>,
): Unpositioned<UserDoc> => ({
  ...created,
  lastLoginAt: null,
  revokedTokens: [],
  about: '',
  privacy: DEFAULT_PRIVACY,
  ai: {},
  avatarMediaId: null,
});

/** A bot has no email: this stands in for it (unique, undeliverable: `.invalid`), and no login accepts it. */
export const botEmail = (botId: string) => `bot-${botId}@bots.invalid`;

export interface PublishedKey {
  keyId: string;
  publicKey: string;
  publishedAt: string;
  /** No longer to be encrypted to (absent on keys published before retiring existed, as on any key not retired). */
  retiredAt?: string | null;
}

/** A user as anyone else sees them: never the email, which only its owner sees (`toOwnUser`). */
export interface PublicUser {
  id: string;
  username: string;
  displayName: string;
  createdAt: string;
  /** A bot account (POST /api/bots). */
  isBot: boolean;
}

/** A user as they see themselves (`/auth/login`, `/auth/register`, `/auth/verify`). */
export interface OwnUser extends PublicUser {
  email: string;
}

export const toPublicUser = ({ _id, username, displayName, createdAt, bot }: UserDoc): PublicUser => ({
  id: _id,
  username,
  displayName,
  createdAt,
  isBot: bot !== undefined,
});

/**
 * How a deleted account shows where its id is still named (a conversation's peer): no username, "Deleted account",
 * and no date of its own (the epoch).
 */
export const deletedAccount = (id: string): PublicUser => ({
  id,
  username: '',
  displayName: 'Deleted account',
  createdAt: new Date(0).toISOString(),
  isBot: false,
});

export const toOwnUser = (doc: UserDoc): OwnUser => ({ ...toPublicUser(doc), email: doc.email });

export const USERS = 'users';

/**
 * `account_deletions`: accounts whose deletion is scheduled (due at `deleteAfter`) or under way (`deleting`: the
 * AccountDeleted is appended, its keys are not all destroyed yet). The server's sweeper reads it at start and on a timer.
 */
export const ACCOUNT_DELETIONS = 'account_deletions';
export interface AccountDeletionDoc extends ProjectedDoc {
  status: 'scheduled' | 'deleting';
  messages: DeletedMessages;
  deleteAfter: string;
}

/** A personal field as the read model keeps it: in clear (the key is gone only once the account is deleted). */
const clear = (field: SealedText | undefined): string | undefined => (field === undefined ? undefined : textOf(field));

export const usersProjector: Projector = {
  // 4: deleted accounts have no document, and account_deletions; 3: documents hold `about`, `privacy`, `ai` and
  // `avatarMediaId`; 2: documents record `passwordScheme` (1 had none).
  version: 4,
  name: USERS,
  collections: {
    [USERS]: [
      { key: { email: 1 }, unique: true },
      // GET /api/bots: an owner's bots.
      { key: { 'bot.ownerId': 1 } },
      { key: { username: 1 }, unique: true },
      // The feed asks which members of a group keep their read receipts to themselves.
      { key: { 'privacy.readReceipts': 1 } },
    ],
    [ACCOUNT_DELETIONS]: [{ key: { deleteAfter: 1 } }],
  },
  handles: new Set([...userEventTypes, ...auditorEventTypes]),
  async apply(recorded: RecordedEvent, context) {
    if (recorded.type === 'AuditorGranted' || recorded.type === 'AuditorRevoked') {
      const { userId } = recorded.data as AuditorEvent['data'];
      return context.project<UserDoc>(USERS, userId, recorded, (doc) => doc && { ...doc, auditor: recorded.type === 'AuditorGranted' });
    }
    const event = eventOf<UserEvent>(userEventTypes, recorded);
    switch (event.type) {
      case 'UserRegistered': {
        const { userId, passwordHash, passwordScheme, registeredAt } = event.data;
        // Sealed still: the data key is destroyed, so the account was deleted (a rebuild): it has no document.
        if (isSealed(event.data.email) || isSealed(event.data.username)) return;
        const [email, username, displayName] = [textOf(event.data.email), textOf(event.data.username), textOf(event.data.displayName)];
        return context.project<UserDoc>(
          USERS,
          userId,
          recorded,
          (doc) => doc ?? newUserDoc({ _id: userId, email, username, displayName, passwordHash, passwordScheme, createdAt: registeredAt }),
        );
      }
      case 'UserLoggedIn':
        return context.project<UserDoc>(USERS, event.data.userId, recorded, (doc) => doc && { ...doc, lastLoginAt: event.data.loggedInAt });
      case 'UserLoggedOut': {
        const { userId, tokenId, expiresAt, loggedOutAt } = event.data;
        return context.project<UserDoc>(
          USERS,
          userId,
          recorded,
          (doc) =>
            doc && {
              ...doc,
              revokedTokens: [...doc.revokedTokens.filter((token) => token.expiresAt > loggedOutAt), { tokenId, expiresAt }],
            },
        );
      }
      case 'UserSuspended': {
        const { userId, suspendedAt, reason } = event.data;
        return context.project<UserDoc>(USERS, userId, recorded, (doc) => doc && { ...doc, suspended: { at: suspendedAt, reason } });
      }
      case 'UserUnsuspended':
        return context.project<UserDoc>(USERS, event.data.userId, recorded, (doc) => doc && { ...doc, suspended: null });
      // A voided registration never had a document.
      case 'UserRegistrationAbandoned':
        return;
      case 'AccountDeletionScheduled': {
        const { userId, messages, deleteAfter } = event.data;
        return context.project<AccountDeletionDoc>(ACCOUNT_DELETIONS, userId, recorded, () => ({
          _id: userId,
          status: 'scheduled',
          messages,
          deleteAfter,
        }));
      }
      case 'AccountDeletionCancelled':
        return context.project<AccountDeletionDoc>(ACCOUNT_DELETIONS, event.data.userId, recorded, () => null);
      case 'AccountDeleted': {
        const { userId, messages, deletedAt } = event.data;
        await context.project<UserDoc>(USERS, userId, recorded, () => null);
        return context.project<AccountDeletionDoc>(ACCOUNT_DELETIONS, userId, recorded, () => ({
          _id: userId,
          status: 'deleting',
          messages,
          deleteAfter: deletedAt,
        }));
      }
      case 'AccountErased':
        return context.project<AccountDeletionDoc>(ACCOUNT_DELETIONS, event.data.userId, recorded, () => null);
      case 'BotCreated': {
        const { userId, ownerId, createdAt } = event.data;
        // Sealed still: the bot was deleted and its key destroyed (a rebuild): no document, as for a deleted account.
        if (isSealed(event.data.username)) return;
        const [username, displayName] = [textOf(event.data.username), textOf(event.data.displayName)];
        return context.project<UserDoc>(
          USERS,
          userId,
          recorded,
          (doc) =>
            doc ??
            newUserDoc({
              _id: userId,
              email: botEmail(userId),
              username,
              displayName,
              // No password: login refuses a bot before any hash is compared (src/auth/authService.ts).
              passwordHash: '',
              passwordScheme: 'bcrypt-nfc',
              createdAt,
              bot: { ownerId, tokenId: null, tokenHash: null, tokenIssuedAt: null },
            }),
        );
      }
      case 'BotTokenIssued': {
        const { userId, tokenId, tokenHash, issuedAt } = event.data;
        return context.project<UserDoc>(USERS, userId, recorded, (doc) =>
          doc?.bot ? { ...doc, bot: { ...doc.bot, tokenId, tokenHash, tokenIssuedAt: issuedAt } } : doc,
        );
      }
      case 'BotTokenRevoked':
        return context.project<UserDoc>(USERS, event.data.userId, recorded, (doc) =>
          doc?.bot ? { ...doc, bot: { ...doc.bot, tokenId: null, tokenHash: null, tokenIssuedAt: null } } : doc,
        );
      case 'ProfileUpdated': {
        const [displayName, about] = [clear(event.data.changes.displayName), clear(event.data.changes.about)];
        const { ai } = event.data.changes;
        return context.project<UserDoc>(
          USERS,
          event.data.userId,
          recorded,
          (doc) =>
            doc && {
              ...doc,
              displayName: displayName ?? doc.displayName,
              about: about ?? doc.about,
              ai: ai ? { ...doc.ai, ...ai } : doc.ai,
            },
        );
      }
      case 'PrivacySettingsChanged':
        return context.project<UserDoc>(USERS, event.data.userId, recorded, (doc) => doc && { ...doc, privacy: event.data.privacy });
      case 'AvatarChanged':
        return context.project<UserDoc>(USERS, event.data.userId, recorded, (doc) => doc && { ...doc, avatarMediaId: event.data.mediaId });
      case 'AvatarRemoved':
        return context.project<UserDoc>(USERS, event.data.userId, recorded, (doc) => doc && { ...doc, avatarMediaId: null });
      case 'EncryptionKeyRetired': {
        const { userId, keyId, at } = event.data;
        return context.project<UserDoc>(
          USERS,
          userId,
          recorded,
          (doc) =>
            doc && {
              ...doc,
              encryptionKeys: (doc.encryptionKeys ?? []).map((key) => (key.keyId === keyId ? { ...key, retiredAt: at } : key)),
            },
        );
      }
      case 'EncryptionKeyPublished': {
        const { userId, keyId, publicKey, at } = event.data;
        return context.project<UserDoc>(
          USERS,
          userId,
          recorded,
          (doc) =>
            doc && {
              ...doc,
              encryptionKeys: [...(doc.encryptionKeys ?? []), { keyId, publicKey, publishedAt: at }],
            },
        );
      }
      default:
        return assertNever(event);
    }
  },
};
