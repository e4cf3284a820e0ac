import type { LetsAppClient, Message } from '../client.ts';
import type { ServerFrame } from '../frames.ts';
import { h, showError } from './dom.ts';

export interface Reaction {
  emoji: string;
  count: number;
  reacted: boolean;
}

/** Messages whose picker is open: kept across re-renders (a receipt redraws the list while one is choosing). */
const openPickers = new Set<string>();

/** The emoji the picker offers (any single emoji is accepted by the server; these are a shortcut). */
export const PICKER = ['👍', '❤️', '😂', '🎉', '😮', '👍🏽'];

/** A message's reactions after a `reaction` frame (the count is the server's; `reacted` changes for one's own). */
export function afterFrame(reactions: readonly Reaction[], frame: ServerFrame<'reaction'>, me: string): Reaction[] {
  const current = reactions.find((reaction) => reaction.emoji === frame.emoji);
  const reacted = frame.userId === me ? frame.change === 'added' : (current?.reacted ?? false);
  const next = current
    ? reactions.map((reaction) => (reaction.emoji === frame.emoji ? { emoji: frame.emoji, count: frame.count, reacted } : reaction))
    : [...reactions, { emoji: frame.emoji, count: frame.count, reacted }];
  return next.filter((reaction) => reaction.count > 0);
}

/**
 * Under a message: a chip per emoji (count, pressed when one's own; a click toggles it) and a picker. Each toggle goes
 * over the socket; the answer is the message's reactions as the server sees them for this user.
 */
export function reactionBar(
  client: LetsAppClient,
  message: Message & { reactions?: Reaction[] | undefined },
  changed: (reactions: Reaction[]) => void,
  error: HTMLElement,
): HTMLElement {
  const toggle = (emoji: string, on: boolean) =>
    void client
      .react(message.id, emoji, on)
      .then((answer) => changed(answer.reactions))
      .catch((failure: unknown) => showError(error, failure));
  const chips = (message.reactions ?? []).map((reaction) => {
    const chip = h(
      'button',
      {
        type: 'button',
        class: 'reaction',
        'data-testid': 'reaction',
        'data-emoji': reaction.emoji,
        'aria-pressed': String(reaction.reacted),
      },
      `${reaction.emoji} ${reaction.count}`,
    );
    chip.addEventListener('click', () => toggle(reaction.emoji, !reaction.reacted));
    return chip;
  });
  const picker = h(
    'span',
    { class: 'reaction-picker', 'data-testid': 'reaction-picker', hidden: !openPickers.has(message.id) },
    ...PICKER.map((emoji) => {
      const option = h('button', { type: 'button', 'data-testid': 'reaction-option', 'data-emoji': emoji }, emoji);
      option.addEventListener('click', () => {
        openPickers.delete(message.id);
        picker.hidden = true;
        toggle(emoji, true);
      });
      return option;
    }),
  );
  const open = h('button', { type: 'button', 'data-testid': 'react', 'aria-label': 'React' }, '☺+');
  open.addEventListener('click', () => {
    if (openPickers.has(message.id)) openPickers.delete(message.id);
    else openPickers.add(message.id);
    picker.hidden = !openPickers.has(message.id);
  });
  return h('span', { class: 'reactions', 'data-testid': 'reactions' }, ...chips, open, picker);
}

/**
 * The thread pane: a root's replies (oldest at the top), a reply box and follow / unfollow. Opened from a message's
 * "Thread" button; reloaded when a reply to it arrives.
 */
export class ThreadPane {
  private readonly pane = h('aside', { class: 'thread-pane', 'data-testid': 'thread-pane', hidden: true });
  private rootId: string | null = null;

  constructor(
    private readonly client: LetsAppClient,
    private readonly me: string,
    private readonly error: HTMLElement,
  ) {
    document.body.append(this.pane);
    for (const type of ['message.created', 'message.edited'] as const)
      client.on(type, (frame) => {
        if (frame.message.threadRootId && frame.message.threadRootId === this.rootId) void this.load();
      });
    client.on('message.deleted', (frame) => {
      if (frame.scope === 'everyone' && frame.message.threadRootId && frame.message.threadRootId === this.rootId) void this.load();
    });
    client.on('thread.updated', (frame) => {
      if (frame.rootId === this.rootId) void this.load();
    });
  }

  button(message: Message & { thread?: { replyCount: number } | undefined }): HTMLElement | null {
    if (message.threadRootId || message.content === null) return null;
    const count = message.thread?.replyCount ?? 0;
    const open = h('button', { type: 'button', 'data-testid': 'open-thread' }, count ? `Thread (${count})` : 'Reply in thread');
    open.addEventListener('click', () => {
      this.rootId = message.id;
      void this.load();
    });
    return open;
  }

  private async load(): Promise<void> {
    const rootId = this.rootId;
    if (!rootId) return;
    try {
      const page = await this.client.threads.get(rootId, { limit: 50 });
      if (rootId !== this.rootId) return;
      const text = (m: Message) => (m.content === null ? 'message deleted' : m.content.kind === 'text' ? m.content.text : '🔒 encrypted');
      const form = h(
        'form',
        { 'data-testid': 'thread-composer' },
        h('input', { name: 'text', 'data-testid': 'thread-text', placeholder: 'Reply in thread', autocomplete: 'off' }),
        h('button', { type: 'submit', 'data-testid': 'thread-send' }, 'Reply'),
      );
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        const input = form.querySelector('input')!;
        void this.reply(page.root, input.value).then(() => (input.value = ''));
      });
      const follow = h('button', { type: 'button', 'data-testid': 'thread-follow' }, page.thread.following ? 'Unfollow' : 'Follow');
      follow.addEventListener('click', () => void this.client.threads.follow(rootId, !page.thread.following).then(() => this.load()));
      const close = h('button', { type: 'button', 'data-testid': 'thread-close' }, 'Close');
      close.addEventListener('click', () => {
        this.rootId = null;
        this.pane.hidden = true;
      });
      this.pane.replaceChildren(
        h('header', {}, h('strong', {}, `Thread · ${page.thread.replyCount} replies`), follow, close),
        h('p', { 'data-testid': 'thread-root' }, text(page.root)),
        h('ol', {}, ...[...page.replies].reverse().map((reply) => h('li', { 'data-testid': 'thread-reply' }, text(reply)))),
        form,
      );
      this.pane.hidden = false;
      if (page.thread.unreadCount > 0) {
        await this.client.threads.markRead(rootId);
        // The conversation list's threadUnreadCount changed: the chat view reloads it.
        document.dispatchEvent(new CustomEvent('thread-read'));
      }
    } catch (failure) {
      showError(this.error, failure);
    }
  }

  private async reply(root: Message, text: string): Promise<void> {
    if (!text.trim()) return;
    const me = this.me;
    const target =
      root.groupId !== undefined ? { groupId: root.groupId } : { recipientId: root.senderId === me ? root.recipientId! : root.senderId };
    await this.client.sendMessage({ ...target, text, threadRootId: root.id }).catch((failure: unknown) => showError(this.error, failure));
  }
}
