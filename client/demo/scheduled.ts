import type { LetsAppClient } from '../client.ts';
import type { ScheduledMessage } from '../scheduledAndSearch.ts';
import type { ChatView } from './chat.ts';
import { byId, h, showError } from './dom.ts';

/** The server's bounds for `sendAt` (see Scheduled messages in the README): at least 10 s ahead. */
const MIN_AHEAD_MS = 10_000;
const REASONS: Record<NonNullable<ScheduledMessage['reason']>, string> = {
  blocked: 'the recipient blocked you',
  not_a_member: 'you are no longer in the group',
  recipient_gone: 'the recipient is gone',
};

/** `datetime-local` value (local time, to the second) for a moment. */
export function localInputValue(at: Date): string {
  const local = new Date(at.getTime() - at.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 19);
}

/**
 * Schedule-for-later: a time input and a "Send later" button beside the composer (the composer's text goes at that
 * time), and the list of one's scheduled messages (pending and failed) with edit and cancel; a failed one shows why.
 */
export class ScheduledView {
  private readonly when = h('input', {
    type: 'datetime-local',
    step: 1,
    name: 'sendAt',
    'aria-label': 'Send at',
    'data-testid': 'schedule-at',
  });
  private readonly list = h('ul', { class: 'scheduled-list', 'data-testid': 'scheduled-list' });
  private readonly error = h('p', { class: 'error', role: 'alert', 'data-testid': 'schedule-error' });

  constructor(
    private readonly client: LetsAppClient,
    private readonly chat: ChatView,
  ) {
    const later = h('button', { type: 'button', 'data-testid': 'send-later' }, 'Send later');
    later.addEventListener('click', () => void this.act(() => this.schedule()));
    const composer = byId<HTMLFormElement>('composer');
    composer.after(h('div', { class: 'schedule', 'data-testid': 'schedule' }, this.when, later), this.error);
    const section = h('section', { class: 'scheduled-panel' }, h('h3', {}, 'Scheduled messages'), this.list);
    byId('call-history').after(section);
    this.resetTime();
    client.on('scheduled.failed', () => void this.load());
    // A scheduled message arrives as a message of its own when its time comes: the list follows.
    client.on('message.created', (frame) => {
      if (this.list.querySelector(`[data-message-id="${frame.message.id}"]`)) void this.load();
    });
    void this.load();
  }

  private resetTime(): void {
    this.when.value = localInputValue(new Date(Date.now() + 5 * 60_000));
  }

  private async act(action: () => Promise<unknown>): Promise<void> {
    this.error.textContent = '';
    try {
      await action();
      await this.load();
    } catch (failure) {
      showError(this.error, failure);
    }
  }

  private async schedule(): Promise<void> {
    const open = this.chat.current;
    if (!open) throw new Error('Open a conversation first');
    const input = byId<HTMLFormElement>('composer').elements.namedItem('text') as HTMLInputElement;
    const text = input.value.trim();
    if (text === '') throw new Error('Write the message first');
    const sendAt = new Date(this.when.value);
    if (Number.isNaN(sendAt.getTime()) || sendAt.getTime() - Date.now() < MIN_AHEAD_MS)
      throw new Error('Pick a time at least 10 seconds ahead');
    const target = open.target.groupId !== undefined ? { groupId: open.target.groupId } : { recipientId: open.target.with };
    await this.client.scheduled.schedule({ ...target, text, sendAt });
    input.value = '';
    this.resetTime();
  }

  private async load(): Promise<void> {
    const [pending, failed] = await Promise.all([
      this.client.scheduled.list({ status: 'pending' }),
      this.client.scheduled.list({ status: 'failed' }),
    ]).catch((failure: unknown) => {
      showError(this.error, failure);
      return [[], []];
    });
    this.list.replaceChildren(...[...failed, ...pending].map((item) => this.item(item)));
  }

  private item(item: ScheduledMessage): HTMLElement {
    const li = h(
      'li',
      { 'data-testid': 'scheduled-item', 'data-status': item.status, 'data-message-id': item.messageId },
      h('small', {}, new Date(item.sendAt).toLocaleString()),
      ' ',
      h('span', { 'data-testid': 'scheduled-text' }, item.text ?? ''),
    );
    if (item.status === 'failed') {
      li.append(
        h('p', { class: 'error', 'data-testid': 'scheduled-reason' }, `Not sent: ${item.reason ? REASONS[item.reason] : 'failed'}`),
        this.button('Dismiss', 'scheduled-cancel', () => this.client.scheduled.cancel(item.id)),
      );
      return li;
    }
    const text = h('input', { value: item.text ?? '', 'aria-label': 'Scheduled text', 'data-testid': 'scheduled-edit-text' });
    const when = h('input', {
      type: 'datetime-local',
      step: 1,
      value: localInputValue(new Date(item.sendAt)),
      'aria-label': 'Scheduled time',
      'data-testid': 'scheduled-edit-at',
    });
    const editor = h('span', { hidden: true }, text, when);
    const shownAt = when.value;
    // The time is sent only when changed: the one set may be under 10 s ahead by now.
    const save = this.button('Save', 'scheduled-save', () =>
      this.client.scheduled.edit(item.id, { text: text.value, ...(when.value === shownAt ? {} : { sendAt: new Date(when.value) }) }),
    );
    save.hidden = true;
    const edit = h('button', { type: 'button', 'data-testid': 'scheduled-edit' }, 'Edit');
    edit.addEventListener('click', () => {
      editor.hidden = false;
      save.hidden = false;
      edit.hidden = true;
    });
    li.append(
      ' ',
      edit,
      editor,
      save,
      this.button('Cancel', 'scheduled-cancel', () => this.client.scheduled.cancel(item.id)),
    );
    return li;
  }

  private button(label: string, testId: string, action: () => Promise<unknown>): HTMLButtonElement {
    const button = h('button', { type: 'button', 'data-testid': testId }, label);
    button.addEventListener('click', () => void this.act(action));
    return button;
  }
}
