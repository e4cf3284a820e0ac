import test from 'ava';
import { Writable } from 'node:stream';
import pino from 'pino';
import { userStream } from '../../commands/users.ts';
import { CLOSE } from '../../src/contract/socketProtocol.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { connect, type TestSocket } from '../helpers/socket.ts';

/** Everything the server logs, at every level, to show that no bot token ever reaches a log line. */
const logLines: string[] = [];
const logSink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    logLines.push(chunk.toString('utf8'));
    done();
  },
});

const BOTS_PER_OWNER = 3;
let app: TestApp;
/** Every bot token any test was given: none may be in the event log or in a log line. */
const issuedTokens: string[] = [];
test.before(async () => {
  app = await startTestApp({ env: { BOTS_MAX_PER_OWNER: String(BOTS_PER_OWNER) }, logger: pino({ level: 'trace' }, logSink) });
});
test.after.always(async () => {
  await app.dispose();
});

type User = Awaited<ReturnType<typeof registerUser>>;
let botCounter = 0;
const botName = () => `bot${++botCounter}_${process.pid}`;

async function createBot(owner: User, username = botName(), displayName?: string) {
  const response = await request(app.url, 'POST', '/api/bots', {
    token: owner.accessToken,
    body: displayName === undefined ? { username } : { username, displayName },
  });
  if (response.status !== 201) throw new Error(`createBot: ${response.status} ${JSON.stringify(response.body)}`);
  issuedTokens.push(response.body.token as string);
  return response.body as { bot: { id: string; username: string; displayName: string; ownerId: string }; token: string };
}

async function syncedSocket(token: string): Promise<TestSocket> {
  const socket = await connect(app.wsUrl, token);
  socket.send({ type: 'sync', id: 's' });
  await socket.next((f) => f.type === 'sync.snapshot' || f.type === 'sync.ok');
  return socket;
}

const streamTypes = async (stream: string) => (await app.eventStore.readStream(stream)).map((event) => event.type);

test.serial(
  'POST /api/bots makes a bot owned by the caller, with a token shown once that works on REST; GET /api/bots lists it',
  async (t) => {
    const owner = await registerUser(app.url);
    const username = botName();
    const created = await request(app.url, 'POST', '/api/bots', { token: owner.accessToken, body: { username, displayName: 'Weather' } });
    t.is(created.status, 201);
    issuedTokens.push(created.body.token);
    t.like(created.body.bot, { username, displayName: 'Weather', ownerId: owner.user.id, isBot: true });
    t.regex(created.body.token, /^lbot\.[0-9a-f-]{36}\.[\w-]{43}$/);
    const botId = created.body.bot.id as string;
    t.deepEqual(await streamTypes(userStream(botId)), ['BotCreated', 'BotTokenIssued']);

    const verified = await request(app.url, 'GET', '/auth/verify', { token: created.body.token });
    t.is(verified.status, 200);
    t.like(verified.body.user, { id: botId, username, isBot: true });

    const listed = await request(app.url, 'GET', '/api/bots', { token: owner.accessToken });
    t.is(listed.status, 200);
    t.deepEqual(
      listed.body.bots.map((bot: { id: string }) => bot.id),
      [botId],
    );
    t.false(JSON.stringify(listed.body).includes(created.body.token.split('.')[2]), 'the list never shows the token');

    // Everyone sees it marked as a bot: its profile and the user search.
    const other = await registerUser(app.url);
    const profile = await request(app.url, 'GET', `/api/users/${botId}`, { token: other.accessToken });
    t.like(profile.body.user, { id: botId, isBot: true, bot: { ownerId: owner.user.id } });
    const ownerProfile = await request(app.url, 'GET', `/api/users/${owner.user.id}`, { token: other.accessToken });
    t.is(ownerProfile.body.user.isBot, false);
    const found = await request(app.url, 'GET', `/api/users/search?q=${username}`, { token: other.accessToken });
    t.like(found.body.users[0], { id: botId, isBot: true });
  },
);

