import type { LetsAppClient } from '../index.ts';
import { byId, h, showError } from './dom.ts';
import type { ChatView } from './chat.ts';

const LABELS = { off: 'off', '24h': '24 hours', '7d': '7 days', '90d': '90 days' } as const;
type TimerName = keyof typeof LABELS;

/**
 * The open conversation's disappearing-messages timer: a selector in its header (a group's non-admins are refused by
 * the server, shown under the conversation), a notice in the conversation when anyone changes it, and expired messages
 * taken off the screen.
 */
export class DisappearingView {
  private readonly select = byId<HTMLSelectElement>('disappearing-timer');
  private readonly error = byId('chat-error');
  /** The latest change, shown above the conversation's messages (a re-render of the list keeps it). */
  private readonly notice = h('p', { class: 'system', 'data-testid': 'timer-notice', hidden: true });
  private conversationId: string | null = null;

  constructor(
    private readonly client: LetsAppClient,
    private readonly chat: ChatView,
    private readonly me: string,
  ) {
    // The chat view sets the title on each conversation it opens: follow it rather than reach into it.
    new MutationObserver(() => void this.follow()).observe(byId('conversation-title'), {
      childList: true,
      characterData: true,
      subtree: true,
    });
    byId('messages').before(this.notice);
    this.select.addEventListener('change', () => void this.change(this.select.value as TimerName));
    client.on('conversation.timer', (frame) => {
      if (frame.conversationId !== this.conversationId) return;
      this.select.value = frame.timer;
      const who = frame.byUserId === this.me ? 'You' : 'Someone';
      const text =
        frame.timer === 'off' ? `${who} turned off disappearing messages` : `${who} set messages to disappear after ${LABELS[frame.timer]}`;
      this.notice.textContent = text;
      this.notice.hidden = false;
    });
    // Gone for everyone: the page is read again without it.
    client.on('message.expired', () => chat.refreshSoon());
  }

  private async follow(): Promise<void> {
    const target = this.chat.current?.target;
    if (!target) return;
    this.notice.hidden = true;
    try {
      const timer = await this.client.disappearingTimer(target);
      this.conversationId = timer.conversationId;
      this.select.value = timer.timer;
    } catch (error) {
      showError(this.error, error);
    }
  }

  private async change(timer: TimerName): Promise<void> {
    const target = this.chat.current?.target;
    if (!target) return;
    this.error.textContent = '';
    try {
      this.select.value = (await this.client.setDisappearingTimer(target, timer)).timer;
    } catch (error) {
      showError(this.error, error);
      await this.follow();
    }
  }
}
