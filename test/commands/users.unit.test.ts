import test from 'ava';
import { ConflictError, NotFoundError, UnauthorizedError, ValidationError } from '../../commands/shared/errors.ts';
import { AccountSuspendedError, InvalidCredentialsError, userDecider, WrongPasswordError, type UserEvent } from '../../commands/users.ts';
import { metadata, spec } from '../helpers/spec.ts';

const now = '2026-01-01T00:00:00.000Z';
const token = { tokenId: 'token-1', expiresAt: '2026-01-01T02:00:00.000Z' };
const registered: UserEvent = {
  type: 'UserRegistered',
  data: {
    userId: 'u1',
    email: { plain: 'ada@example.test' },
    username: { plain: 'ada' },
    displayName: { plain: 'Ada' },
    passwordHash: '$2b$hash',
    passwordScheme: 'bcrypt-nfc',
    registeredAt: now,
  },
};
const users = spec(userDecider);

test('registering a new user records the registration', (t) => {
  users
    .given([])
    .when({
      type: 'RegisterUser',
      data: {
        userId: 'u1',
        email: { plain: 'ada@example.test' },
        username: { plain: 'ada' },
        displayName: { plain: 'Ada' },
        passwordHash: '$2b$hash',
        passwordScheme: 'bcrypt-nfc',
      },
      metadata: metadata({ now }),
    })
    .then(t, [registered]);
});

test('registering an already registered user is a conflict', (t) => {
  users
    .given([registered])
    .when({
      type: 'RegisterUser',
      data: {
        userId: 'u1',
        email: { plain: 'x@example.test' },
        username: { plain: 'x' },
        displayName: { plain: 'X' },
        passwordHash: 'h',
        passwordScheme: 'bcrypt-nfc',
      },
      metadata: metadata(),
    })
    .thenThrows(t, ConflictError, 'user_exists');
});

test('logging in with a verified password records the login with its token', (t) => {
  users
    .given([registered])
    .when({ type: 'LogUserIn', data: { userId: 'u1', passwordVerified: true, token }, metadata: metadata({ now }) })
    .then(t, [{ type: 'UserLoggedIn', data: { userId: 'u1', tokenId: 'token-1', expiresAt: token.expiresAt, loggedInAt: now } }]);
});

test('logging in with a wrong password fails with invalid credentials', (t) => {
  users
    .given([registered])
    .when({ type: 'LogUserIn', data: { userId: 'u1', passwordVerified: false, token }, metadata: metadata() })
    .thenThrows(t, InvalidCredentialsError, 'invalid_credentials');
});

test('logging in to an unknown user fails with the same invalid credentials', (t) => {
  users
    .given([])
    .when({ type: 'LogUserIn', data: { userId: 'u1', passwordVerified: true, token }, metadata: metadata() })
    .thenThrows(t, InvalidCredentialsError, 'invalid_credentials');
});

test('logging out revokes the token', (t) => {
  users
    .given([registered])
    .when({ type: 'LogUserOut', data: { userId: 'u1', token }, metadata: metadata({ now }) })
    .then(t, [{ type: 'UserLoggedOut', data: { userId: 'u1', tokenId: 'token-1', expiresAt: token.expiresAt, loggedOutAt: now } }]);
});

test('logging out twice with one token records one revocation', (t) => {
  users
    .given([
      registered,
      { type: 'UserLoggedOut', data: { userId: 'u1', tokenId: 'token-1', expiresAt: token.expiresAt, loggedOutAt: now } },
    ])
    .when({ type: 'LogUserOut', data: { userId: 'u1', token }, metadata: metadata() })
    .then(t, []);
});

test('logging out an unknown user is unauthorized', (t) => {
  users
    .given([])
    .when({ type: 'LogUserOut', data: { userId: 'u1', token }, metadata: metadata() })
    .thenThrows(t, UnauthorizedError);
});