test.serial('a bot is messaged directly, answers over REST and the socket, and shows as a bot in reads and live frames', async (t) => {
  const [owner, human] = [await registerUser(app.url), await registerUser(app.url)];
  const { bot, token } = await createBot(owner);
  const botSocket = await syncedSocket(token);
  const humanSocket = await syncedSocket(human.accessToken);

  const hello = await request(app.url, 'POST', '/api/messages', {
    token: human.accessToken,
    body: { recipientId: bot.id, text: 'hi bot' },
  });
  t.is(hello.status, 201);
  t.false(hello.body.message.senderIsBot);
  const received = await botSocket.next((f) => f.type === 'message.created' && f.message.id === hello.body.message.id);
  t.false(received.message.senderIsBot);

  const restReply = await request(app.url, 'POST', '/api/messages', { token, body: { recipientId: human.user.id, text: 'over REST' } });
  t.is(restReply.status, 201);
  t.true(restReply.body.message.senderIsBot);
  botSocket.send({ type: 'message.send', id: 'b1', recipientId: human.user.id, text: 'over the socket', clientMessageId: 'b1' });
  const ack = await botSocket.next((f) => f.id === 'b1' && f.type !== 'error');
  t.true(ack.message.senderIsBot);

  const liveRest = await humanSocket.next((f) => f.type === 'message.created' && f.message.id === restReply.body.message.id);
  t.true(liveRest.message.senderIsBot);
  const liveSocket = await humanSocket.next((f) => f.type === 'message.created' && f.message.id === ack.message.id);
  t.true(liveSocket.message.senderIsBot);

  const page = await request(app.url, 'GET', `/api/messages?with=${bot.id}`, { token: human.accessToken });
  t.deepEqual(
    page.body.messages.map((m: { content: { text: string }; senderIsBot: boolean }) => [m.content.text, m.senderIsBot]),
    [
      ['over the socket', true],
      ['over REST', true],
      ['hi bot', false],
    ],
  );
  const conversations = await request(app.url, 'GET', '/api/conversations', { token: human.accessToken });
  t.like(conversations.body.conversations[0], { peer: { id: bot.id, isBot: true } });
  botSocket.close();
  humanSocket.close();
});

test.serial('an admin adds a bot to a group; its group messages show it as a bot to the members, in reads and live', async (t) => {
  const [owner, member] = [await registerUser(app.url), await registerUser(app.url)];
  const { bot, token } = await createBot(owner);
  const group = await request(app.url, 'POST', '/api/groups', {
    token: owner.accessToken,
    body: { name: 'With a bot', memberIds: [member.user.id] },
  });
  t.is(group.status, 201);
  const groupId = group.body.group?.id ?? group.body.id;
  const added = await request(app.url, 'POST', `/api/groups/${groupId}/members`, { token: owner.accessToken, body: { userId: bot.id } });
  t.true(added.status === 200 || added.status === 201, JSON.stringify(added.body));
  const memberSocket = await syncedSocket(member.accessToken);

  const sent = await request(app.url, 'POST', '/api/messages', { token, body: { groupId, text: 'beep from the bot' } });
  t.is(sent.status, 201);
  const live = await memberSocket.next((f) => f.type === 'message.created' && f.message.id === sent.body.message.id);
  t.true(live.message.senderIsBot);
  const page = await request(app.url, 'GET', `/api/messages?groupId=${groupId}`, { token: member.accessToken });
  t.like(page.body.messages[0], { id: sent.body.message.id, senderIsBot: true });
  memberSocket.close();
});

test.serial('a bot cannot log in with a password: the same answer as a wrong password', async (t) => {
  const owner = await registerUser(app.url);
  const { token } = await createBot(owner);
  const botEmail = (await request(app.url, 'GET', '/auth/verify', { token })).body.user.email as string;
  const head = await app.eventStore.headPosition();
  const asBot = await request(app.url, 'POST', '/auth/login', { body: { email: botEmail, password: 'correct horse battery' } });
  const wrongPassword = await request(app.url, 'POST', '/auth/login', { body: { email: owner.email, password: 'not the password' } });
  t.is(asBot.status, 401);
  t.deepEqual(asBot.body, wrongPassword.body);
  t.is(asBot.body.error.code, 'invalid_credentials');
  // The bot's login appended nothing (the owner's failed one recorded its attempt on the owner's stream).
  const appended = (await app.eventStore.readAll({ after: head })).filter((event) => event.stream !== userStream(owner.user.id));
  t.deepEqual(appended, []);
});

