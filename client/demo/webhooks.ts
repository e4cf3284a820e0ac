import type { LetsAppClient } from '../index.ts';
import type { Webhook } from '../webhooks.ts';
import { byId, formValues, h, showError } from './dom.ts';

const KINDS = [
  'message.created',
  'message.edited',
  'message.deleted',
  'reaction.added',
  'reaction.removed',
  'member.joined',
  'member.left',
];

/**
 * "Webhooks" in the sidebar: register one (URL, events, optionally a group you administer), see its secret once, and
 * for each of yours: turn it off or on, rotate its secret, delete it, and read its latest deliveries.
 */
export function wireWebhooks(client: LetsAppClient): void {
  const form = byId<HTMLFormElement>('new-webhook');
  const list = byId('webhook-list');
  const status = byId('webhook-status');
  const events = byId('webhook-events');
  events.replaceChildren(
    ...KINDS.map((kind) =>
      h('label', {}, h('input', { type: 'checkbox', name: 'event', value: kind, checked: kind === 'message.created' }), ` ${kind}`),
    ),
  );

  const refresh = async () => {
    const webhooks = await client.webhooks.list();
    list.replaceChildren(...webhooks.map((webhook) => row(webhook)));
  };

  const row = (webhook: Webhook): HTMLElement => {
    const deliveries = h('ol', { class: 'webhook-deliveries', 'data-testid': 'webhook-deliveries' });
    const act = (work: () => Promise<unknown>) => () =>
      void work()
        .then(refresh)
        .catch((error: unknown) => showError(status, error));
    const toggle = h('button', { type: 'button', 'data-testid': 'webhook-toggle' }, webhook.enabled ? 'Turn off' : 'Turn on');
    toggle.addEventListener(
      'click',
      act(() => client.webhooks.update(webhook.id, { enabled: !webhook.enabled })),
    );
    const rotate = h('button', { type: 'button', 'data-testid': 'webhook-rotate' }, 'New secret');
    rotate.addEventListener(
      'click',
      act(async () => {
        status.textContent = `New secret (shown once): ${await client.webhooks.rotateSecret(webhook.id)}`;
      }),
    );
    const remove = h('button', { type: 'button', 'data-testid': 'webhook-delete' }, 'Delete');
    remove.addEventListener(
      'click',
      act(() => client.webhooks.delete(webhook.id)),
    );
    const show = h('button', { type: 'button', 'data-testid': 'webhook-show-deliveries' }, 'Deliveries');
    show.addEventListener('click', () => {
      client.webhooks
        .deliveries(webhook.id, { limit: 10 })
        .then((page) =>
          deliveries.replaceChildren(
            ...page.deliveries.map((delivery) =>
              h(
                'li',
                {},
                `${delivery.type} · ${delivery.status} · ${delivery.attempts} tries`,
                delivery.lastStatus === null ? '' : ` · HTTP ${delivery.lastStatus}`,
                delivery.lastError ? ` · ${delivery.lastError}` : '',
              ),
            ),
          ),
        )
        .catch((error: unknown) => showError(status, error));
    });
    const scope = webhook.scope.kind === 'group' ? `group ${webhook.scope.groupId.slice(0, 8)}` : 'direct conversations';
    const state = webhook.enabled ? 'on' : webhook.disabledReason === 'failures' ? 'off after repeated failures' : 'off';
    return h(
      'li',
      { 'data-testid': 'webhook', 'data-webhook-id': webhook.id },
      h('div', {}, `${webhook.origin} · ${scope} · ${webhook.events.join(', ')} · ${state}`),
      toggle,
      rotate,
      remove,
      show,
      deliveries,
    );
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = formValues(form);
    const chosen = [...form.querySelectorAll<HTMLInputElement>('input[name="event"]:checked')].map((input) => input.value);
    client.webhooks
      .register({
        url: values.url ?? '',
        events: chosen as Webhook['events'],
        ...(values.groupId ? { groupId: values.groupId } : {}),
      })
      .then(({ secret }) => {
        status.textContent = `Registered. Its signing secret (shown once): ${secret}`;
        form.reset();
        return refresh();
      })
      .catch((error: unknown) => showError(status, error));
  });
  void refresh().catch((error: unknown) => showError(status, error));
}
