import type { Contract, ResponseOf, RestClient } from './rest.ts';

export type ScheduledMessageReply = Extract<ResponseOf<Contract<'post', '/api/messages'>>, { scheduled: unknown }>;
export type ScheduledMessage = ScheduledMessageReply['scheduled'];
export type SearchPage = ResponseOf<Contract<'get', '/api/search'>>;
export type SearchHit = SearchPage['results'][number];

/** Scheduled messages (`client.scheduled`): a text sent later by the server, listed, changed or cancelled until then. */
export class ScheduledMessagesApi {
  constructor(private readonly api: RestClient) {}

  /** Schedules `text` for `sendAt` (10 s to 1 year ahead) to a user or a group; the server sends it then. */
  async schedule(input: {
    recipientId?: string;
    groupId?: string;
    text: string;
    sendAt: Date | string;
    clientMessageId?: string;
  }): Promise<ScheduledMessage> {
    const sendAt = typeof input.sendAt === 'string' ? input.sendAt : input.sendAt.toISOString();
    const reply = await this.api.request('post', '/api/messages', { body: { ...input, sendAt } });
    return (reply as ScheduledMessageReply).scheduled;
  }

  /** Yours, soonest first (a failed one carries its `reason`). */
  async list(query: { status?: ScheduledMessage['status']; limit?: number } = {}): Promise<ScheduledMessage[]> {
    return (await this.api.request('get', '/api/scheduled-messages', { query })).scheduled;
  }

  async edit(id: string, change: { text?: string; sendAt?: Date | string }): Promise<ScheduledMessage> {
    const body = { ...change, sendAt: change.sendAt instanceof Date ? change.sendAt.toISOString() : change.sendAt };
    return (await this.api.request('put', '/api/scheduled-messages/{id}', { params: { id }, body })).scheduled;
  }

  /** Cancels a pending one (or dismisses a failed one); its text is erased. */
  async cancel(id: string): Promise<void> {
    await this.api.request('delete', '/api/scheduled-messages/{id}', { params: { id } });
  }
}

/** Message search (`client.search`): words and operators (`from:`, `in:`, `has:file`, `before:`, `after:`). */
export class SearchApi {
  constructor(private readonly api: RestClient) {}

  /** A page of results, best first; pass `nextCursor` as `cursor` for the next. */
  messages(q: string, query: { limit?: number; cursor?: string | number } = {}): Promise<SearchPage> {
    const cursor = query.cursor === undefined ? undefined : Number(query.cursor);
    return this.api.request('get', '/api/search', {
      query: { q, ...(query.limit ? { limit: query.limit } : {}), ...(cursor !== undefined ? { cursor } : {}) },
    });
  }
}