test.serial('a rotated token is refused at once on REST and the socket; the new one works; a revoked one too', async (t) => {
  const owner = await registerUser(app.url);
  const { bot, token: first } = await createBot(owner);
  const open = await syncedSocket(first);

  const rotated = await request(app.url, 'POST', `/api/bots/${bot.id}/token`, { token: owner.accessToken });
  t.is(rotated.status, 201);
  issuedTokens.push(rotated.body.token);
  t.not(rotated.body.token, first);
  t.deepEqual((await streamTypes(userStream(bot.id))).slice(-1), ['BotTokenIssued']);

  const old = await request(app.url, 'GET', '/auth/verify', { token: first });
  t.is(old.status, 401);
  t.is(old.body.error.code, 'token_revoked');
  t.deepEqual(await open.closed, { code: CLOSE.UNAUTHORIZED, reason: 'token_revoked' });
  const reopened = await connect(app.wsUrl, first);
  t.is((await reopened.closed).code, CLOSE.UNAUTHORIZED);
  t.is((await request(app.url, 'GET', '/auth/verify', { token: rotated.body.token })).status, 200);

  // Revoked without a successor: refused the same way.
  const second = await syncedSocket(rotated.body.token);
  const revoked = await request(app.url, 'DELETE', `/api/bots/${bot.id}/token`, { token: owner.accessToken });
  t.is(revoked.status, 204);
  t.deepEqual((await streamTypes(userStream(bot.id))).slice(-1), ['BotTokenRevoked']);
  t.is((await request(app.url, 'GET', '/auth/verify', { token: rotated.body.token })).body.error.code, 'token_revoked');
  t.deepEqual(await second.closed, { code: CLOSE.UNAUTHORIZED, reason: 'token_revoked' });
});

test.serial('deleting a bot closes its sockets, refuses its token and frees its username', async (t) => {
  const owner = await registerUser(app.url);
  const { bot, token } = await createBot(owner);
  const open = await syncedSocket(token);
  const deleted = await request(app.url, 'DELETE', `/api/bots/${bot.id}`, { token: owner.accessToken });
  t.is(deleted.status, 204);
  t.true((await streamTypes(userStream(bot.id))).includes('AccountDeleted'));
  t.deepEqual(await open.closed, { code: CLOSE.UNAUTHORIZED, reason: 'account_deleted' });
  t.is((await request(app.url, 'GET', '/auth/verify', { token })).status, 401);
  t.deepEqual((await request(app.url, 'GET', '/api/bots', { token: owner.accessToken })).body.bots, []);
  const again = await createBot(owner, bot.username);
  t.is(again.bot.username, bot.username);
});

test.serial("an owner's account deletion deletes their bots: sockets closed, tokens refused, the bots erased", async (t) => {
  const owner = await registerUser(app.url);
  const [first, second] = [await createBot(owner), await createBot(owner)];
  const open = await syncedSocket(first.token);
  const deleted = await request(app.url, 'DELETE', '/api/users/me', { token: owner.accessToken, body: { password: owner.password } });
  t.is(deleted.status, 204);
  for (const { bot, token } of [first, second]) {
    t.deepEqual((await streamTypes(userStream(bot.id))).slice(-2), ['AccountDeleted', 'AccountErased']);
    t.is((await request(app.url, 'GET', '/auth/verify', { token })).status, 401);
  }
  t.deepEqual(await open.closed, { code: CLOSE.UNAUTHORIZED, reason: 'account_deleted' });
});

