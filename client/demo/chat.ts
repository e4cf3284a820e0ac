import type { Contract, Conversation, LetsAppClient, Message, PendingSend, ResponseOf, ServerFrame } from '../index.ts';
import { byId, h, shortTime, showError } from './dom.ts';
import type { MediaCache } from './media.ts';
import type { People } from './people.ts';
import { voiceNoteElement } from './voice.ts';
import { afterFrame, reactionBar, ThreadPane } from './reactions.ts';

type ListItem = ResponseOf<Contract<'get', '/api/conversations'>>['conversations'][number];
type ListedMessage = ResponseOf<Contract<'get', '/api/messages'>>['messages'][number];
type Presence = ServerFrame<'presence.snapshot'>['users'][number];
type Shown = Message & Partial<Pick<ListedMessage, 'status' | 'readCount' | 'deliveredCount' | 'reactions' | 'thread'>>;

interface OpenConversation {
  target: Conversation;
  title: string;
  /** The other user of a direct conversation. */
  peerId: string | null;
}

const RECEIPT_RANK = { sent: 0, delivered: 1, read: 2 } as const;

/**
 * The conversation list (unread counts, presence dots, avatars) and the open conversation (live messages, edits,
 * deletes, receipts, typing, pictures), kept current from the client's events.
 */
export class ChatView {
  private readonly list = byId<HTMLUListElement>('conversations');
  private readonly messageList = byId<HTMLOListElement>('messages');
  private readonly composer = byId<HTMLFormElement>('composer');
  private readonly error = byId('chat-error');
  private conversations: ListItem[] = [];
  private readonly presence = new Map<string, Presence>();
  private open: OpenConversation | null = null;
  private readonly shown = new Map<string, Shown>();
  private editing: string | null = null;
  private typingTimer: ReturnType<typeof setTimeout> | null = null;
  private lastTypingSent = 0;
  private refreshing: ReturnType<typeof setTimeout> | null = null;
  private threadPane: ThreadPane | null = null;

