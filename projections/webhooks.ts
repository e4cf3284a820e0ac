import { assertNever, eventOf } from '../commands/shared/events.ts';
import { isSealed, type SealedText } from '../commands/shared/sealed.ts';
import type { AccountDeleted } from '../commands/users.ts';
import {
  webhookEventTypes,
  type WebhookDisabledReason,
  type WebhookEvent,
  type WebhookEventKind,
  type WebhookScope,
} from '../commands/webhooks.ts';
import type { ProjectedDoc, Projector } from '../src/projection/projector.ts';

/**
 * `webhooks`: one document per live webhook, with its URL opened from the event (a webhook whose owner's key was
 * erased has no document, so nothing is delivered to it). `groupId` is null for a webhook of its owner's direct
 * conversations.
 */
export interface WebhookDoc extends ProjectedDoc {
  ownerId: string;
  scope: WebhookScope['kind'];
  groupId: string | null;
  url: string;
  origin: string;
  events: WebhookEventKind[];
  enabled: boolean;
  disabledReason: WebhookDisabledReason | null;
  createdAt: string;
  updatedAt: string;
}

export const WEBHOOKS = 'webhooks';

const opened = (url: SealedText): string | null => (isSealed(url) ? null : url.plain);

export const webhooksProjector: Projector = {
  name: WEBHOOKS,
  collections: { [WEBHOOKS]: [{ key: { ownerId: 1 } }, { key: { groupId: 1 } }] },
  handles: new Set([...webhookEventTypes, 'AccountDeleted']),
  async apply(recorded, context) {
    if (recorded.type === 'AccountDeleted') {
      // A deleted account's URLs are personal data: gone from the read store with it, and nothing is delivered.
      const { userId } = recorded.data as AccountDeleted['data'];
      return context.projectMany<WebhookDoc>(WEBHOOKS, { ownerId: userId }, recorded, () => null);
    }
    const event = eventOf<WebhookEvent>(webhookEventTypes, recorded);
    const { webhookId } = event.data;
    switch (event.type) {
      case 'WebhookRegistered': {
        const { ownerId, scope, url, origin, events, registeredAt } = event.data;
        const plain = opened(url);
        return context.project<WebhookDoc>(WEBHOOKS, webhookId, recorded, () =>
          plain === null
            ? null
            : {
                _id: webhookId,
                ownerId,
                scope: scope.kind,
                groupId: scope.kind === 'group' ? scope.groupId : null,
                url: plain,
                origin,
                events,
                enabled: true,
                disabledReason: null,
                createdAt: registeredAt,
                updatedAt: registeredAt,
              },
        );
      }
      case 'WebhookUpdated': {
        const { url, origin, events, updatedAt } = event.data;
        return context.project<WebhookDoc>(WEBHOOKS, webhookId, recorded, (doc) => {
          if (!doc) return null;
          if (url !== undefined) {
            const plain = opened(url);
            if (plain === null) return null;
            return { ...doc, url: plain, origin: origin ?? doc.origin, ...(events ? { events } : {}), updatedAt };
          }
          return { ...doc, ...(events ? { events } : {}), updatedAt };
        });
      }
      case 'WebhookEnabled':
        return context.project<WebhookDoc>(WEBHOOKS, webhookId, recorded, (doc) =>
          doc ? { ...doc, enabled: true, disabledReason: null, updatedAt: event.data.enabledAt } : null,
        );
      case 'WebhookDisabled':
        return context.project<WebhookDoc>(WEBHOOKS, webhookId, recorded, (doc) =>
          doc ? { ...doc, enabled: false, disabledReason: event.data.reason, updatedAt: event.data.disabledAt } : null,
        );
      case 'WebhookSecretRotated':
        return context.project<WebhookDoc>(WEBHOOKS, webhookId, recorded, (doc) =>
          doc ? { ...doc, updatedAt: event.data.rotatedAt } : null,
        );
      case 'WebhookDeleted':
        return context.project<WebhookDoc>(WEBHOOKS, webhookId, recorded, () => null);
      default:
        return assertNever(event);
    }
  },
};
