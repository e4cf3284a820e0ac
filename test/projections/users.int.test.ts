import test from 'ava';
import type { UserEvent } from '../../commands/users.ts';
import { usersProjector, type UserDoc } from '../../projections/users.ts';
import { documents, freshReadStore, project, recorded } from '../helpers/projection.ts';
import { incrementalThenRebuilt } from '../helpers/projection.ts';

const registered: UserEvent = {
  type: 'UserRegistered',
  data: {
    userId: 'u1',
    email: { plain: 'ada@example.test' },
    username: { plain: 'ada' },
    displayName: { plain: 'Ada' },
    passwordHash: 'hash',
    passwordScheme: 'bcrypt-nfc',
    registeredAt: '2026-01-01T00:00:00.000Z',
  },
};
const loggedIn: UserEvent = {
  type: 'UserLoggedIn',
  data: { userId: 'u1', tokenId: 't1', expiresAt: '2026-01-01T02:00:00.000Z', loggedInAt: '2026-01-01T00:05:00.000Z' },
};
const loggedOut: UserEvent = {
  type: 'UserLoggedOut',
  data: { userId: 'u1', tokenId: 't1', expiresAt: '2026-01-01T02:00:00.000Z', loggedOutAt: '2026-01-01T00:10:00.000Z' },
};

test('given a registration, a login and a logout, the user document holds the profile and the revoked token', async (t) => {
  const store = await freshReadStore(usersProjector);
  const history = [recorded(registered), recorded(loggedIn), recorded(loggedOut)];
  await project(store, usersProjector, history);
  const user = await store.collection<UserDoc>('users').findOne({ _id: 'u1' });
  t.like(user, {
    email: 'ada@example.test',
    username: 'ada',
    displayName: 'Ada',
    lastLoginAt: '2026-01-01T00:05:00.000Z',
    revokedTokens: [{ tokenId: 't1', expiresAt: '2026-01-01T02:00:00.000Z' }],
    _position: history[2]!.position,
  });
});

test('the same events applied twice change nothing', async (t) => {
  const store = await freshReadStore(usersProjector);
  const history = [recorded(registered), recorded(loggedIn), recorded(loggedOut)];
  await project(store, usersProjector, history);
  const once = await documents(store, 'users');
  await project(store, usersProjector, history);
  await project(store, usersProjector, [history[2]!]);
  t.deepEqual(await documents(store, 'users'), once);
});

test("the operator's rebuild gives the same documents as the incremental run", async (t) => {
  const { incremental, rebuilt } = await incrementalThenRebuilt([usersProjector], [registered, loggedIn, loggedOut], ['users']);
  t.is(incremental.users!.length, 1);
  t.deepEqual(rebuilt.users, incremental.users);
});

test('two users with one email cannot both land in the read model', async (t) => {
  const store = await freshReadStore(usersProjector);
  await project(store, usersProjector, [recorded(registered)]);
  const twin = { ...registered, data: { ...registered.data, userId: 'u2', username: 'other' } };
  await t.throwsAsync(project(store, usersProjector, [recorded(twin)]), { message: /Duplicate key/ });
});

test('a deleted account has no document; a rebuild skips registrations whose data key is gone (sealed), so deleted accounts never collide in the unique indexes', async (t) => {
  const sealed = { sealed: 'xchacha20poly1305-ietf' as const, kid: 'user:u1', nonce: 'n', ct: 'c' };
  const erasedRegistration: UserEvent = {
    ...registered,
    data: { ...registered.data, email: sealed, username: sealed, displayName: sealed },
  };
  const erasedTwin: UserEvent = { ...erasedRegistration, data: { ...erasedRegistration.data, userId: 'u2' } };
  const scheduled: UserEvent = {
    type: 'AccountDeletionScheduled',
    data: { userId: 'u1', messages: 'keep', deleteAfter: '2026-01-02T00:00:00.000Z', scheduledAt: '2026-01-01T00:00:00.000Z' },
  };
  const deleted: UserEvent = { type: 'AccountDeleted', data: { userId: 'u1', messages: 'keep', deletedAt: '2026-01-02T00:00:00.000Z' } };
  const erased: UserEvent = { type: 'AccountErased', data: { userId: 'u1', erasedAt: '2026-01-02T00:00:01.000Z' } };

  const store = await freshReadStore(usersProjector);
  await project(store, usersProjector, [recorded(registered), recorded(scheduled)]);
  t.like(await store.collection('account_deletions').findOne({ _id: 'u1' }), {
    status: 'scheduled',
    deleteAfter: '2026-01-02T00:00:00.000Z',
  });
  await project(store, usersProjector, [recorded(deleted)]);
  t.is(await store.collection('users').findOne({ _id: 'u1' }), null);
  t.like(await store.collection('account_deletions').findOne({ _id: 'u1' }), { status: 'deleting' });
  await project(store, usersProjector, [recorded(erased)]);
  t.deepEqual(await documents(store, 'account_deletions'), []);

  const rebuilt = await freshReadStore(usersProjector);
  await project(rebuilt, usersProjector, [recorded(erasedRegistration), recorded(erasedTwin), recorded(deleted)]);
  t.deepEqual(await documents(rebuilt, 'users'), []);
});