test('evolve forgets revocations of tokens that have expired', (t) => {
  const history: UserEvent[] = [
    registered,
    { type: 'UserLoggedOut', data: { userId: 'u1', tokenId: 'old', expiresAt: '2026-01-01T01:00:00.000Z', loggedOutAt: now } },
    {
      type: 'UserLoggedOut',
      data: { userId: 'u1', tokenId: 'new', expiresAt: '2026-01-01T09:00:00.000Z', loggedOutAt: '2026-01-01T05:00:00.000Z' },
    },
  ];
  const state = history.reduce(userDecider.evolve, userDecider.initialState);
  t.is(state.status, 'registered');
  if (state.status === 'registered') t.deepEqual([...state.revokedTokens.keys()], ['new']);
});

const abandoned: UserEvent = { type: 'UserRegistrationAbandoned', data: { userId: 'u1', abandonedAt: now } };
const abandon = { type: 'AbandonRegistration' as const, data: { userId: 'u1' }, metadata: metadata({ now }) };

test('a registration that has not completed can be voided, once', (t) => {
  users.given([]).when(abandon).then(t, [abandoned]);
  users.given([abandoned]).when(abandon).then(t, []);
});

test('a registered user cannot be voided', (t) => {
  users.given([registered]).when(abandon).thenThrows(t, ConflictError, 'user_exists');
});

test('a voided registration can no longer complete: its identity claims were taken over', (t) => {
  users
    .given([abandoned])
    .when({
      type: 'RegisterUser',
      data: {
        userId: 'u1',
        email: { plain: 'ada@example.test' },
        username: { plain: 'ada' },
        displayName: { plain: 'Ada' },
        passwordHash: 'h',
        passwordScheme: 'bcrypt-nfc',
      },
      metadata: metadata(),
    })
    .thenThrows(t, ConflictError, 'registration_abandoned');
});

const KEY_A = 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=';
const KEY_B = '3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=';
const published = (keyId: string, publicKey: string): UserEvent => ({
  type: 'EncryptionKeyPublished',
  data: { userId: 'u1', keyId, publicKey, at: now },
});

test('publishing an encryption key records it; the same key under the same id again records nothing', (t) => {
  users
    .given([registered])
    .when({ type: 'PublishEncryptionKey', data: { userId: 'u1', keyId: 'k1', publicKey: KEY_A }, metadata: metadata({ now }) })
    .then(t, [published('k1', KEY_A)]);
  users
    .given([registered, published('k1', KEY_A)])
    .when({ type: 'PublishEncryptionKey', data: { userId: 'u1', keyId: 'k1', publicKey: KEY_A }, metadata: metadata() })
    .then(t, []);
});

test('a rotation adds a key under a new id; another key under a used id is refused, so old messages stay readable', (t) => {
  users
    .given([registered, published('k1', KEY_A)])
    .when({ type: 'PublishEncryptionKey', data: { userId: 'u1', keyId: 'k2', publicKey: KEY_B }, metadata: metadata({ now }) })
    .then(t, [published('k2', KEY_B)]);
  users
    .given([registered, published('k1', KEY_A)])
    .when({ type: 'PublishEncryptionKey', data: { userId: 'u1', keyId: 'k1', publicKey: KEY_B }, metadata: metadata() })
    .thenThrows(t, ConflictError, 'key_id_taken');
});

test('at most 20 keys are in use per user; retiring one makes room for another', (t) => {
  const twenty = Array.from({ length: 20 }, (_, n) => published(`k${n}`, KEY_A));
  users
    .given([registered, ...twenty])
    .when({ type: 'PublishEncryptionKey', data: { userId: 'u1', keyId: 'k20', publicKey: KEY_B }, metadata: metadata() })
    .thenThrows(t, ConflictError, 'encryption_keys_limit');
  const retired: UserEvent = { type: 'EncryptionKeyRetired', data: { userId: 'u1', keyId: 'k0', at: now } };
  users
    .given([registered, ...twenty, retired])
    .when({ type: 'PublishEncryptionKey', data: { userId: 'u1', keyId: 'k20', publicKey: KEY_B }, metadata: metadata({ now }) })
    .then(t, [published('k20', KEY_B)]);
});

