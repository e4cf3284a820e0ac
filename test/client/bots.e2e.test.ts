import test from 'ava';
import WebSocket from 'ws';
import { LetsAppClient, LetsAppError, type LetsAppClientOptions } from '../../client/index.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app.dispose();
});

const options = (): LetsAppClientOptions => ({
  baseUrl: app.url,
  wsUrl: app.wsUrl,
  // eslint-disable-next-line no-restricted-syntax -- `ws` implements the browser API the client uses; its handlers' event types are wider than WebSocketLike's.
  WebSocket: WebSocket as unknown as LetsAppClientOptions['WebSocket'],
  backoff: { baseMs: 50, maxMs: 400 },
});

test('an owner makes a bot with the client; a client made with the bot token sends as the bot; rotating refuses the old token', async (t) => {
  const owner = new LetsAppClient(options());
  const session = await owner.register({
    email: `owner${process.pid}@example.test`,
    username: `owner${process.pid}`,
    password: 'correct horse battery',
  });
  const { bot, token } = await owner.bots.createBot(`clientbot${process.pid}`, 'Client bot');
  t.like(bot, { ownerId: session.user.id, isBot: true });
  t.deepEqual(
    (await owner.bots.listBots()).map((listed) => listed.id),
    [bot.id],
  );

  const asBot = await LetsAppClient.forBot(options(), token);
  t.like(asBot.session?.user, { id: bot.id, isBot: true });
  const received = new Promise<{ senderIsBot: boolean; id: string }>((resolve) => {
    owner.on('update', (frame) => {
      if (frame.type === 'message.created' && frame.message.senderId === bot.id) resolve(frame.message);
    });
  });
  const sent = await asBot.sendMessage({ recipientId: session.user.id, text: 'hello from the bot' });
  t.true(sent.senderIsBot);
  t.is((await received).id, sent.id);

  const rotated = await owner.bots.rotateBotToken(bot.id);
  t.not(rotated.token, token);
  const stale = new LetsAppClient(options());
  const refused = await t.throwsAsync(stale.connectAsBot(token), { instanceOf: LetsAppError });
  t.is(refused?.code, 'token_revoked');
  await owner.bots.deleteBot(bot.id);
  t.deepEqual(await owner.bots.listBots(), []);
  asBot.live.close();
  owner.live.close();
});
