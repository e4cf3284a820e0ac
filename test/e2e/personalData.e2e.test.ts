import { existsSync, readFileSync } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import test from 'ava';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';

/** Issue 26 item 1: the log holds a user's personal fields sealed under their data key, and claims as keyed hashes. */
const EVENT_FILES = ['events.sqlite', 'events.sqlite-wal'];
const inEventLog = (dir: string, needle: string) =>
  EVENT_FILES.filter((file) => existsSync(join(dir, file)) && readFileSync(join(dir, file)).includes(Buffer.from(needle)));

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app.dispose();
});

test.serial(
  'email, username, display name, about and contact nicknames are sealed with the user data key in the log, and read back in clear',
  async (t) => {
    const tag = randomUUID().slice(0, 8);
    const [email, username, displayName, about, nickname] = [
      `sealed_${tag}@example.test`,
      `sealed_${tag}`,
      `Sealed Name ${tag}`,
      `about me ${tag}`,
      `nick ${tag}`,
    ];
    const registered = await request(app.url, 'POST', '/auth/register', {
      body: { email, username, displayName, password: 'correct horse battery' },
    });
    t.is(registered.status, 201);
    const user = registered.body.user as { id: string };
    t.like(registered.body.user, { email, username, displayName });
    const token = registered.body.accessToken as string;
    t.is((await request(app.url, 'PUT', '/api/users/profile', { token, body: { about } })).status, 200);
    const friend = await registerUser(app.url);
    const added = await request(app.url, 'POST', '/api/contacts', { token, body: { userId: friend.user.id, nickname } });
    t.is(added.status, 201);
    t.is(added.body.contact.nickname, nickname);

    const [registration] = (await app.eventStore.readStream(`user-${user.id}`)).filter((event) => event.type === 'UserRegistered');
    t.is(registration!.metadata.schemaVersion, 3);
    for (const field of ['email', 'username', 'displayName'])
      t.like((registration!.data as Record<string, unknown>)[field], { sealed: 'xchacha20poly1305-ietf', kid: `user:${user.id}` }, field);
    const profile = (await app.eventStore.readStream(`user-${user.id}`)).find((event) => event.type === 'ProfileUpdated')!;
    t.is(profile.metadata.schemaVersion, 2);
    t.like(profile.data, { changes: { about: { sealed: 'xchacha20poly1305-ietf', kid: `user:${user.id}` } } });
    const contact = (await app.eventStore.readStream(`contacts-${user.id}`)).find((event) => event.type === 'ContactAdded')!;
    t.is(contact.metadata.schemaVersion, 2);
    t.like(contact.data, { nickname: { sealed: 'xchacha20poly1305-ietf', kid: `user:${user.id}` } });

    for (const needle of [email, username, displayName, about, nickname]) t.deepEqual(inEventLog(app.storageDir, needle), [], needle);
    // Not even an unkeyed digest of the email or username names a claim stream: a dictionary could reverse it.
    for (const [kind, value] of [
      ['email', email],
      ['username', username],
    ] as const) {
      const digest = createHash('sha256').update(value).digest('hex');
      t.deepEqual(inEventLog(app.storageDir, digest), [], `${kind} digest`);
    }

    // Readers see the fields in clear: login, the profile, contacts.
    const login = await request(app.url, 'POST', '/auth/login', { body: { email, password: 'correct horse battery' } });
    t.is(login.status, 200);
    t.like(login.body.user, { id: user.id, email, username, displayName });
    t.like((await request(app.url, 'GET', '/api/users/profile', { token })).body.profile, { displayName, about });
    t.like((await request(app.url, 'GET', `/api/users/${user.id}`, { token: friend.accessToken })).body.user, { username, displayName });
    t.is((await request(app.url, 'GET', '/api/contacts', { token })).body.contacts[0].nickname, nickname);
  },
);

test.serial('the email and the username stay unique: a second registration with either is refused and writes no user', async (t) => {
  const first = await registerUser(app.url);
  const before = (await app.eventStore.readAll()).length;
  const sameEmail = await request(app.url, 'POST', '/auth/register', {
    body: { email: first.email, username: `other_${randomUUID().slice(0, 8)}`, password: 'correct horse battery' },
  });
  t.is(sameEmail.status, 409);
  t.is(sameEmail.body.error.code, 'email_taken');
  const sameUsername = await request(app.url, 'POST', '/auth/register', {
    body: { email: `other_${randomUUID().slice(0, 8)}@example.test`, username: first.user.username, password: 'correct horse battery' },
  });
  t.is(sameUsername.status, 409);
  t.is(sameUsername.body.error.code, 'username_taken');
  // A refused registration's own claims are released again; no user is written.
  const appended = (await app.eventStore.readAll()).slice(before).map((event) => event.type);
  t.false(appended.includes('UserRegistered'), appended.join());
});