test('retiring a key records it once; an unknown key is not found', (t) => {
  const retired: UserEvent = { type: 'EncryptionKeyRetired', data: { userId: 'u1', keyId: 'k1', at: now } };
  users
    .given([registered, published('k1', KEY_A)])
    .when({ type: 'RetireEncryptionKey', data: { userId: 'u1', keyId: 'k1' }, metadata: metadata({ now }) })
    .then(t, [retired]);
  users
    .given([registered, published('k1', KEY_A), retired])
    .when({ type: 'RetireEncryptionKey', data: { userId: 'u1', keyId: 'k1' }, metadata: metadata() })
    .then(t, []);
  users
    .given([registered])
    .when({ type: 'RetireEncryptionKey', data: { userId: 'u1', keyId: 'k9' }, metadata: metadata() })
    .thenThrows(t, NotFoundError, 'not_found');
});

test('only a registered user publishes keys', (t) => {
  users
    .given([])
    .when({ type: 'PublishEncryptionKey', data: { userId: 'u1', keyId: 'k1', publicKey: KEY_A }, metadata: metadata() })
    .thenThrows(t, UnauthorizedError, 'unauthorized');
});

const suspended: UserEvent = { type: 'UserSuspended', data: { userId: 'u1', reason: 'spam', operator: 'ops-ana', suspendedAt: now } };
const byOperator = metadata({ now, userId: 'operator:ops-ana' });

test('an operator suspends a registered user, with the reason and who did it; suspending again records nothing', (t) => {
  users
    .given([registered])
    .when({ type: 'SuspendUser', data: { userId: 'u1', reason: 'spam', operator: 'ops-ana' }, metadata: byOperator })
    .then(t, [suspended]);
  users
    .given([registered, suspended])
    .when({ type: 'SuspendUser', data: { userId: 'u1', reason: 'again', operator: 'ops-ana' }, metadata: byOperator })
    .then(t, []);
});

test('a suspended user is refused at login with account_suspended (403), but only once the password checked out', (t) => {
  users
    .given([registered, suspended])
    .when({ type: 'LogUserIn', data: { userId: 'u1', passwordVerified: true, token }, metadata: metadata() })
    .thenThrows(t, AccountSuspendedError, 'account_suspended');
  users
    .given([registered, suspended])
    .when({ type: 'LogUserIn', data: { userId: 'u1', passwordVerified: false, token }, metadata: metadata() })
    .thenThrows(t, InvalidCredentialsError, 'invalid_credentials');
  t.is(new AccountSuspendedError().status, 403);
});

test('unsuspending records the reason and lets the user log in again; unsuspending a user who is not suspended records nothing', (t) => {
  const unsuspended: UserEvent = {
    type: 'UserUnsuspended',
    data: { userId: 'u1', reason: 'appeal upheld', operator: 'ops-ana', unsuspendedAt: now },
  };
  users
    .given([registered, suspended])
    .when({ type: 'UnsuspendUser', data: { userId: 'u1', reason: 'appeal upheld', operator: 'ops-ana' }, metadata: byOperator })
    .then(t, [unsuspended]);
  users
    .given([registered, suspended, unsuspended])
    .when({ type: 'LogUserIn', data: { userId: 'u1', passwordVerified: true, token }, metadata: metadata({ now }) })
    .then(t, [{ type: 'UserLoggedIn', data: { userId: 'u1', tokenId: 'token-1', expiresAt: token.expiresAt, loggedInAt: now } }]);
  users
    .given([registered])
    .when({ type: 'UnsuspendUser', data: { userId: 'u1', reason: 'x', operator: 'ops-ana' }, metadata: byOperator })
    .then(t, []);
});

