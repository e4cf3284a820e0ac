import { existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import test from 'ava';
import { request, startTestApp, testEnv, type TestApp } from '../helpers/app.ts';
import { execScript } from '../helpers/scripts.ts';
import { connect } from '../helpers/socket.ts';

/** Issue 26 item 2: DELETE /api/users/me. */
const FILES = ['events.sqlite', 'read.sqlite'].flatMap((file) => [file, `${file}-wal`]);
const filesHolding = (dir: string, needle: string) =>
  FILES.filter((file) => existsSync(join(dir, file)) && readFileSync(join(dir, file)).includes(Buffer.from(needle)));

async function eventually<T>(probe: () => T | Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const PASSWORD = 'correct horse battery';
let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app.dispose();
});

async function person(label: string) {
  const tag = `${label}_${randomUUID().slice(0, 8)}`;
  const identity = { email: `${tag}@example.test`, username: tag, displayName: `Name ${tag}`, password: PASSWORD };
  const registered = await request(app.url, 'POST', '/auth/register', { body: identity });
  if (registered.status !== 201) throw new Error(JSON.stringify(registered.body));
  return { ...identity, id: registered.body.user.id as string, token: registered.body.accessToken as string };
}

const userEvents = async (userId: string) => (await app.eventStore.readStream(`user-${userId}`)).map((event) => event.type);

test.serial(
  'every denial answers 4xx with nothing appended: no token, a wrong password, a password that is not the caller’s',
  async (t) => {
    const [a, b] = [await person('deny_a'), await person('deny_b')];
    const [aBefore, bBefore] = [await userEvents(a.id), await userEvents(b.id)];
    const noToken = await request(app.url, 'DELETE', '/api/users/me', { body: { password: PASSWORD } });
    t.is(noToken.status, 401);
    t.is(noToken.body.error.code, 'missing_token');
    const wrong = await request(app.url, 'DELETE', '/api/users/me', { token: a.token, body: { password: 'not the password' } });
    t.is(wrong.status, 403);
    t.is(wrong.body.error.code, 'wrong_password');
    const missing = await request(app.url, 'DELETE', '/api/users/me', { token: a.token, body: {} });
    t.is(missing.status, 400);
    // Someone else's account: there is no route naming another user, and a token only ever deletes its own user.
    const other = await request(app.url, 'DELETE', `/api/users/${b.id}`, { token: a.token, body: { password: PASSWORD } });
    t.true(other.status === 404 || other.status === 405, String(other.status));
    t.deepEqual(await userEvents(a.id), aBefore);
    t.deepEqual(await userEvents(b.id), bBefore);
    t.is((await request(app.url, 'GET', '/api/users/profile', { token: b.token })).status, 200);
  },
);

