import { ConflictError, DomainError, NotFoundError, UnauthorizedError, ValidationError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';
import type { SealedText } from './shared/sealed.ts';
import { botEventTypes, decideBot, evolveBot, type BotCommand, type BotEvent, type BotFacts } from './bots.ts';

/** The user aggregate: registration and the life of access tokens. Stream: `user-<userId>`. */
export const USER_STREAM_CATEGORY = 'user';
export const userStream = (userId: string) => `${USER_STREAM_CATEGORY}-${userId}`;

/**
 * How `passwordHash` was made. `bcrypt`: bcrypt of the password as typed (schema version 1, before passwords
 * were normalized). `bcrypt-nfc`: bcrypt of the NFC-normalized password, at most 72 UTF-8 bytes so bcrypt
 * reads all of it (version 2).
 */
export type PasswordScheme = 'bcrypt' | 'bcrypt-nfc';

/**
 * Version 2 added `passwordScheme`; version 1 events are upcast to `bcrypt` (see commands/upcasters.ts). Version 3 seals
 * `email`, `username` and `displayName` under the user's data key (`user:<userId>`, src/privacy/); older events are
 * upcast to `{ plain }`.
 */
export type UserRegistered = Event<
  'UserRegistered',
  {
    userId: string;
    email: SealedText;
    username: SealedText;
    displayName: SealedText;
    passwordHash: string;
    passwordScheme: PasswordScheme;
    registeredAt: string;
  }
>;
export type UserLoggedIn = Event<'UserLoggedIn', { userId: string; tokenId: string; expiresAt: string; loggedInAt: string }>;
export type UserLoggedOut = Event<'UserLoggedOut', { userId: string; tokenId: string; expiresAt: string; loggedOutAt: string }>;
/**
 * A registration that never completed was voided so another registration could take over its email or
 * username. Written to the abandoned user's stream, so it races that registration on one stream: exactly one
 * of "registered" and "abandoned" wins.
 */
export type UserRegistrationAbandoned = Event<'UserRegistrationAbandoned', { userId: string; abandonedAt: string }>;
/** Who may see a detail: anyone, the people the user added as contacts, or nobody. */
export type Visibility = 'everyone' | 'contacts' | 'nobody';

export interface PrivacySettings {
  lastSeen: Visibility;
  online: Visibility;
  avatar: Visibility;
  about: Visibility;
  /** Off: the user's read watermarks are not shown to others, and they see no one else's. */
  readReceipts: boolean;
}

export const DEFAULT_PRIVACY: PrivacySettings = {
  lastSeen: 'everyone',
  online: 'everyone',
  avatar: 'everyone',
  about: 'everyone',
  readReceipts: true,
};

export interface AiPreferences {
  language?: string | undefined;
  defaultPersonalityId?: string | undefined;
  /** Voice notes sent to this user are transcribed as they arrive (in `language`), with their key or the server's. */
  autoTranscribe?: boolean | undefined;
}

export interface ProfileChanges {
  displayName?: SealedText | undefined;
  about?: SealedText | undefined;
  ai?: AiPreferences | undefined;
}

/**
 * Only what changed; joined to conversations and messages when they are read, never copied into them. Version 2 seals
 * `displayName` and `about` under the user's data key (version 1 held them in clear, upcast to `{ plain }`).
 */
export type ProfileUpdated = Event<'ProfileUpdated', { userId: string; changes: ProfileChanges; at: string }>;
/** The whole settings after the change. */
export type PrivacySettingsChanged = Event<'PrivacySettingsChanged', { userId: string; privacy: PrivacySettings; at: string }>;

/** The profile picture is an uploaded image (its variants are in the media record). */
export type AvatarChanged = Event<'AvatarChanged', { userId: string; mediaId: string; at: string }>;
export type AvatarRemoved = Event<'AvatarRemoved', { userId: string; at: string }>;

/**
 * A public key for end-to-end encryption (X25519, base64), under an id of the user's choosing. Others encrypt direct
 * messages to it and name it in `recipientKeyId`; the secret key never leaves the user's devices. Keys are kept,
 * not replaced, so messages encrypted to an older one stay readable.
 */
export type EncryptionKeyPublished = Event<'EncryptionKeyPublished', { userId: string; keyId: string; publicKey: string; at: string }>;
/** No longer to be encrypted to; still listed, so the messages already encrypted with it can be opened. */
export type EncryptionKeyRetired = Event<'EncryptionKeyRetired', { userId: string; keyId: string; at: string }>;

/**
 * An operator (`npm run admin -- suspend`) shut the account: no login, no token accepted, its sockets closed. `operator`
 * names who did it (also the event's acting user, `operator:<name>`), `reason` why.
 */
export type UserSuspended = Event<'UserSuspended', { userId: string; reason: string; operator: string; suspendedAt: string }>;
/** An operator opened the account again: its user may log in (tokens issued before the suspension work again unless revoked). */
export type UserUnsuspended = Event<'UserUnsuspended', { userId: string; reason: string; operator: string; unsuspendedAt: string }>;

/** What becomes of a deleted account's sent messages: kept for the people who received them, or erased. */
export type DeletedMessages = 'keep' | 'erase';

/** The user asked to delete their account with a confirmation window: it is deleted at `deleteAfter` unless cancelled. */
export type AccountDeletionScheduled = Event<
  'AccountDeletionScheduled',
  { userId: string; messages: DeletedMessages; deleteAfter: string; scheduledAt: string }
>;
/** A scheduled deletion called off: by logging in again, or by asking. */
export type AccountDeletionCancelled = Event<'AccountDeletionCancelled', { userId: string; by: 'login' | 'request'; cancelledAt: string }>;
/**
 * The audit record of an account deletion: whose and when (the acting user is in the metadata), never what was erased.
 * Appended before any key is destroyed: a crash after it leaves a deletion that is finished again, not a half-erased user.
 */
export type AccountDeleted = Event<'AccountDeleted', { userId: string; messages: DeletedMessages; deletedAt: string }>;
/** Every key of the deleted account is destroyed (its data key, and its messages' content keys when erased). */
export type AccountErased = Event<'AccountErased', { userId: string; erasedAt: string }>;

export type UserEvent =
  | UserRegistered
  | UserLoggedIn
  | UserLoggedOut
  | UserRegistrationAbandoned
  | ProfileUpdated
  | PrivacySettingsChanged
  | AvatarChanged
  | AvatarRemoved
  | EncryptionKeyPublished
  | EncryptionKeyRetired
  | UserSuspended
  | UserUnsuspended
  | AccountDeletionScheduled
  | AccountDeletionCancelled
  | AccountDeleted
  | AccountErased
  | BotEvent;
export const userEventTypes = [
  'UserRegistered',
  'UserLoggedIn',
  'UserLoggedOut',
  'UserRegistrationAbandoned',
  'ProfileUpdated',
  'PrivacySettingsChanged',
  'AvatarChanged',
  'AvatarRemoved',
  'EncryptionKeyPublished',
  'EncryptionKeyRetired',
  'UserSuspended',
  'UserUnsuspended',
  'AccountDeletionScheduled',
  'AccountDeletionCancelled',
  'AccountDeleted',
  'AccountErased',
  ...botEventTypes,
] as const satisfies readonly UserEvent['type'][];

/** Keys in use per user (retire old ones to rotate further), and kept in all (retired ones open old messages). */
export const MAX_ENCRYPTION_KEYS = 20;
export const MAX_KEPT_ENCRYPTION_KEYS = 200;

/** A freshly issued access token, recorded so it can be revoked. */
export interface IssuedToken {
  tokenId: string;
  expiresAt: string;
}

/** Registration records the user only; the first token is recorded by a LogUserIn right after. */
export type RegisterUser = Command<
  'RegisterUser',
  {
    userId: string;
    /** Sealed by the shell under the user's data key. */
    email: SealedText;
    username: SealedText;
    displayName: SealedText;
    passwordHash: string;
    passwordScheme: PasswordScheme;
  }
>;
/** Voids a registration that has not completed; a registered user cannot be abandoned. */
export type AbandonRegistration = Command<'AbandonRegistration', { userId: string }>;
/** The shell checks the password against the stored hash (bcrypt) and reports the outcome here. */
export type LogUserIn = Command<'LogUserIn', { userId: string; passwordVerified: boolean; token: IssuedToken }>;
export type LogUserOut = Command<'LogUserOut', { userId: string; token: IssuedToken }>;
export type UpdateProfile = Command<'UpdateProfile', { userId: string; changes: ProfileChanges }>;
export type ChangePrivacySettings = Command<'ChangePrivacySettings', { userId: string; privacy: Partial<PrivacySettings> }>;
export type SetAvatar = Command<'SetAvatar', { userId: string; mediaId: string }>;
export type RemoveAvatar = Command<'RemoveAvatar', { userId: string }>;
export type PublishEncryptionKey = Command<'PublishEncryptionKey', { userId: string; keyId: string; publicKey: string }>;
export type RetireEncryptionKey = Command<'RetireEncryptionKey', { userId: string; keyId: string }>;
/** An operator's; `operator` is who (a name, not a user of the app), `reason` is required. */
export type SuspendUser = Command<'SuspendUser', { userId: string; reason: string; operator: string }>;
export type UnsuspendUser = Command<'UnsuspendUser', { userId: string; reason: string; operator: string }>;
/** The shell checks the password (bcrypt) and reports it, as for a login. */
export type ScheduleAccountDeletion = Command<
  'ScheduleAccountDeletion',
  { userId: string; passwordVerified: boolean; messages: DeletedMessages; deleteAfter: string }
>;
export type CancelAccountDeletion = Command<'CancelAccountDeletion', { userId: string; by: 'login' | 'request' }>;
export type DeleteAccount = Command<'DeleteAccount', { userId: string; passwordVerified: boolean; messages: DeletedMessages }>;
/** The sweeper's: deletes the account if its scheduled deletion is due (nothing if it was cancelled meanwhile). */
export type DeleteScheduledAccount = Command<'DeleteScheduledAccount', { userId: string }>;
export type RecordAccountErased = Command<'RecordAccountErased', { userId: string }>;
export type UserCommand =
  | RegisterUser
  | LogUserIn
  | LogUserOut
  | AbandonRegistration
  | UpdateProfile
  | ChangePrivacySettings
  | SetAvatar
  | RemoveAvatar
  | PublishEncryptionKey
  | RetireEncryptionKey
  | SuspendUser
  | UnsuspendUser
  | ScheduleAccountDeletion
  | CancelAccountDeletion
  | DeleteAccount
  | DeleteScheduledAccount
  | RecordAccountErased
  | BotCommand;

export type UserState =
  | { status: 'unregistered' }
  | { status: 'abandoned' }
  /**
   * Only what `decide` needs (the state is cached). The display name and about text are sealed: the shell leaves out
   * the ones that did not change (it compares the read model's clear text) before it seals the rest.
   */
  | {
      status: 'registered';
      userId: string;
      revokedTokens: ReadonlyMap<string, string>;
      ai: AiPreferences;
      privacy: PrivacySettings;
      avatarMediaId: string | null;
      /** keyId → public key. */
      encryptionKeys: ReadonlyMap<string, string>;
      retiredKeys: ReadonlySet<string>;
      /** Absent on states cached before suspension existed: not suspended. */
      suspended?: boolean;
      /** A deletion the user asked for, due at `deleteAfter` unless cancelled (absent: none). */
      deletionScheduled?: AccountDeletionScheduled['data'] | null;
      /** Set on a bot account (commands/bots.ts): its owner and its token. */
      bot?: BotFacts;
    }
  /** Deleted by its user: nothing more is decided for it. `erased` once its keys are destroyed (AccountErased). */
  | { status: 'deleted'; userId: string; messages: DeletedMessages; erased: boolean };

export const initialState: UserState = { status: 'unregistered' };

/** One message for an unknown email and a wrong password, so neither can be told apart. */
export class InvalidCredentialsError extends UnauthorizedError {
  constructor() {
    super('Invalid email or password', 'invalid_credentials');
  }
}

/** A suspended account: refused at login (after the password checked out, so it tells nothing to a guesser) and for every token. */
export class AccountSuspendedError extends DomainError {
  constructor() {
    super('account_suspended', 403, 'This account is suspended');
  }
}

/** Deleting an account takes its password, even with a valid token (a device left unlocked). */
export class WrongPasswordError extends DomainError {
  constructor() {
    super('wrong_password', 403, 'The password is wrong');
  }
}

/** Keeps only revocations whose token could still be presented. */
function withoutExpired(revoked: ReadonlyMap<string, string>, now: string): Map<string, string> {
  return new Map([...revoked].filter(([, expiresAt]) => expiresAt > now));
}

export function evolve(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'UserRegistered':
    case 'BotCreated': {
      return {
        status: 'registered',
        userId: event.data.userId,
        revokedTokens: new Map(),
        ai: {},
        privacy: DEFAULT_PRIVACY,
        avatarMediaId: null,
        encryptionKeys: new Map(),
        retiredKeys: new Set(),
        ...(event.type === 'BotCreated' ? { bot: { ownerId: event.data.ownerId, tokenId: null, tokenHash: null } } : {}),
      };
    }
    case 'ProfileUpdated': {
      if (state.status !== 'registered') return state;
      const { ai } = event.data.changes;
      return { ...state, ai: ai ? { ...state.ai, ...ai } : state.ai };
    }
    case 'PrivacySettingsChanged':
      return state.status === 'registered' ? { ...state, privacy: event.data.privacy } : state;
    case 'AvatarChanged':
      return state.status === 'registered' ? { ...state, avatarMediaId: event.data.mediaId } : state;
    case 'AvatarRemoved':
      return state.status === 'registered' ? { ...state, avatarMediaId: null } : state;
    case 'EncryptionKeyPublished':
      return state.status === 'registered'
        ? { ...state, encryptionKeys: new Map([...state.encryptionKeys, [event.data.keyId, event.data.publicKey]]) }
        : state;
    case 'EncryptionKeyRetired':
      return state.status === 'registered' ? { ...state, retiredKeys: new Set([...state.retiredKeys, event.data.keyId]) } : state;
    case 'UserLoggedIn':
      return state;
    case 'UserRegistrationAbandoned':
      return state.status === 'unregistered' ? { status: 'abandoned' } : state;
    case 'UserSuspended':
      return state.status === 'registered' ? { ...state, suspended: true } : state;
    case 'UserUnsuspended':
      return state.status === 'registered' ? { ...state, suspended: false } : state;
    case 'AccountDeletionScheduled':
      return state.status === 'registered' ? { ...state, deletionScheduled: event.data } : state;
    case 'AccountDeletionCancelled':
      return state.status === 'registered' ? { ...state, deletionScheduled: null } : state;
    case 'AccountDeleted':
      return { status: 'deleted', userId: event.data.userId, messages: event.data.messages, erased: false };
    case 'AccountErased':
      return state.status === 'deleted' ? { ...state, erased: true } : state;
    case 'BotTokenIssued':
    case 'BotTokenRevoked':
      return evolveBot(state, event);
    case 'UserLoggedOut': {
      if (state.status !== 'registered') return state;
      const revokedTokens = withoutExpired(state.revokedTokens, event.data.loggedOutAt);
      revokedTokens.set(event.data.tokenId, event.data.expiresAt);
      return { ...state, revokedTokens };
    }
    default:
      return assertNever(event);
  }
}

