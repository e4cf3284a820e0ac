import type { Contract, ResponseOf, RestClient } from './rest.ts';

export type MessageReactions = ResponseOf<Contract<'put', '/api/messages/{id}/reactions/{emoji}'>>;
export type ReactorPage = ResponseOf<Contract<'get', '/api/messages/{id}/reactions'>>;
export type ThreadPage = ResponseOf<Contract<'get', '/api/threads/{id}'>>;
export type ThreadChanged = ResponseOf<Contract<'put', '/api/threads/{id}/follow'>>;
export type FollowedThreads = ResponseOf<Contract<'get', '/api/threads'>>;

/** Reactions (`client.reactions`): one emoji per call; the server answers the message's reactions as you see them. */
export class ReactionsApi {
  constructor(private readonly api: RestClient) {}

  /** Reacts with `emoji` (`on`, the default) or takes the reaction back; either again changes nothing. */
  set(messageId: string, emoji: string, on = true): Promise<MessageReactions> {
    return this.api.request(on ? 'put' : 'delete', '/api/messages/{id}/reactions/{emoji}', { params: { id: messageId, emoji } });
  }

  /** Who reacted (with `emoji`, or with any), oldest first; pass the page's `cursor` as `after` for the next. */
  who(messageId: string, query: { emoji?: string; after?: number; limit?: number } = {}): Promise<ReactorPage> {
    return this.api.request('get', '/api/messages/{id}/reactions', { params: { id: messageId }, query });
  }
}

/** Threads (`client.threads`); a reply is sent with `sendMessage({ ..., threadRootId })`. */
export class ThreadsApi {
  constructor(private readonly api: RestClient) {}

  /** The root, your view of the thread and a page of replies, newest first (`before`: the previous page's cursor). */
  get(rootId: string, query: { before?: number; limit?: number } = {}): Promise<ThreadPage> {
    return this.api.request('get', '/api/threads/{id}', { params: { id: rootId }, query });
  }

  follow(rootId: string, on = true): Promise<ThreadChanged> {
    return this.api.request(on ? 'put' : 'delete', '/api/threads/{id}/follow', { params: { id: rootId } });
  }

  markRead(rootId: string): Promise<ThreadChanged> {
    return this.api.request('post', '/api/threads/{id}/read', { params: { id: rootId } });
  }

  /** The threads you follow, latest reply first, with unread counts. */
  followed(): Promise<FollowedThreads> {
    return this.api.request('get', '/api/threads');
  }
}
