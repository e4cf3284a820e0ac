import type { BackoffOptions } from './backoff.ts';
import { Emitter } from './emitter.ts';
import { LetsAppError } from './errors.ts';
import type { ClientPayload, ReplyOf, ServerFrame } from './frames.ts';
import { LiveSocket, type LiveSocketEvents, type WebSocketFactory } from './liveSocket.ts';
import { Outbox, type PendingSend, type SendInput } from './outbox.ts';
import { RestClient, type Contract, type ResponseOf } from './rest.ts';
import { memoryStore, type ClientStore } from './stores.ts';
import { DataExportApi } from './dataExport.ts';
import { GroupsApi } from './groups.ts';
import { PushApi } from './push.ts';
import { BotsApi } from './bots.ts';
import { WebhooksApi } from './webhooks.ts';
import { VoiceApi } from './voice.ts';
import { ReactionsApi, ThreadsApi } from './reactions.ts';
import { ScheduledMessagesApi, SearchApi } from './scheduledAndSearch.ts';

export type Session = ResponseOf<Contract<'post', '/auth/login'>>;
export type Message = ReplyOf<'message.send'>['message'];
export type Conversation = { with: string; groupId?: undefined } | { groupId: string; with?: undefined };
/** A conversation's disappearing-messages timer, as `GET /api/conversations/timer` answers it. */
export type DisappearingTimer = ResponseOf<Contract<'get', '/api/conversations/timer'>>['timer'];

export interface LetsAppClientOptions {
  /** The REST origin: '' on a page the server serves, `http://host:port` elsewhere. */
  baseUrl: string;
  /** The socket: `ws://host:port/ws`. */
  wsUrl: string;
  /** Keeps the session, the last position and unsent messages; memory by default (see `webStorageStore`). */
  store?: ClientStore;
  /** Node 20 has no global WebSocket: pass `ws`'s. */
  WebSocket?: WebSocketFactory;
  fetch?: typeof fetch;
  backoff?: BackoffOptions;
  requestTimeoutMs?: number;
}

/** Events of the client itself, besides every socket frame and the socket's own (`state`, `synced`, …). */
export interface OwnEvents {
  /** Logged in, resumed or logged out (null). */
  session: Session | null;
  /** The messages waiting for the server's acknowledgement changed. */
  outbox: readonly PendingSend[];
  /** The server refused a queued message for good (it stays unsent; nothing is retried). */
  'send.failed': { clientMessageId: string; error: LetsAppError };
}
export type ClientEvents = LiveSocketEvents & OwnEvents;
const OWN_EVENTS = new Set<string>(['session', 'outbox', 'send.failed']);

/**
 * A random id for a send. `crypto.randomUUID` exists only on secure origins (https, localhost); a page opened over
 * plain http on a LAN address has `getRandomValues` alone.
 */