  constructor(
    private readonly client: LetsAppClient,
    private readonly media: MediaCache,
    private readonly people: People,
    private readonly me: string,
  ) {
    client.on('snapshot', () => this.refreshSoon());
    client.on('synced', () => this.refreshSoon());
    client.on('message.created', (frame) => this.created(frame.message));
    client.on('message.edited', (frame) => this.replace(frame.message));
    client.on('message.deleted', (frame) => (frame.scope === 'everyone' ? this.replace(frame.message) : this.remove(frame.messageId)));
    client.on('receipt', (frame) => this.receipt(frame));
    client.on('typing', (frame) => this.typing(frame));
    client.on('reaction', (frame) => {
      const shown = this.shown.get(frame.messageId);
      if (!shown) return;
      shown.reactions = afterFrame(shown.reactions ?? [], frame, this.me);
      this.renderMessages();
    });
    // A reply in a thread one does not follow, or one deleted: the root's count changes (followers get the reply itself).
    client.on('thread.updated', (frame) => {
      const root = this.shown.get(frame.rootId);
      if (!root) return;
      root.thread =
        frame.lastReplyAt === null
          ? undefined
          : { replyCount: frame.replyCount, lastReplyAt: frame.lastReplyAt, lastRepliers: frame.lastRepliers };
      this.renderMessages();
    });
    client.on('presence.snapshot', (frame) => frame.users.forEach((user) => this.presenceChanged(user)));
    client.on('presence', (frame) => this.presenceChanged(frame));
    client.on('user.updated', () => this.refreshSoon());
    document.addEventListener('thread-read', () => this.refreshSoon());
    client.on('group.updated', () => this.refreshSoon());
    client.on('outbox', (pending) => this.renderPending(pending));
    client.on('send.failed', ({ error }) => showError(this.error, error));
    this.composer.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.submit();
    });
    (this.composer.elements.namedItem('text') as HTMLInputElement).addEventListener('input', () => this.sendTyping());
    byId('cancel-edit').addEventListener('click', () => this.stopEditing());
    // On a phone the list and the conversation take turns on the screen.
    byId('back').addEventListener('click', () => byId('app').classList.remove('in-conversation'));
    document.addEventListener('visibilitychange', () => void this.markOpenRead());
  }

  /** The list from the read model, then the open conversation's page: after a (re)connect or a change of names or groups. */
  refreshSoon(): void {
    if (this.refreshing) return;
    this.refreshing = setTimeout(() => {
      this.refreshing = null;
      void this.refresh();
    }, 50);
  }

  async refresh(): Promise<void> {
    try {
      this.conversations = (await this.client.api.request('get', '/api/conversations', { query: { limit: 100 } })).conversations;
      this.renderList();
      const peers = this.conversations.flatMap((item) => (item.peer ? [item.peer.id] : []));
      if (peers.length) await this.client.followPresence(peers.slice(0, 200)).catch(() => undefined);
      if (this.open) await this.loadMessages();
    } catch (error) {
      showError(this.error, error);
    }
  }

  async chatWith(username: string): Promise<void> {
    const { users } = await this.client.api.request('get', '/api/users/search', { query: { q: username } });
    const user = users.find((found) => found.username === username.toLowerCase());
    if (!user) throw new Error(`No user named ${username}`);
    await this.openConversation({ target: { with: user.id }, title: user.displayName, peerId: user.id });
  }

  async createGroup(name: string, usernames: string[]): Promise<void> {
    const memberIds: string[] = [];
    for (const username of usernames) {
      const { users } = await this.client.api.request('get', '/api/users/search', { query: { q: username } });
      const user = users.find((found) => found.username === username.toLowerCase());
      if (!user) throw new Error(`No user named ${username}`);
      memberIds.push(user.id);
    }
    const { group } = await this.client.api.request('post', '/api/groups', { body: { name, memberIds } });
    await this.refresh();
    await this.openConversation({ target: { groupId: group.id }, title: group.name, peerId: null });
  }

  get current(): OpenConversation | null {
    return this.open;
  }

  private async openConversation(open: OpenConversation): Promise<void> {
    this.open = open;
    this.stopEditing();
    this.error.textContent = '';
    byId('conversation').hidden = false;
    byId('app').classList.add('in-conversation');
    byId('conversation').dataset.kind = open.target.groupId !== undefined ? 'group' : 'direct';
    byId('conversation-title').textContent = open.title;
    this.renderPeerPresence();
    this.renderList();
    await this.loadMessages();
  }

  private async loadMessages(): Promise<void> {
    const open = this.open;
    if (!open) return;
    const page = await this.client.api.request('get', '/api/messages', { query: { ...open.target, limit: 50 } });
    if (open !== this.open) return;
    this.shown.clear();
    for (const message of [...page.messages].reverse()) this.shown.set(message.id, message);
    this.renderMessages();
    await this.markOpenRead();
  }

  private belongsToOpen(message: Message): boolean {
    const target = this.open?.target;
    if (!target) return false;
    if (target.groupId !== undefined) return message.groupId === target.groupId;
    return (
      message.groupId === undefined &&
      [message.senderId, message.recipientId].includes(target.with) &&
      [message.senderId, message.recipientId].includes(this.me)
    );
  }

  private created(message: Message): void {
    const item = this.conversations.find((entry) => entry.conversationId === message.conversationId);
    if (this.belongsToOpen(message)) {
      this.shown.set(message.id, {
        ...message,
        ...(message.senderId === this.me && message.groupId === undefined ? { status: 'sent' as const } : {}),
      });
      this.renderMessages();
      if (message.senderId !== this.me) {
        // Their message is what they were typing.
        byId('typing').textContent = '';
        void this.acknowledge(message);
      }
    } else if (message.senderId !== this.me) {
      void this.client.markDelivered(this.conversationOf(message), message.id).catch(() => undefined);
    }
    if (item && message.senderId !== this.me && !this.belongsToOpen(message)) item.unreadCount += 1;
    // A reply arrives as message.created only to the thread's followers: unread in its thread until the pane is opened.
    if (item && message.threadRootId && message.senderId !== this.me) item.threadUnreadCount += 1;
    if (item) {
      item.lastMessage = {
        id: message.id,
        senderId: message.senderId,
        preview: message.content?.kind === 'text' ? message.content.text.slice(0, 80) : null,
        sentAt: message.sentAt,
        position: message.position,
        deleted: false,
      };
      this.renderList();
    } else {
      this.refreshSoon();
    }
  }

  private conversationOf(message: Message): Conversation {
    if (message.groupId !== undefined) return { groupId: message.groupId };
    return { with: message.senderId === this.me ? message.recipientId! : message.senderId };
  }

  /** Seen when the page is in front, else only delivered. */
  private async acknowledge(message: Message): Promise<void> {
    const conversation = this.conversationOf(message);
    if (document.visibilityState === 'visible') await this.client.markRead(conversation, message.id).catch(() => undefined);
    else await this.client.markDelivered(conversation, message.id).catch(() => undefined);
  }

  private async markOpenRead(): Promise<void> {
    if (!this.open || document.visibilityState !== 'visible') return;
    const newest = [...this.shown.values()].filter((message) => message.senderId !== this.me).at(-1);
    if (!newest) return;
    await this.client.markRead(this.open.target, newest.id).catch(() => undefined);
    const item = this.conversations.find((entry) => entry.conversationId === newest.conversationId);
    if (item && item.unreadCount !== 0) {
      item.unreadCount = 0;
      this.renderList();
    }
  }

  private replace(message: Message): void {
    const shown = this.shown.get(message.id);
    if (!shown) return;
    this.shown.set(message.id, { ...shown, ...message });
    this.renderMessages();
  }

  private remove(messageId: string): void {
    if (this.shown.delete(messageId)) this.renderMessages();
  }

  private receipt(frame: ServerFrame<'receipt'>): void {
    if (frame.userId === this.me) {
      // Read on another device of mine: the count there is what counts.
      if (frame.receipt === 'read') this.refreshSoon();
      return;
    }
    let changed = false;
    for (const message of this.shown.values()) {
      if (message.conversationId !== frame.conversationId || message.senderId !== this.me || message.position > frame.upTo.position)
        continue;
      if (message.groupId !== undefined) continue;
      if (RECEIPT_RANK[message.status ?? 'sent'] < RECEIPT_RANK[frame.receipt]) {
        message.status = frame.receipt;
        changed = true;
      }
    }
    if (changed) this.renderMessages();
    // Group counts come from the read model.
    if (this.open?.target.groupId !== undefined && [...this.shown.values()].some((m) => m.conversationId === frame.conversationId))
      void this.loadMessages();
  }

  private typing(frame: ServerFrame<'typing'>): void {
    if (frame.userId === this.me || frame.conversationId !== this.openConversationId()) return;
    const line = byId('typing');
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => {
      line.textContent = '';
    }, frame.expiresInMs);
    const conversationId = frame.conversationId;
    void this.people.name(frame.userId).then((who) => {
      if (conversationId === this.openConversationId()) line.textContent = `${who} is typing…`;
    });
  }

  private openConversationId(): string | null {
    const open = this.open;
    if (!open) return null;
    const item = this.conversations.find((entry) =>
      open.peerId ? entry.peer?.id === open.peerId : entry.group?.id === open.target.groupId,
    );
    return item?.conversationId ?? [...this.shown.values()][0]?.conversationId ?? null;
  }

  private sendTyping(): void {
    if (!this.open || Date.now() - this.lastTypingSent < 3_000) return;
    this.lastTypingSent = Date.now();
    void this.client.typing(this.open.target).catch(() => undefined);
  }

  private presenceChanged(view: Presence): void {
    this.presence.set(view.userId, view);
    this.renderList();
    this.renderPeerPresence();
  }

  private renderPeerPresence(): void {
    const peerId = this.open?.peerId;
    const view = peerId ? this.presence.get(peerId) : undefined;
    const dot = byId('peer-presence');
    dot.dataset.status = view?.status ?? 'unknown';
    dot.title = view?.status ?? '';
    byId('peer-last-seen').textContent =
      view?.status === 'online' ? 'online' : view?.lastSeenAt ? `last seen ${shortTime(view.lastSeenAt)}` : '';
  }

  private async submit(): Promise<void> {
    const open = this.open;
    if (!open) return;
    const form = this.composer;
    const textInput = form.elements.namedItem('text') as HTMLInputElement;
    const fileInput = form.elements.namedItem('file') as HTMLInputElement;
    const text = textInput.value.trim();
    const file = fileInput.files?.[0];
    this.error.textContent = '';
    try {
      if (this.editing) {
        await this.client.api.request('put', '/api/messages/{id}', { params: { id: this.editing }, body: { text } });
        this.stopEditing();
        return;
      }
      if (!text && !file) return;
      textInput.value = '';
      fileInput.value = '';
      const attachments = file ? [(await this.client.api.upload('/api/media/upload', file, { filename: file.name })).media.id] : [];
      await this.client.sendMessage({
        ...(open.target.groupId !== undefined ? { groupId: open.target.groupId } : { recipientId: open.target.with }),
        text: text || file?.name || 'picture',
        ...(attachments.length ? { attachments } : {}),
      });
      if (!this.conversations.some((item) => this.shownIn(item))) this.refreshSoon();
    } catch (error) {
      showError(this.error, error);
    }
  }

  private shownIn(item: ListItem): boolean {
    return [...this.shown.values()].some((message) => message.conversationId === item.conversationId);
  }

  private startEditing(message: Shown): void {
    this.editing = message.id;
    (this.composer.elements.namedItem('text') as HTMLInputElement).value = message.content?.kind === 'text' ? message.content.text : '';
    byId('cancel-edit').hidden = false;
  }

  private stopEditing(): void {
    this.editing = null;
    byId('cancel-edit').hidden = true;
    (this.composer.elements.namedItem('text') as HTMLInputElement).value = '';
  }

  private renderList(): void {
    this.list.replaceChildren(
      ...this.conversations.map((item) => {
        const title = item.peer?.displayName ?? item.group?.name ?? item.conversationId;
        const avatar = h('img', { class: 'avatar', alt: '', 'data-testid': 'conversation-avatar', hidden: true });
        if (item.peer) void this.people.person(item.peer.id).then((person) => this.media.show(avatar, person?.avatarMediaId ?? null, '48'));
        else if (item.group?.iconMediaId) this.media.show(avatar, item.group.iconMediaId);
        const status = item.peer ? (this.presence.get(item.peer.id)?.status ?? 'unknown') : 'group';
        const open = this.open && (item.peer ? this.open.peerId === item.peer.id : this.open.target.groupId === item.group?.id);
        const li = h(
          'li',
          { 'data-testid': 'conversation-item', 'data-title': title, class: open ? 'open' : undefined },
          h('span', { class: 'presence', 'data-testid': 'presence-dot', 'data-status': status }),
          avatar,
          h('span', { class: 'title' }, title),
          h('span', { class: 'unread', 'data-testid': 'unread', 'data-count': item.unreadCount }, String(item.unreadCount)),
          // Unread replies in the threads one follows here (their own read mark: opening the thread clears them).
          item.threadUnreadCount > 0
            ? h('small', { 'data-testid': 'thread-unread', title: 'unread thread replies' }, `+${item.threadUnreadCount} in threads`)
            : null,
        );
        li.addEventListener(
          'click',
          () =>
            void this.openConversation(
              item.peer
                ? { target: { with: item.peer.id }, title, peerId: item.peer.id }
                : { target: { groupId: item.group!.id }, title, peerId: null },
            ),
        );
        return li;
      }),
    );
  }

  private renderMessages(): void {
    const items = [...this.shown.values()].sort((a, b) => a.position - b.position).map((message) => this.renderMessage(message));
    this.messageList.replaceChildren(...items, ...this.pendingItems(this.client.pending));
    this.messageList.scrollTop = this.messageList.scrollHeight;
  }

  private renderPending(pending: readonly PendingSend[]): void {
    for (const li of this.messageList.querySelectorAll('li.pending')) li.remove();
    this.messageList.append(...this.pendingItems(pending));
  }

  private pendingItems(pending: readonly PendingSend[]): HTMLLIElement[] {
    const target = this.open?.target;
    if (!target) return [];
    const sentIds = new Set([...this.shown.values()].map((message) => message.clientMessageId));
    return pending
      .filter(
        (entry) =>
          !sentIds.has(entry.clientMessageId) &&
          (target.groupId !== undefined ? entry.payload.groupId === target.groupId : entry.payload.recipientId === target.with),
      )
      .map((entry) =>
        h(
          'li',
          { class: 'mine pending', 'data-testid': 'message', 'data-pending': true },
          h('span', { 'data-testid': 'message-text' }, entry.payload.text ?? ''),
          h('span', { class: 'meta', 'data-testid': 'status' }, 'sending'),
        ),
      );
  }

  private renderMessage(message: Shown): HTMLLIElement {
    const mine = message.senderId === this.me;
    const text = message.content === null ? 'message deleted' : message.content.kind === 'text' ? message.content.text : '🔒 encrypted';
    // In a group each message says who wrote it (one's own are on the right, as in a direct conversation).
    const sender = message.groupId !== undefined && !mine ? h('span', { class: 'sender', 'data-testid': 'sender' }) : null;
    if (sender)
      void this.people.name(message.senderId).then((name) => {
        sender.textContent = name;
      });
    const li = h(
      'li',
      { class: mine ? 'mine' : undefined, 'data-testid': 'message', 'data-id': message.id, 'data-deleted': message.content === null },
      sender,
      h('span', { 'data-testid': 'message-text' }, text),
      ...message.files
        .filter((file) => file.kind === 'image' && !file.deleted)
        .map((file) => {
          const img = h('img', { alt: file.filename ?? 'picture', 'data-testid': 'attachment-image' });
          this.media.show(img, file.id);
          return img;
        }),
      ...message.files
        .filter((file) => file.voice && !file.deleted)
        .map((file) => voiceNoteElement(this.client, this.media, message, file, this.error)),
      h('span', { class: 'meta' }, shortTime(message.sentAt), message.editedAt ? ' · edited' : ''),
      message.content === null
        ? null
        : reactionBar(
            this.client,
            message,
            (reactions) => {
              message.reactions = reactions;
              this.renderMessages();
            },
            this.error,
          ),
      (this.threadPane ??= new ThreadPane(this.client, this.me, this.error)).button(message),
    );
    if (mine && message.content !== null) {
      const status = message.groupId !== undefined ? `read by ${message.readCount ?? 0}` : (message.status ?? 'sent');
      li.append(h('span', { class: 'meta', 'data-testid': 'status', 'data-status': status }, status));
      const edit = h('button', { type: 'button', 'data-testid': 'edit' }, 'Edit');
      edit.addEventListener('click', () => this.startEditing(message));
      const remove = h('button', { type: 'button', 'data-testid': 'delete' }, 'Delete');
      remove.addEventListener(
        'click',
        () =>
          void this.client.api
            .request('delete', '/api/messages/{id}', { params: { id: message.id }, query: { scope: 'everyone' } })
            .catch((error: unknown) => showError(this.error, error)),
      );
      li.append(edit, remove);
    }
    return li;
  }
}
