import { inviteTokenOf, type GroupSettings, type LetsAppClient } from '../index.ts';
import { byId, formValues, h, showError } from './dom.ts';
import type { ChatView } from './chat.ts';

/** A link to this page that opens the join form with the token filled in. */
export const inviteLinkOf = (token: string) => `${location.origin}${location.pathname}#join=${token}`;

/**
 * The open group's settings, invite links and join requests (the panel under its title), and the sidebar's form to
 * preview and join a group by link. Refusals (`admins_only`, `invite_expired`, …) show under the form that caused them.
 */
export class GroupSettingsView {
  private readonly panel = byId<HTMLDetailsElement>('group-settings');
  private readonly form = byId<HTMLFormElement>('group-settings-form');
  private readonly error = byId('group-settings-error');
  private groupId: string | null = null;

  constructor(
    private readonly client: LetsAppClient,
    private readonly chat: ChatView,
    me: string,
  ) {
    // The chat view sets the title on each conversation it opens: follow it rather than reach into it.
    new MutationObserver(() => void this.follow()).observe(byId('conversation-title'), {
      childList: true,
      characterData: true,
      subtree: true,
    });
    client.on('group.updated', (frame) => {
      if (frame.groupId === this.groupId) void this.load();
      // The requester is told how their request went (they see no group until it is approved).
      if ((frame.change === 'join_request_approved' || frame.change === 'join_request_declined') && frame.userId === me)
        byId('join-result').textContent =
          frame.change === 'join_request_approved' ? 'Your request to join was approved' : 'Your request to join was declined';
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.act(() => this.save());
    });
    byId('create-invite').addEventListener('click', () => void this.act(() => this.createInvite()));
    const join = byId<HTMLFormElement>('join-group');
    join.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.joinBy(join, (event.submitter as HTMLButtonElement | null)?.value === 'preview');
    });
    const fromHash = /^#join=([A-Za-z0-9_-]{32})$/.exec(location.hash)?.[1];
    if (fromHash) (join.elements.namedItem('link') as HTMLInputElement).value = fromHash;
  }

  private async follow(): Promise<void> {
    const groupId = this.chat.current?.target.groupId ?? null;
    this.panel.hidden = groupId === null;
    if (groupId === this.groupId) return;
    this.groupId = groupId;
    if (groupId) await this.load();
  }

  private async act(action: () => Promise<void>): Promise<void> {
    this.error.textContent = '';
    try {
      await action();
      await this.load();
    } catch (error) {
      showError(this.error, error);
    }
  }

  private async load(): Promise<void> {
    const groupId = this.groupId;
    if (!groupId) return;
    const { group } = await this.client.api.request('get', '/api/groups/{id}', { params: { id: groupId } });
    for (const [name, value] of Object.entries(group.settings)) {
      const field = this.form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null;
      if (field instanceof HTMLInputElement && field.type === 'checkbox') field.checked = value === true;
      else if (field) field.value = String(value);
    }
    // Links and requests are for those the settings allow: others see the settings only.
    const invites = await this.client.groups.listInvites(groupId).catch(() => []);
    byId('invite-links').replaceChildren(
      ...invites.map((invite) =>
        h(
          'li',
          { 'data-testid': 'invite-link', 'data-status': invite.status },
          h('input', { readonly: true, value: inviteLinkOf(invite.token), 'aria-label': 'invite link', 'data-testid': 'invite-link-url' }),
          ` ${invite.uses}/${invite.maxUses} used · ${invite.status} · until ${new Date(invite.expiresAt).toLocaleString()} `,
          invite.status === 'open' ? this.copyButton(inviteLinkOf(invite.token)) : null,
          invite.status === 'open' ? this.button('Revoke', () => this.client.groups.revokeInvite(groupId, invite.id)) : null,
        ),
      ),
    );
    const requests = await this.client.groups.listJoinRequests(groupId).catch(() => []);
    byId('join-requests').replaceChildren(
      ...requests.map((request) =>
        h(
          'li',
          { 'data-testid': 'join-request' },
          `${request.userId.slice(0, 8)} asks to join `,
          this.button('Approve', () => this.client.groups.approveJoinRequest(groupId, request.id)),
          this.button('Decline', () => this.client.groups.declineJoinRequest(groupId, request.id)),
        ),
      ),
    );
  }

  /** Copies the link to the clipboard (a secure origin: https, localhost); elsewhere the link is selected to copy by hand. */
  private copyButton(link: string): HTMLButtonElement {
    const button = h('button', { type: 'button', 'data-testid': 'copy-invite' }, 'Copy');
    button.addEventListener('click', () => {
      const shown = button.parentElement?.querySelector('input');
      shown?.select();
      void (navigator.clipboard?.writeText(link) ?? Promise.reject(new Error('no clipboard'))).then(
        () => (button.textContent = 'Copied'),
        () => (button.textContent = 'Selected: copy it'),
      );
    });
    return button;
  }

  private button(label: string, action: () => Promise<unknown>): HTMLButtonElement {
    const button = h('button', { type: 'button' }, label);
    button.addEventListener('click', () => void this.act(async () => void (await action())));
    return button;
  }

  private async save(): Promise<void> {
    const values = formValues(this.form);
    const settings: Partial<GroupSettings> = {
      send: values.send as GroupSettings['send'],
      editInfo: values.editInfo as GroupSettings['editInfo'],
      addMembers: values.addMembers as GroupSettings['addMembers'],
      approveJoins: values.approveJoins === 'on',
    };
    await this.client.groups.changeSettings(this.groupId!, settings);
  }

  private async createInvite(): Promise<void> {
    const values = formValues(byId<HTMLFormElement>('group-settings-form'));
    const hours = Number(values.inviteHours || 24);
    const maxUses = Number(values.inviteUses || 10);
    const invite = await this.client.groups.createInvite(this.groupId!, { expiresInSeconds: Math.round(hours * 3600), maxUses });
    byId('new-invite').textContent = inviteLinkOf(invite.token);
  }

  private async joinBy(form: HTMLFormElement, previewOnly: boolean): Promise<void> {
    const out = byId('join-result');
    out.textContent = '';
    try {
      const link = inviteTokenOf(formValues(form).link ?? '');
      if (previewOnly) {
        const preview = await this.client.groups.previewInvite(link);
        out.textContent = `${preview.name} · ${preview.memberCount} members${preview.approvalRequired ? ' · admins approve joins' : ''}`;
        return;
      }
      const result = await this.client.groups.joinByInvite(link);
      out.textContent = result.status === 'joined' ? `Joined ${result.group.name}` : 'Asked to join: an admin will approve or decline';
      form.reset();
    } catch (error) {
      showError(out, error);
    }
  }
}