function newClientId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `c-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

interface Waiter {
  resolve: (message: Message) => void;
  reject: (error: LetsAppError) => void;
}

/**
 * LetsApp for an app: log in, stay live over the socket (reconnect, resume with `sync`), send messages that survive
 * a lost connection or a reload (sent once, acknowledged or refused), and every REST operation typed (`api`).
 */
export class LetsAppClient extends Emitter<OwnEvents> {
  readonly api: RestClient;
  readonly live: LiveSocket;
  /** A copy of all of one's data (GDPR export). */
  readonly dataExport: DataExportApi;
  /** Group settings, invite links and join requests. */
  readonly groups: GroupsApi;
  /** Web Push: this device's subscription, the preview setting, mutes. */
  readonly push: PushApi;
  /** The caller's bot accounts: make one (its token shown once), list, rotate or revoke its token, delete. */
  readonly bots: BotsApi;
  /** Outgoing webhooks: register, change, rotate the secret, delete, the delivery log. */
  readonly webhooks: WebhooksApi;
  /** Voice notes: upload a recording with its waveform, transcribe one. */
  readonly voice: VoiceApi;
  readonly reactions: ReactionsApi;
  /** Scheduled messages: schedule, list, edit, cancel. */
  readonly scheduled: ScheduledMessagesApi;
  /** Full-text search of the messages you may read. */
  readonly search: SearchApi;
  readonly threads: ThreadsApi;
  private readonly store: ClientStore;
  private current: Session | null = null;
  private outbox: Outbox | null = null;
  private readonly inFlight = new Set<string>();
  private readonly waiters = new Map<string, Waiter[]>();
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private presenceFollowed: string[] = [];
  /** A bot token being checked by `connectAsBot`, before it becomes the session's. */
  private presentedToken: string | null = null;

  constructor(options: LetsAppClientOptions) {
    super();
    this.store = options.store ?? memoryStore();
    this.api = new RestClient({
      baseUrl: options.baseUrl,
      token: () => this.current?.accessToken ?? this.presentedToken,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      onUnauthorized: (error) => this.live.refused(error.code),
    });
    this.groups = new GroupsApi(this.api);
    this.push = new PushApi(this.api);
    this.bots = new BotsApi(this.api);
    this.webhooks = new WebhooksApi(this.api);
    this.voice = new VoiceApi(this.api);
    this.reactions = new ReactionsApi(this.api);
    this.scheduled = new ScheduledMessagesApi(this.api);
    this.search = new SearchApi(this.api);
    this.threads = new ThreadsApi(this.api);
    this.dataExport = new DataExportApi(this.api);
    const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketFactory }).WebSocket;
    if (!WebSocketImpl) throw new TypeError("No WebSocket here: pass one (in Node 20, the `ws` package's)");
    this.live = new LiveSocket({
      url: options.wsUrl,
      token: () => this.current?.accessToken ?? null,
      WebSocket: WebSocketImpl,
      loadPosition: async () => {
        const saved = this.current ? await this.store.get(this.key('position')) : null;
        return saved === null ? null : Number(saved);
      },
      savePosition: async (position) => {
        if (this.current) await this.store.set(this.key('position'), String(position));
      },
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    });
    this.live.on('synced', () => {
      this.flushOutbox();
      if (this.presenceFollowed.length) this.live.request('presence.subscribe', { userIds: this.presenceFollowed }).catch(() => undefined);
    });
  }

  override on<K extends keyof ClientEvents>(type: K, handler: (payload: ClientEvents[K]) => void): () => void {
    return OWN_EVENTS.has(type)
      ? super.on(type as keyof OwnEvents, handler as (payload: OwnEvents[keyof OwnEvents]) => void)
      : this.live.on(type as keyof LiveSocketEvents, handler as (payload: LiveSocketEvents[keyof LiveSocketEvents]) => void);
  }

  get session(): Session | null {
    return this.current;
  }

  get pending(): readonly PendingSend[] {
    return this.outbox?.pending ?? [];
  }

  async register(body: Contract<'post', '/auth/register'>['body']): Promise<Session> {
    return this.begin(await this.api.request('post', '/auth/register', { body }));
  }

  async login(email: string, password: string): Promise<Session> {
    return this.begin(await this.api.request('post', '/auth/login', { body: { email, password } }));
  }

  /** A client acting as a bot with its token (from `bots.createBot` or `rotateBotToken`), connected. */
  static async forBot(options: LetsAppClientOptions, botToken: string): Promise<LetsAppClient> {
    const client = new LetsAppClient(options);
    await client.connectAsBot(botToken);
    return client;
  }

  /**
   * Acts as a bot with its token: checked (GET /auth/verify), then the same live socket, outbox and REST calls as a
   * user's session. A bot cannot log in with a password, and its token does not expire.
   */
  async connectAsBot(botToken: string): Promise<Session> {
    this.presentedToken = botToken;
    try {
      const status = await this.api.request('get', '/auth/verify');
      const expiresIn = Math.max(0, Math.floor((Date.parse(status.expiresAt) - Date.now()) / 1000));
      return await this.begin({ user: status.user, accessToken: botToken, tokenType: 'Bearer', expiresIn, expiresAt: status.expiresAt });
    } finally {
      this.presentedToken = null;
    }
  }

  /** The session kept in the store, if its token has not expired: connects with it. */
  async resume(): Promise<Session | null> {
    const saved = await this.store.get('session');
    if (!saved) return null;
    const session = JSON.parse(saved) as Session;
    if (Date.parse(session.expiresAt) <= Date.now()) {
      await this.store.delete('session');
      return null;
    }
    return this.begin(session);
  }

  /** Revokes the token, disconnects and forgets the session (the unsent messages stay for the next login). */
  async logout(): Promise<void> {
    await this.api.request('post', '/auth/logout').catch(() => undefined);
    this.live.close();
    this.endSession();
    await this.store.delete('session');
    this.emit('session', null);
  }

  /**
   * Deletes this account (DELETE /api/users/me; the password again). `messages: 'erase'` also deletes every message it
   * sent for everyone; by default they stay with their recipients, from "Deleted account". Deleted now: the session
   * ends here as at a logout, and `null` is answered; with a confirmation window on the server: the time it happens
   * (logging in again, or `cancelAccountDeletion`, calls it off).
   */
  async deleteAccount(password: string, options: { messages?: 'keep' | 'erase' } = {}): Promise<{ deleteAfter: string } | null> {
    const answer = await this.api.request('delete', '/api/users/me', {
      body: { password },
      query: { messages: options.messages ?? 'keep' },
    });
    if (answer) return { deleteAfter: answer.deletion.deleteAfter };
    this.live.close();
    this.endSession();
    await this.store.delete('session');
    this.emit('session', null);
    return null;
  }

  /** The conversation's disappearing-messages timer (`off`, `24h`, `7d`, `90d`). */
  async disappearingTimer(conversation: Conversation): Promise<DisappearingTimer> {
    return (await this.api.request('get', '/api/conversations/timer', { query: conversation })).timer;
  }

  /**
   * Sets how long messages sent from now on stay in the conversation (either participant; in a group, its admins):
   * everyone gets `conversation.timer`, and each message then expires with `message.expired`.
   */
  async setDisappearingTimer(conversation: Conversation, timer: DisappearingTimer['timer']): Promise<DisappearingTimer> {
    return (await this.api.request('put', '/api/conversations/timer', { body: { ...conversation, timer } })).timer;
  }

  /** Calls off a scheduled deletion of this account (nothing when none is scheduled). */
  async cancelAccountDeletion(): Promise<void> {
    await this.api.request('delete', '/api/users/me/deletion');
  }

  /** Disconnects without logging out. */
  close(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.live.close();
  }

  /**
   * Sends a message: kept in the outbox (so a reload or a lost connection does not lose it) and sent when live,
   * again after every reconnect until the server answers. Resolves with the stored message; rejects only when the
   * server refuses it (a validation error, a block).
   */
  async sendMessage(input: SendInput): Promise<Message> {
    const outbox = this.requireOutbox();
    const clientMessageId = input.clientMessageId ?? newClientId();
    const entry: PendingSend = { clientMessageId, payload: { ...input, clientMessageId }, queuedAt: new Date().toISOString() };
    const sent = new Promise<Message>((resolve, reject) => {
      this.waiters.set(clientMessageId, [...(this.waiters.get(clientMessageId) ?? []), { resolve, reject }]);
    });
    await outbox.add(entry);
    this.emit('outbox', outbox.pending);
    this.flushOutbox();
    return sent;
  }

  markRead(conversation: Conversation, messageId: string): Promise<ReplyOf<'message.read'>> {
    return this.live.request('message.read', { ...conversation, messageId });
  }

  markDelivered(conversation: Conversation, messageId: string): Promise<ReplyOf<'message.delivered'>> {
    return this.live.request('message.delivered', { ...conversation, messageId });
  }

  /** Reacts over the socket (`reaction.set`): as `client.reactions.set`, without a request of its own. */
  react(messageId: string, emoji: string, on = true): Promise<ReplyOf<'reaction.set'>> {
    return this.live.request('reaction.set', { messageId, emoji, on });
  }

  typing(conversation: Conversation): Promise<ReplyOf<'typing'>> {
    return this.live.request('typing', conversation);
  }

  /** Follows these users' presence, now and after every reconnect (presence frames are not replayed). */
  async followPresence(userIds: readonly string[]): Promise<ServerFrame<'presence.snapshot'>['users']> {
    this.presenceFollowed = [...new Set(userIds)];
    return (await this.live.request('presence.subscribe', { userIds: this.presenceFollowed })).users;
  }

  /**
   * Asks Leta over the socket: `onDelta` gets the reply as it streams (the text so far); resolves with the stored
   * reply, rejects with the error Leta's turn ended in.
   */
  async askLeta(input: ClientPayload<'ai.send'>, onDelta?: (text: string) => void): Promise<NonNullable<ServerFrame<'ai.reply'>['reply']>> {
    // Frames of a prompt can arrive right behind its ack: listen first, sort them out once the id is known.
    const seen: Array<ServerFrame<'ai.delta'> | ServerFrame<'ai.reply'> | ServerFrame<'ai.error'>> = [];
    let handle: (frame: (typeof seen)[number]) => void = (frame) => {
      seen.push(frame);
    };
    const offs = [
      this.live.on('ai.delta', (f) => handle(f)),
      this.live.on('ai.reply', (f) => handle(f)),
      this.live.on('ai.error', (f) => handle(f)),
    ];
    try {
      const { promptId } = await this.live.request('ai.send', input);
      return await new Promise((resolve, reject) => {
        let text = '';
        handle = (frame) => {
          if (frame.promptId !== promptId) return;
          if (frame.type === 'ai.delta') {
            text += frame.text;
            onDelta?.(text);
          } else if (frame.type === 'ai.error') {
            reject(LetsAppError.fromBody(frame, null));
          } else if (frame.status === 'completed' && frame.reply) {
            resolve(frame.reply);
          } else {
            reject(new LetsAppError((frame.code ?? 'ai_upstream_error') as LetsAppError['code'], `Leta's reply ${frame.code ?? 'failed'}`));
          }
        };
        for (const frame of seen.splice(0)) handle(frame);
      });
    } finally {
      for (const off of offs) off();
    }
  }

  /** What belonged to the session that ends: its follows, its retry, and callers still waiting on its sends. */
  private endSession(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.presenceFollowed = [];
    this.inFlight.clear();
    for (const clientMessageId of [...this.waiters.keys()]) {
      this.settle(clientMessageId, (waiter) =>
        waiter.reject(new LetsAppError('disconnected', 'The session ended; the message stays queued for its next login')),
      );
    }
    this.current = null;
    this.outbox = null;
  }

  private async begin(session: Session): Promise<Session> {
    this.live.close();
    // A new token for the same user (logged in again after it expired) carries on; another user starts afresh.
    if (this.current?.user.id !== session.user.id) this.endSession();
    this.current = session;
    await this.store.set('session', JSON.stringify(session));
    this.outbox = new Outbox(this.store, this.key('outbox'));
    await this.outbox.load();
    await this.live.forgetPosition();
    this.emit('session', session);
    this.emit('outbox', this.outbox.pending);
    this.live.connect();
    return session;
  }

  private flushOutbox(): void {
    const outbox = this.outbox;
    if (!outbox || this.live.current !== 'live') return;
    for (const entry of outbox.pending) {
      if (this.inFlight.has(entry.clientMessageId)) continue;
      this.inFlight.add(entry.clientMessageId);
      this.live.request('message.send', entry.payload).then(
        async (ack) => {
          this.inFlight.delete(entry.clientMessageId);
          await outbox.remove(entry.clientMessageId);
          this.emit('outbox', outbox.pending);
          this.settle(entry.clientMessageId, (waiter) => waiter.resolve(ack.message));
        },
        async (error: LetsAppError) => {
          this.inFlight.delete(entry.clientMessageId);
          // Unanswered or "later": sent again (on the next `synced` if the connection went, else after a pause).
          if (error.retryable) return this.retryLater(error);
          await outbox.remove(entry.clientMessageId);
          this.emit('outbox', outbox.pending);
          this.emit('send.failed', { clientMessageId: entry.clientMessageId, error });
          this.settle(entry.clientMessageId, (waiter) => waiter.reject(error));
        },
      );
    }
  }

  private retryLater(error: LetsAppError): void {
    if (error.code === 'disconnected' || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.flushOutbox();
    }, error.retryAfterMs ?? 1_000);
  }

  private settle(clientMessageId: string, act: (waiter: Waiter) => void): void {
    const waiting = this.waiters.get(clientMessageId) ?? [];
    this.waiters.delete(clientMessageId);
    for (const waiter of waiting) act(waiter);
  }

  private requireOutbox(): Outbox {
    if (!this.outbox) throw new LetsAppError('missing_token', 'Log in first');
    return this.outbox;
  }

  private key(name: string): string {
    return `${this.current?.user.id ?? 'anonymous'}:${name}`;
  }
}
