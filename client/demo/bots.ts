import type { Bot } from '../bots.ts';
import type { LetsAppClient } from '../index.ts';
import { byId, formValues, h, showError } from './dom.ts';

/**
 * "Bots" in the sidebar: make a bot (its token shown once, here only), and for each of yours: a new token (the old one
 * stops working at once), revoke its token, delete it. A bot acts with `Authorization: Bearer <token>`.
 */
export function wireBots(client: LetsAppClient): void {
  const form = byId<HTMLFormElement>('new-bot');
  const list = byId('bot-list');
  const status = byId('bot-status');
  const showToken = (what: string, token: string) => {
    status.replaceChildren(`${what} Its token (shown once, copy it now): `, h('code', { 'data-testid': 'bot-token' }, token));
  };

  const refresh = async () => {
    const bots = await client.bots.listBots();
    list.replaceChildren(...bots.map((bot) => row(bot)));
  };

  const row = (bot: Bot): HTMLElement => {
    const act = (work: () => Promise<unknown>) => () =>
      void work()
        .then(refresh)
        .catch((error: unknown) => showError(status, error));
    const rotate = h('button', { type: 'button', 'data-testid': 'bot-rotate' }, 'New token');
    rotate.addEventListener(
      'click',
      act(async () =>
        showToken(`New token for @${bot.username}; the old one no longer works.`, (await client.bots.rotateBotToken(bot.id)).token),
      ),
    );
    const revoke = h('button', { type: 'button', 'data-testid': 'bot-revoke' }, 'Revoke token');
    revoke.addEventListener(
      'click',
      act(() => client.bots.revokeBotToken(bot.id)),
    );
    const remove = h('button', { type: 'button', 'data-testid': 'bot-delete' }, 'Delete');
    remove.addEventListener(
      'click',
      act(() => client.bots.deleteBot(bot.id)),
    );
    const token = bot.tokenIssuedAt ? `token since ${new Date(bot.tokenIssuedAt).toLocaleString()}` : 'no token';
    return h(
      'li',
      { 'data-testid': 'bot', 'data-bot-id': bot.id },
      h('div', {}, `🤖 ${bot.displayName} @${bot.username} · ${token}`),
      rotate,
      revoke,
      remove,
    );
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = formValues(form);
    client.bots
      .createBot(values.username ?? '', values.displayName || undefined)
      .then(({ bot, token }) => {
        showToken(`Made @${bot.username}.`, token);
        form.reset();
        return refresh();
      })
      .catch((error: unknown) => showError(status, error));
  });
  void refresh().catch((error: unknown) => showError(status, error));
}