export function decide(command: UserCommand, state: UserState): Decision<UserEvent> {
  const now = command.metadata.now;
  switch (command.type) {
    case 'RegisterUser': {
      if (state.status === 'registered') {
        throw new ConflictError('user_exists', 'This user is already registered', { userId: state.userId });
      }
      if (state.status === 'abandoned') {
        throw new ConflictError(
          'registration_abandoned',
          'This registration took too long and its email or username was taken; register again',
        );
      }
      return [{ type: 'UserRegistered', data: { ...command.data, registeredAt: now } }];
    }
    case 'AbandonRegistration': {
      if (state.status === 'registered') throw new ConflictError('user_exists', 'This user is registered', { userId: state.userId });
      if (state.status === 'abandoned') return [];
      return [{ type: 'UserRegistrationAbandoned', data: { userId: command.data.userId, abandonedAt: now } }];
    }
    case 'LogUserIn': {
      // A bot has no password: refused as an unknown user is.
      if (state.status !== 'registered' || state.bot || !command.data.passwordVerified) throw new InvalidCredentialsError();
      if (state.suspended) throw new AccountSuspendedError();
      const { tokenId, expiresAt } = command.data.token;
      return [{ type: 'UserLoggedIn', data: { userId: state.userId, tokenId, expiresAt, loggedInAt: now } }];
    }
    case 'LogUserOut': {
      if (state.status !== 'registered') throw new UnauthorizedError();
      const { tokenId, expiresAt } = command.data.token;
      if (state.revokedTokens.has(tokenId)) return [];
      return [{ type: 'UserLoggedOut', data: { userId: state.userId, tokenId, expiresAt, loggedOutAt: now } }];
    }
    case 'UpdateProfile': {
      if (state.status !== 'registered') throw new UnauthorizedError();
      const { displayName, about, ai } = command.data.changes;
      const changes: ProfileChanges = {};
      if (displayName !== undefined) changes.displayName = displayName;
      if (about !== undefined) changes.about = about;
      const aiChanges = Object.fromEntries(
        Object.entries(ai ?? {}).filter(([key, value]) => value !== undefined && value !== state.ai[key as keyof AiPreferences]),
      ) as AiPreferences;
      if (Object.keys(aiChanges).length > 0) changes.ai = aiChanges;
      if (Object.keys(changes).length === 0) return [];
      return [{ type: 'ProfileUpdated', data: { userId: state.userId, changes, at: now } }];
    }
    case 'ChangePrivacySettings': {
      if (state.status !== 'registered') throw new UnauthorizedError();
      const defined = Object.fromEntries(Object.entries(command.data.privacy).filter(([, value]) => value !== undefined));
      const privacy: PrivacySettings = { ...state.privacy, ...defined };
      const same = (Object.keys(privacy) as Array<keyof PrivacySettings>).every((key) => privacy[key] === state.privacy[key]);
      if (same) return [];
      return [{ type: 'PrivacySettingsChanged', data: { userId: state.userId, privacy, at: now } }];
    }
    case 'SetAvatar': {
      if (state.status !== 'registered') throw new UnauthorizedError();
      if (state.avatarMediaId === command.data.mediaId) return [];
      return [{ type: 'AvatarChanged', data: { userId: state.userId, mediaId: command.data.mediaId, at: now } }];
    }
    case 'RemoveAvatar': {
      if (state.status !== 'registered') throw new UnauthorizedError();
      return state.avatarMediaId === null ? [] : [{ type: 'AvatarRemoved', data: { userId: state.userId, at: now } }];
    }
    case 'PublishEncryptionKey': {
      if (state.status !== 'registered') throw new UnauthorizedError();
      const { keyId, publicKey } = command.data;
      const existing = state.encryptionKeys.get(keyId);
      // The same key again (a retry) is no change; another key under a used id would make old messages unreadable.
      if (existing === publicKey) return [];
      if (existing !== undefined)
        throw new ConflictError('key_id_taken', `Key id ${keyId} already names another key: publish under a new id`);
      if (
        state.encryptionKeys.size - state.retiredKeys.size >= MAX_ENCRYPTION_KEYS ||
        state.encryptionKeys.size >= MAX_KEPT_ENCRYPTION_KEYS
      ) {
        throw new ConflictError(
          'encryption_keys_limit',
          `At most ${MAX_ENCRYPTION_KEYS} encryption keys in use per user (retire one), ${MAX_KEPT_ENCRYPTION_KEYS} in all`,
        );
      }
      return [{ type: 'EncryptionKeyPublished', data: { userId: state.userId, keyId, publicKey, at: now } }];
    }
    case 'RetireEncryptionKey': {
      if (state.status !== 'registered') throw new UnauthorizedError();
      const { keyId } = command.data;
      if (!state.encryptionKeys.has(keyId)) throw new NotFoundError('Encryption key');
      if (state.retiredKeys.has(keyId)) return [];
      return [{ type: 'EncryptionKeyRetired', data: { userId: state.userId, keyId, at: now } }];
    }
    case 'SuspendUser':
    case 'UnsuspendUser': {
      if (state.status !== 'registered') throw new NotFoundError('User');
      const { reason, operator } = command.data;
      if (!reason.trim()) throw new ValidationError('A suspension or its lifting needs a reason');
      if (!operator.trim()) throw new ValidationError('Name the operator');
      const suspend = command.type === 'SuspendUser';
      if ((state.suspended ?? false) === suspend) return [];
      return suspend
        ? [{ type: 'UserSuspended', data: { userId: state.userId, reason, operator, suspendedAt: now } }]
        : [{ type: 'UserUnsuspended', data: { userId: state.userId, reason, operator, unsuspendedAt: now } }];
    }
    case 'ScheduleAccountDeletion': {
      if (state.status !== 'registered') throw new UnauthorizedError();
      if (!command.data.passwordVerified) throw new WrongPasswordError();
      if (state.deletionScheduled) return [];
      const { userId, messages, deleteAfter } = command.data;
      return [{ type: 'AccountDeletionScheduled', data: { userId, messages, deleteAfter, scheduledAt: now } }];
    }
    case 'CancelAccountDeletion': {
      if (state.status !== 'registered' || !state.deletionScheduled) return [];
      return [{ type: 'AccountDeletionCancelled', data: { userId: state.userId, by: command.data.by, cancelledAt: now } }];
    }
    case 'DeleteAccount': {
      // A retried deletion finds it done and appends nothing; the shell finishes erasing.
      if (state.status === 'deleted') return [];
      if (state.status !== 'registered') throw new UnauthorizedError();
      if (!command.data.passwordVerified) throw new WrongPasswordError();
      return [{ type: 'AccountDeleted', data: { userId: state.userId, messages: command.data.messages, deletedAt: now } }];
    }
    case 'DeleteScheduledAccount': {
      if (state.status !== 'registered' || !state.deletionScheduled || state.deletionScheduled.deleteAfter > now) return [];
      return [{ type: 'AccountDeleted', data: { userId: state.userId, messages: state.deletionScheduled.messages, deletedAt: now } }];
    }
    case 'RecordAccountErased':
      return state.status === 'deleted' && !state.erased ? [{ type: 'AccountErased', data: { userId: state.userId, erasedAt: now } }] : [];
    case 'CreateBot':
    case 'IssueBotToken':
    case 'RevokeBotToken':
      return decideBot(command, state);
    default:
      return assertNever(command);
  }
}

export const userDecider: Decider<UserCommand, UserEvent, UserState> = { eventTypes: userEventTypes, initialState, evolve, decide };
