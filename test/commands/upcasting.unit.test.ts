import test from 'ava';
import { createUpcaster } from '../../commands/shared/upcasting.ts';
import { eventUpcaster } from '../../commands/upcasters.ts';

const upcaster = createUpcaster([
  { type: 'MessageSent', fromVersion: 1, upcast: (data) => ({ ...(data as object), body: { text: (data as { text: string }).text } }) },
  { type: 'MessageSent', fromVersion: 2, upcast: (data) => ({ ...(data as object), attachments: [] }) },
]);

test('an old event is lifted through every version to the latest shape on read', (t) => {
  const v1 = { type: 'MessageSent', data: { text: 'hi' }, metadata: {} as { schemaVersion?: number } };
  const upcast = upcaster.upcast(v1);
  t.deepEqual(upcast.data, { text: 'hi', body: { text: 'hi' }, attachments: [] });
  t.is(upcast.metadata.schemaVersion, 3);
  t.deepEqual(v1.data, { text: 'hi' }, 'the stored event is not rewritten');
});

test('an event already at the latest version is returned as is', (t) => {
  const v3 = { type: 'MessageSent', data: { body: { text: 'hi' }, attachments: [] }, metadata: { schemaVersion: 3 } };
  t.is(upcaster.upcast(v3), v3);
  t.is(upcaster.latestVersion('MessageSent'), 3);
  t.is(upcaster.latestVersion('UserRegistered'), 1, 'an event with no upcaster is at version 1');
});

test('UserRegistered v1 (hashed as typed) is read with the legacy bcrypt scheme; v3 is left alone', (t) => {
  const v1 = { type: 'UserRegistered', data: { userId: 'u', passwordHash: 'h' }, metadata: {} as { schemaVersion?: number } };
  const upcast = eventUpcaster.upcast(v1);
  t.deepEqual(upcast.data, { userId: 'u', passwordHash: 'h', passwordScheme: 'bcrypt' });
  t.is(upcast.metadata.schemaVersion, 3);
  t.is(eventUpcaster.latestVersion('UserRegistered'), 3);
  const v3 = {
    type: 'UserRegistered',
    data: { userId: 'u', passwordHash: 'h', passwordScheme: 'bcrypt-nfc' },
    metadata: { schemaVersion: 3 },
  };
  t.is(eventUpcaster.upcast(v3), v3);
});

test('personal fields written in clear (UserRegistered v2, ProfileUpdated v1, ContactAdded/Renamed v1) read as { plain }, never rewritten', (t) => {
  const registered = {
    type: 'UserRegistered',
    data: { userId: 'u', email: 'a@example.test', username: 'a', displayName: 'A', passwordHash: 'h', passwordScheme: 'bcrypt-nfc' },
    metadata: { schemaVersion: 2 },
  };
  t.like(eventUpcaster.upcast(registered), {
    data: { email: { plain: 'a@example.test' }, username: { plain: 'a' }, displayName: { plain: 'A' }, passwordHash: 'h' },
    metadata: { schemaVersion: 3 },
  });
  t.is(registered.data.email, 'a@example.test', 'the stored event is not rewritten');
  const profile = { type: 'ProfileUpdated', data: { userId: 'u', changes: { about: 'hi', ai: { language: 'en' } } }, metadata: {} };
  t.deepEqual(eventUpcaster.upcast(profile).data, { userId: 'u', changes: { about: { plain: 'hi' }, ai: { language: 'en' } } });
  const renamed = { type: 'ContactRenamed', data: { ownerId: 'o', userId: 'u', nickname: null }, metadata: {} };
  t.deepEqual(eventUpcaster.upcast(renamed).data, { ownerId: 'o', userId: 'u', nickname: null });
  const added = { type: 'ContactAdded', data: { ownerId: 'o', userId: 'u', nickname: 'Mum' }, metadata: {} };
  t.deepEqual(eventUpcaster.upcast(added).data, { ownerId: 'o', userId: 'u', nickname: { plain: 'Mum' } });
});

test('a v1 MessageSent or MessageEdited (text in clear) reads as v2 with the text as { plain }, unchanged; a v2 sealed text is left as stored', (t) => {
  const v1 = {
    type: 'MessageSent',
    data: { messageId: 'm1', content: { kind: 'text', text: 'as it was' } },
    metadata: {} as { schemaVersion?: number },
  };
  t.deepEqual(eventUpcaster.upcast(v1), {
    ...v1,
    data: { messageId: 'm1', content: { kind: 'text', text: { plain: 'as it was' } } },
    metadata: { schemaVersion: 2 },
  });
  t.deepEqual(v1.data.content, { kind: 'text', text: 'as it was' }, 'the stored event is not rewritten');
  const edited = {
    type: 'MessageEdited',
    data: { messageId: 'm1', content: { kind: 'text', text: 'v1 edit' } },
    metadata: { schemaVersion: 1 },
  };
  t.like(eventUpcaster.upcast(edited), { data: { content: { text: { plain: 'v1 edit' } } }, metadata: { schemaVersion: 2 } });
  const encrypted = { type: 'MessageSent', data: { content: { kind: 'encrypted', ciphertext: 'x' } }, metadata: {} };
  t.deepEqual(eventUpcaster.upcast(encrypted).data, encrypted.data);
  const sealed = {
    type: 'MessageSent',
    data: { content: { kind: 'text', text: { sealed: 'xchacha20poly1305-ietf', kid: 'message:m1', nonce: 'n', ct: 'c' } } },
    metadata: { schemaVersion: 2 },
  };
  t.is(eventUpcaster.upcast(sealed), sealed);
  t.is(eventUpcaster.latestVersion('MessageSent'), 2);
  t.is(eventUpcaster.latestVersion('MessageEdited'), 2);
});
