import type { UserEvent } from '../commands/users.ts';
import { userEventTypes } from '../commands/users.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import type { ProjectedDoc, Projector } from '../src/projection/projector.ts';

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
  createdAt: string;
  lastLoginAt: string | null;
  revokedTokens: RevokedToken[];
}

export interface PublicUser {
  id: string;
  email: string;
  username: string;
  displayName: string;
  createdAt: string;
}

export const toPublicUser = ({ _id, email, username, displayName, createdAt }: UserDoc): PublicUser =>
  ({ id: _id, email, username, displayName, createdAt });

export const USERS = 'users';

export const usersProjector: Projector = {
  name: USERS,
  collections: {
    [USERS]: [
      { key: { email: 1 }, unique: true },
      { key: { username: 1 }, unique: true },
    ],
  },
  handles: new Set(userEventTypes),
  async apply(recorded: RecordedEvent, context) {
    const event = recorded as unknown as UserEvent;
    switch (event.type) {
      case 'UserRegistered': {
        const { userId, email, username, displayName, passwordHash, registeredAt } = event.data;
        return context.project<UserDoc>(USERS, userId, recorded, (doc) => doc ?? {
          _id: userId, email, username, displayName, passwordHash, createdAt: registeredAt, lastLoginAt: null, revokedTokens: [],
        });
      }
      case 'UserLoggedIn':
        return context.project<UserDoc>(USERS, event.data.userId, recorded, (doc) =>
          doc && { ...doc, lastLoginAt: event.data.loggedInAt });
      case 'UserLoggedOut': {
        const { userId, tokenId, expiresAt, loggedOutAt } = event.data;
        return context.project<UserDoc>(USERS, userId, recorded, (doc) => doc && {
          ...doc,
          revokedTokens: [...doc.revokedTokens.filter((token) => token.expiresAt > loggedOutAt), { tokenId, expiresAt }],
        });
      }
    }
  },
};