test('suspending needs a reason and an operator, and a registered user', (t) => {
  users
    .given([registered])
    .when({ type: 'SuspendUser', data: { userId: 'u1', reason: ' ', operator: 'ops-ana' }, metadata: byOperator })
    .thenThrows(t, ValidationError, 'validation_failed');
  users
    .given([registered])
    .when({ type: 'SuspendUser', data: { userId: 'u1', reason: 'spam', operator: '' }, metadata: byOperator })
    .thenThrows(t, ValidationError, 'validation_failed');
  users
    .given([])
    .when({ type: 'SuspendUser', data: { userId: 'u1', reason: 'spam', operator: 'ops-ana' }, metadata: byOperator })
    .thenThrows(t, NotFoundError, 'not_found');
});

test('deleting an account takes the right password; a retried deletion appends nothing; a deleted account no longer logs in', (t) => {
  users
    .given([registered])
    .when({ type: 'DeleteAccount', data: { userId: 'u1', passwordVerified: false, messages: 'keep' }, metadata: metadata({ now }) })
    .thenThrows(t, WrongPasswordError, 'wrong_password');
  const deleted: UserEvent = { type: 'AccountDeleted', data: { userId: 'u1', messages: 'erase', deletedAt: now } };
  users
    .given([registered])
    .when({ type: 'DeleteAccount', data: { userId: 'u1', passwordVerified: true, messages: 'erase' }, metadata: metadata({ now }) })
    .then(t, [deleted]);
  users
    .given([registered, deleted])
    .when({ type: 'DeleteAccount', data: { userId: 'u1', passwordVerified: true, messages: 'erase' }, metadata: metadata({ now }) })
    .then(t, []);
  users
    .given([registered, deleted])
    .when({ type: 'LogUserIn', data: { userId: 'u1', passwordVerified: true, token }, metadata: metadata({ now }) })
    .thenThrows(t, InvalidCredentialsError);
  users
    .given([registered, deleted])
    .when({ type: 'RecordAccountErased', data: { userId: 'u1' }, metadata: metadata({ now }) })
    .then(t, [{ type: 'AccountErased', data: { userId: 'u1', erasedAt: now } }]);
});

test('a scheduled deletion happens only once due and only if not called off', (t) => {
  const later = '2026-01-01T01:00:00.000Z';
  const scheduled: UserEvent = {
    type: 'AccountDeletionScheduled',
    data: { userId: 'u1', messages: 'keep', deleteAfter: later, scheduledAt: now },
  };
  users
    .given([registered])
    .when({
      type: 'ScheduleAccountDeletion',
      data: { userId: 'u1', passwordVerified: true, messages: 'keep', deleteAfter: later },
      metadata: metadata({ now }),
    })
    .then(t, [scheduled]);
  users
    .given([registered, scheduled])
    .when({ type: 'DeleteScheduledAccount', data: { userId: 'u1' }, metadata: metadata({ now }) })
    .then(t, []);
  users
    .given([registered, scheduled])
    .when({ type: 'DeleteScheduledAccount', data: { userId: 'u1' }, metadata: metadata({ now: later }) })
    .then(t, [{ type: 'AccountDeleted', data: { userId: 'u1', messages: 'keep', deletedAt: later } }]);
  const cancelled: UserEvent = { type: 'AccountDeletionCancelled', data: { userId: 'u1', by: 'login', cancelledAt: now } };
  users
    .given([registered, scheduled])
    .when({ type: 'CancelAccountDeletion', data: { userId: 'u1', by: 'login' }, metadata: metadata({ now }) })
    .then(t, [cancelled]);
  users
    .given([registered, scheduled, cancelled])
    .when({ type: 'DeleteScheduledAccount', data: { userId: 'u1' }, metadata: metadata({ now: later }) })
    .then(t, []);
});
