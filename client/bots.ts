import type { Contract, ResponseOf, RestClient } from './rest.ts';

export type Bot = ResponseOf<Contract<'get', '/api/bots'>>['bots'][number];
/** A bot with its token: the token is shown this once (the server keeps only its hash). */
export type BotWithToken = ResponseOf<Contract<'post', '/api/bots'>>;

/** The caller's bot accounts (`client.bots`); a bot itself acts through `LetsAppClient.forBot`. */
export class BotsApi {
  constructor(private readonly api: RestClient) {}

  /** Makes a bot; keep `token` now, it is never shown again. */
  async createBot(username: string, displayName?: string): Promise<BotWithToken> {
    return this.api.request('post', '/api/bots', { body: displayName === undefined ? { username } : { username, displayName } });
  }

  async listBots(): Promise<Bot[]> {
    return (await this.api.request('get', '/api/bots')).bots;
  }

  /** A new token; the old one is refused at once and its sockets closed. */
  async rotateBotToken(botId: string): Promise<BotWithToken> {
    return this.api.request('post', '/api/bots/{id}/token', { params: { id: botId } });
  }

  /** No token at all until the next rotation. */
  async revokeBotToken(botId: string): Promise<void> {
    await this.api.request('delete', '/api/bots/{id}/token', { params: { id: botId } });
  }

  async deleteBot(botId: string): Promise<void> {
    await this.api.request('delete', '/api/bots/{id}', { params: { id: botId } });
  }
}