test.serial(
  'deleting an account: sockets closed, token refused, profile and contacts gone, messages kept from "Deleted account", the username and email free again',
  async (t) => {
    const [gone, friend] = [await person('gone'), await person('friend')];
    const about = `about ${randomUUID()}`;
    await request(app.url, 'PUT', '/api/users/profile', { token: gone.token, body: { about } });
    await request(app.url, 'POST', '/api/contacts', { token: gone.token, body: { userId: friend.id, nickname: 'pal' } });
    const text = `kept text ${randomUUID()}`;
    const sent = await request(app.url, 'POST', '/api/messages', { token: gone.token, body: { recipientId: friend.id, text } });
    t.is(sent.status, 201);
    const socket = await connect(app.wsUrl, gone.token);

    const deleted = await request(app.url, 'DELETE', '/api/users/me', { token: gone.token, body: { password: PASSWORD } });
    t.is(deleted.status, 204);
    const types = await userEvents(gone.id);
    t.deepEqual(types.slice(-2), ['AccountDeleted', 'AccountErased'], 'the audit record first, then that the keys are gone');
    const [record] = (await app.eventStore.readStream(`user-${gone.id}`)).filter((event) => event.type === 'AccountDeleted');
    t.like(record, { data: { userId: gone.id, messages: 'keep' }, metadata: { userId: gone.id } });
    t.false(JSON.stringify(record!.data).includes(gone.email), 'the record says whose and when, never what');

    t.like(await socket.closed, { code: 4401, reason: 'account_deleted' });
    t.is((await request(app.url, 'GET', '/api/users/profile', { token: gone.token })).status, 401);
    t.is((await request(app.url, 'POST', '/auth/login', { body: { email: gone.email, password: PASSWORD } })).status, 401);
    t.is((await request(app.url, 'GET', `/api/users/${gone.id}`, { token: friend.token })).status, 404);
    t.deepEqual((await request(app.url, 'GET', `/api/users/search?q=${gone.username}`, { token: friend.token })).body.users, []);

    // The friend keeps the message, from "Deleted account".
    const page = await request(app.url, 'GET', `/api/messages?with=${gone.id}`, { token: friend.token });
    t.like(page.body.messages[0], { senderId: gone.id, content: { text } });
    const list = await request(app.url, 'GET', '/api/conversations', { token: friend.token });
    t.like(
      list.body.conversations.find((c: any) => c.peer?.id === gone.id),
      { peer: { displayName: 'Deleted account' } },
    );

    // Free again: the same username and email register a new account.
    const again = await request(app.url, 'POST', '/auth/register', {
      body: { email: gone.email, username: gone.username, password: PASSWORD },
    });
    t.is(again.status, 201);
    t.not(again.body.user.id, gone.id);

    // Nothing personal of the deleted account is left in the log or the read store (the new account has its own).
    const traces = await eventually(
      () => [gone.displayName, about].flatMap((needle) => filesHolding(app.storageDir, needle)),
      (found) => found.length === 0,
    );
    t.deepEqual(traces, []);
    t.deepEqual(
      filesHolding(app.storageDir, gone.email).filter((file) => file.startsWith('events')),
      [],
    );
  },
);

test.serial(
  '?messages=erase shreds every message they sent: no username, email, display name, about or text in events.sqlite, read.sqlite or their WALs; audit verify passes',
  async (t) => {
    const [gone, friend] = [await person('erase'), await person('reader')];
    const about = `about ${randomUUID()}`;
    await request(app.url, 'PUT', '/api/users/profile', { token: gone.token, body: { about } });
    const texts = [`first ${randomUUID()}`, `second ${randomUUID()}`];
    for (const text of texts)
      await request(app.url, 'POST', '/api/messages', { token: gone.token, body: { recipientId: friend.id, text } });
    const reply = `reply ${randomUUID()}`;
    await request(app.url, 'POST', '/api/messages', { token: friend.token, body: { recipientId: gone.id, text: reply } });

    const deleted = await request(app.url, 'DELETE', '/api/users/me?messages=erase', { token: gone.token, body: { password: PASSWORD } });
    t.is(deleted.status, 204);
    const [record] = (await app.eventStore.readStream(`user-${gone.id}`)).filter((event) => event.type === 'AccountDeleted');
    t.like(record, { data: { messages: 'erase' } });

    const page = await request(app.url, 'GET', `/api/messages?with=${gone.id}`, { token: friend.token });
    const theirs = page.body.messages.filter((message: any) => message.senderId === gone.id);
    t.is(theirs.length, 2);
    t.true(
      theirs.every((message: any) => message.content === null),
      'erased for the recipient',
    );
    t.like(
      page.body.messages.find((message: any) => message.senderId === friend.id),
      { content: { text: reply } },
      "the friend's own reply stays",
    );

    const needles = [gone.username, gone.email, gone.displayName, about, ...texts];
    const traces = await eventually(
      () => needles.flatMap((needle) => filesHolding(app.storageDir, needle).map((file) => `${needle} in ${file}`)),
      (found) => found.length === 0,
    );
    t.deepEqual(traces, []);

    const verify = await execScript('audit.ts', ['verify', '--json'], {
      env: { ...process.env, ...testEnv(app.storageDir), NODE_ENV: 'test' },
    });
    t.like(JSON.parse(verify.stdout), { intact: true });
  },
);