test.serial('denials: not the owner, a bot making bots, bad input and a taken username are refused with nothing appended', async (t) => {
  const [owner, stranger] = [await registerUser(app.url), await registerUser(app.url)];
  const { bot, token } = await createBot(owner);
  const head = await app.eventStore.headPosition();

  const rotate = await request(app.url, 'POST', `/api/bots/${bot.id}/token`, { token: stranger.accessToken });
  t.is(rotate.status, 404);
  t.is(rotate.body.error.code, 'not_found');
  t.is((await request(app.url, 'DELETE', `/api/bots/${bot.id}/token`, { token: stranger.accessToken })).status, 404);
  t.is((await request(app.url, 'DELETE', `/api/bots/${bot.id}`, { token: stranger.accessToken })).status, 404);
  // A user who is not a bot is not a bot of the caller's either.
  t.is((await request(app.url, 'DELETE', `/api/bots/${stranger.user.id}`, { token: owner.accessToken })).status, 404);
  t.deepEqual((await request(app.url, 'GET', '/api/bots', { token: stranger.accessToken })).body.bots, []);

  const byBot = await request(app.url, 'POST', '/api/bots', { token, body: { username: botName() } });
  t.is(byBot.status, 403);
  t.is(byBot.body.error.code, 'not_for_bots');
  t.is((await request(app.url, 'GET', '/api/bots', { token })).body.error.code, 'not_for_bots');
  // Nor may it delete its own account (it has no password) nor its owner's.
  t.is((await request(app.url, 'DELETE', '/api/users/me', { token, body: { password: 'anything at all' } })).status, 403);

  for (const body of [{}, { username: 'x' }, { username: botName(), password: 'no passwords for bots' }, { username: 'Bad Name!' }]) {
    const bad = await request(app.url, 'POST', '/api/bots', { token: owner.accessToken, body });
    t.is(bad.status, 400, JSON.stringify(body));
    t.is(bad.body.error.code, 'validation_failed');
  }
  t.is((await request(app.url, 'POST', '/api/bots/not-a-uuid/token', { token: owner.accessToken })).status, 400);
  t.is(await app.eventStore.headPosition(), head, 'nothing was appended');

  const taken = await request(app.url, 'POST', '/api/bots', { token: owner.accessToken, body: { username: owner.user.username } });
  t.is(taken.status, 409);
  t.is(taken.body.error.code, 'username_taken');
});

test.serial('a bot cannot use Leta, over REST or the socket', async (t) => {
  const owner = await registerUser(app.url);
  const { token } = await createBot(owner);
  const leta = await request(app.url, 'POST', '/api/chat/ai/send', { token, body: { message: 'hello Leta' } });
  t.is(leta.status, 403);
  t.is(leta.body.error.code, 'not_for_bots');
  const socket = await syncedSocket(token);
  socket.send({ type: 'ai.send', id: 'leta', message: 'hello Leta' });
  t.like(await socket.next((f) => f.id === 'leta'), { type: 'error', error: { code: 'not_for_bots' } });
  socket.close();
});

test.serial(`an owner has at most ${BOTS_PER_OWNER} bots (BOTS_MAX_PER_OWNER); deleting one makes room`, async (t) => {
  const owner = await registerUser(app.url);
  const bots = [];
  for (let i = 0; i < BOTS_PER_OWNER; i++) bots.push(await createBot(owner));
  const head = await app.eventStore.headPosition();
  const over = await request(app.url, 'POST', '/api/bots', { token: owner.accessToken, body: { username: botName() } });
  t.is(over.status, 409);
  t.is(over.body.error.code, 'bots_limit');
  t.is(await app.eventStore.headPosition(), head);
  t.is((await request(app.url, 'DELETE', `/api/bots/${bots[0]!.bot.id}`, { token: owner.accessToken })).status, 204);
  await t.notThrowsAsync(createBot(owner));
});

test.after('no bot token is in the event log or in any log line', async (t) => {
  t.true(issuedTokens.length >= 5);
  const log = JSON.stringify(await app.eventStore.readAll());
  const lines = logLines.join('');
  t.true(lines.length > 0, 'the server logged');
  for (const token of issuedTokens) {
    const secret = token.split('.')[2]!;
    t.false(log.includes(secret), 'the event log never holds a token');
    t.false(lines.includes(secret), 'no log line holds a token');
  }
});
