import { ConflictError, UnauthorizedError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Event } from './shared/events.ts';

/** The user aggregate: registration and the life of access tokens. Stream: `user-<userId>`. */
export const userStream = (userId: string) => `user-${userId}`;

export type UserRegistered = Event<'UserRegistered', {
  userId: string;
  email: string;
  username: string;
  displayName: string;
  passwordHash: string;
  registeredAt: string;
}>;
export type UserLoggedIn = Event<'UserLoggedIn', { userId: string; tokenId: string; expiresAt: string; loggedInAt: string }>;
export type UserLoggedOut = Event<'UserLoggedOut', { userId: string; tokenId: string; expiresAt: string; loggedOutAt: string }>;
export type UserEvent = UserRegistered | UserLoggedIn | UserLoggedOut;
export const userEventTypes = ['UserRegistered', 'UserLoggedIn', 'UserLoggedOut'] as const satisfies readonly UserEvent['type'][];

/** A freshly issued access token, recorded so it can be revoked. */
export interface IssuedToken {
  tokenId: string;
  expiresAt: string;
}

/** Registration records the user only; the first token is recorded by a LogUserIn right after. */
export type RegisterUser = Command<'RegisterUser', {
  userId: string;
  email: string;
  username: string;
  displayName: string;
  passwordHash: string;
}>;
/** The shell checks the password against the stored hash (bcrypt) and reports the outcome here. */
export type LogUserIn = Command<'LogUserIn', { userId: string; passwordVerified: boolean; token: IssuedToken }>;
export type LogUserOut = Command<'LogUserOut', { userId: string; token: IssuedToken }>;
export type UserCommand = RegisterUser | LogUserIn | LogUserOut;

export type UserState =
  | { status: 'unregistered' }
  | { status: 'registered'; userId: string; email: string; username: string; revokedTokens: ReadonlyMap<string, string> };

export const initialState: UserState = { status: 'unregistered' };

/** One message for an unknown email and a wrong password, so neither can be told apart. */
export class InvalidCredentialsError extends UnauthorizedError {
  constructor() {
    super('Invalid email or password', 'invalid_credentials');
  }
}

/** Keeps only revocations whose token could still be presented. */
function withoutExpired(revoked: ReadonlyMap<string, string>, now: string): Map<string, string> {
  return new Map([...revoked].filter(([, expiresAt]) => expiresAt > now));
}

export function evolve(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'UserRegistered': {
      const { userId, email, username } = event.data;
      return { status: 'registered', userId, email, username, revokedTokens: new Map() };
    }
    case 'UserLoggedIn':
      return state;
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

export function decide(command: UserCommand, state: UserState): UserEvent[] {
  const now = command.metadata.now;
  switch (command.type) {
    case 'RegisterUser': {
      if (state.status === 'registered') {
        throw new ConflictError('user_exists', 'This user is already registered', { userId: state.userId });
      }
      return [{ type: 'UserRegistered', data: { ...command.data, registeredAt: now } }];
    }
    case 'LogUserIn': {
      if (state.status !== 'registered' || !command.data.passwordVerified) throw new InvalidCredentialsError();
      const { tokenId, expiresAt } = command.data.token;
      return [{ type: 'UserLoggedIn', data: { userId: state.userId, tokenId, expiresAt, loggedInAt: now } }];
    }
    case 'LogUserOut': {
      if (state.status !== 'registered') throw new UnauthorizedError();
      const { tokenId, expiresAt } = command.data.token;
      if (state.revokedTokens.has(tokenId)) return [];
      return [{ type: 'UserLoggedOut', data: { userId: state.userId, tokenId, expiresAt, loggedOutAt: now } }];
    }
    default:
      return assertNever(command);
  }
}

export const userDecider: Decider<UserCommand, UserEvent, UserState> = { initialState, evolve, decide };