test.serial(
  'a deleted account leaves every group: the longest-standing admin (else member) becomes owner of groups they owned, and the members get group.updated',
  async (t) => {
    const [gone, first, admin, host] = [
      await person('grp_gone'),
      await person('grp_first'),
      await person('grp_admin'),
      await person('grp_host'),
    ];
    const owned = await request(app.url, 'POST', '/api/groups', {
      token: gone.token,
      body: { name: 'Owned', memberIds: [first.id, admin.id] },
    });
    t.is(owned.status, 201);
    const ownedId = owned.body.group.id as string;
    const promoted = await request(app.url, 'POST', `/api/groups/${ownedId}/members`, {
      token: gone.token,
      body: { userId: admin.id, role: 'admin' },
    });
    t.true(promoted.status < 300, JSON.stringify(promoted.body));
    const joined = await request(app.url, 'POST', '/api/groups', { token: host.token, body: { name: 'Joined', memberIds: [gone.id] } });
    const joinedId = joined.body.group.id as string;
    const [adminSocket, hostSocket] = [await connect(app.wsUrl, admin.token), await connect(app.wsUrl, host.token)];
    for (const socket of [adminSocket, hostSocket]) {
      socket.send({ type: 'sync', id: 'live' });
      await socket.next((f) => f.id === 'live' && (f.type === 'sync.snapshot' || f.type === 'sync.ok'));
    }

    const deleted = await request(app.url, 'DELETE', '/api/users/me', { token: gone.token, body: { password: PASSWORD } });
    t.is(deleted.status, 204);

    const ownedNow = await request(app.url, 'GET', `/api/groups/${ownedId}`, { token: first.token });
    t.is(ownedNow.body.group.ownerId, admin.id, 'the admin, not the first plain member, takes over');
    t.deepEqual(
      ownedNow.body.group.members.map((member: any) => [member.userId, member.role]).sort(),
      [
        [admin.id, 'owner'],
        [first.id, 'member'],
      ].sort(),
    );
    const joinedNow = await request(app.url, 'GET', `/api/groups/${joinedId}`, { token: host.token });
    t.deepEqual(
      joinedNow.body.group.members.map((member: any) => member.userId),
      [host.id],
    );
    t.deepEqual((await request(app.url, 'GET', '/api/groups', { token: host.token })).body.groups.length, 1);

    await adminSocket.next(
      (f) => f.type === 'group.updated' && f.groupId === ownedId && f.change === 'ownership_transferred' && f.toUserId === admin.id,
    );
    await adminSocket.next(
      (f) => f.type === 'group.updated' && f.groupId === ownedId && f.change === 'member_left' && f.userId === gone.id,
    );
    await hostSocket.next(
      (f) => f.type === 'group.updated' && f.groupId === joinedId && f.change === 'member_left' && f.userId === gone.id,
    );

    // Appended through the group decider, attributed to the deletion (same correlation, acting as the deleted user).
    const [deletion] = (await app.eventStore.readStream(`user-${gone.id}`)).filter((event) => event.type === 'AccountDeleted');
    const tail = (await app.eventStore.readStream(`group-${ownedId}`)).slice(-2);
    t.deepEqual(
      tail.map((event) => event.type),
      ['OwnershipTransferred', 'MemberLeft'],
    );
    for (const event of [...tail, ...(await app.eventStore.readStream(`group-${joinedId}`)).slice(-1)])
      t.like(event, { metadata: { userId: gone.id, correlationId: deletion!.metadata.correlationId } });
    adminSocket.close();
    hostSocket.close();
  },
);
