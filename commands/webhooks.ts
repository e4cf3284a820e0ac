import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';
import { isSealed, type SealedText } from './shared/sealed.ts';

/**
 * One outgoing webhook (`webhook-<webhookId>`): a URL that hears what happens in its owner's direct conversations, or in
 * one group, as signed HTTP POSTs. The URL may carry credentials (a token in its path or query): the events hold it
 * sealed under the owner's data key (`user:<ownerId>`, src/privacy/), so erasing the owner erases it. The signing
 * secret is never in an event: it lives in the secrets store (src/webhooks/webhookSecrets.ts).
 */
export const webhookStream = (webhookId: string) => `webhook-${webhookId}`;

/** Webhooks one user may own (each is a request per matching event). */
export const MAX_WEBHOOKS_PER_OWNER = 10;
/** Webhooks watching one group, whoever registered them. */
export const MAX_WEBHOOKS_PER_GROUP = 10;

/** What a webhook can ask to hear. */
export const WEBHOOK_EVENT_KINDS = [
  'message.created',
  'message.edited',
  'message.deleted',
  'reaction.added',
  'reaction.removed',
  'member.joined',
  'member.left',
] as const;
export type WebhookEventKind = (typeof WEBHOOK_EVENT_KINDS)[number];

/** Its owner's direct conversations, or one group's conversation and membership. */
export type WebhookScope = { kind: 'direct' } | { kind: 'group'; groupId: string };

/** Why a webhook stopped: its owner turned it off, or its receiver failed this many times in a row. */
export type WebhookDisabledReason = 'owner' | 'failures';

export type WebhookRegistered = Event<
  'WebhookRegistered',
  {
    webhookId: string;
    ownerId: string;
    scope: WebhookScope;
    /** The URL, sealed with the owner's data key. */
    url: SealedText;
    /** The URL's origin without credentials, path or query: what logs and lists may show. */
    origin: string;
    events: WebhookEventKind[];
    registeredAt: string;
  }
>;
/** Only the fields that changed are present. */
export type WebhookUpdated = Event<
  'WebhookUpdated',
  { webhookId: string; ownerId: string; url?: SealedText; origin?: string; events?: WebhookEventKind[]; updatedAt: string }
>;
export type WebhookEnabled = Event<'WebhookEnabled', { webhookId: string; ownerId: string; enabledAt: string }>;
export type WebhookDisabled = Event<
  'WebhookDisabled',
  { webhookId: string; ownerId: string; reason: WebhookDisabledReason; consecutiveFailures?: number; disabledAt: string }
>;
/** A new signing secret replaced the old one (the secret itself is in the secrets store). */
export type WebhookSecretRotated = Event<'WebhookSecretRotated', { webhookId: string; ownerId: string; rotatedAt: string }>;
export type WebhookDeleted = Event<'WebhookDeleted', { webhookId: string; ownerId: string; deletedAt: string }>;

export type WebhookEvent = WebhookRegistered | WebhookUpdated | WebhookEnabled | WebhookDisabled | WebhookSecretRotated | WebhookDeleted;
export const webhookEventTypes = [
  'WebhookRegistered',
  'WebhookUpdated',
  'WebhookEnabled',
  'WebhookDisabled',
  'WebhookSecretRotated',
  'WebhookDeleted',
] as const satisfies readonly WebhookEvent['type'][];

export type RegisterWebhook = Command<
  'RegisterWebhook',
  {
    webhookId: string;
    ownerId: string;
    scope: WebhookScope;
    url: SealedText;
    origin: string;
    events: readonly string[];
    /** Looked up by the shell (mayWatchGroup): for a group, the owner may watch it now; always true for direct. */
    mayWatch: boolean;
    /** Looked up by the shell: the owner's live webhooks, and (for a group) the group's. */
    ownerWebhooks: number;
    groupWebhooks: number;
  }
>;
export type UpdateWebhook = Command<
  'UpdateWebhook',
  {
    webhookId: string;
    actorId: string;
    url?: SealedText;
    origin?: string;
    events?: readonly string[];
    enabled?: boolean;
    mayWatch: boolean;
  }
>;
/** By the deliveries, not a user: the receiver failed `consecutiveFailures` times in a row. */
export type DisableFailingWebhook = Command<'DisableFailingWebhook', { webhookId: string; consecutiveFailures: number }>;
export type RotateWebhookSecret = Command<'RotateWebhookSecret', { webhookId: string; actorId: string }>;
export type DeleteWebhook = Command<'DeleteWebhook', { webhookId: string; actorId: string }>;
export type WebhookCommand = RegisterWebhook | UpdateWebhook | DisableFailingWebhook | RotateWebhookSecret | DeleteWebhook;

export interface WebhookState {
  ownerId: string | null;
  scope: WebhookScope | null;
  events: readonly WebhookEventKind[];
  enabled: boolean;
  deleted: boolean;
}

export const initialState: WebhookState = { ownerId: null, scope: null, events: [], enabled: false, deleted: false };

export function evolve(state: WebhookState, event: WebhookEvent): WebhookState {
  switch (event.type) {
    case 'WebhookRegistered':
      return { ownerId: event.data.ownerId, scope: event.data.scope, events: event.data.events, enabled: true, deleted: false };
    case 'WebhookUpdated':
      return event.data.events ? { ...state, events: event.data.events } : state;
    case 'WebhookEnabled':
      return { ...state, enabled: true };
    case 'WebhookDisabled':
      return { ...state, enabled: false };
    case 'WebhookSecretRotated':
      return state;
    case 'WebhookDeleted':
      return { ...state, enabled: false, deleted: true };
    default:
      return assertNever(event);
  }
}

/** The event names, checked: each known, none twice, at least one. */
function eventKindsOf(events: readonly string[]): WebhookEventKind[] {
  const unknown = events.filter((name) => !(WEBHOOK_EVENT_KINDS as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new ValidationError(`events: unknown ${unknown.join(', ')}; known: ${WEBHOOK_EVENT_KINDS.join(', ')}`, { field: 'events' });
  if (events.length === 0) throw new ValidationError('events: name at least one', { field: 'events' });
  if (new Set(events).size !== events.length) throw new ValidationError('events: each at most once', { field: 'events' });
  return [...events] as WebhookEventKind[];
}

/** A URL sealed with anything but the owner's data key would escape the owner's erasure. */
function assertSealedFor(url: SealedText, ownerId: string): void {
  if (!isSealed(url) || url.kid !== `user:${ownerId}`)
    throw new ValidationError("url: must be sealed with the owner's data key", { field: 'url' });
}

const sameKinds = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((kind) => b.includes(kind));

export function decide(command: WebhookCommand, state: WebhookState): Decision<WebhookEvent> {
  const at = command.metadata.now;
  const { webhookId } = command.data;
  switch (command.type) {
    case 'RegisterWebhook': {
      const { ownerId, scope, url, origin, mayWatch, ownerWebhooks, groupWebhooks } = command.data;
      if (state.ownerId !== null) throw new ConflictError('webhook_exists', 'A webhook already uses this id');
      if (!mayWatch) throw new ForbiddenError('Only an admin of the group (or a bot that is a member) may register a webhook for it');
      const events = eventKindsOf(command.data.events);
      assertSealedFor(url, ownerId);
      if (ownerWebhooks >= MAX_WEBHOOKS_PER_OWNER)
        throw new ConflictError('webhooks_limit', `At most ${MAX_WEBHOOKS_PER_OWNER} webhooks per user: delete one first`);
      if (scope.kind === 'group' && groupWebhooks >= MAX_WEBHOOKS_PER_GROUP)
        throw new ConflictError('webhooks_limit', `At most ${MAX_WEBHOOKS_PER_GROUP} webhooks per group: delete one first`);
      return [{ type: 'WebhookRegistered', data: { webhookId, ownerId, scope, url, origin, events, registeredAt: at } }];
    }
    case 'UpdateWebhook': {
      const ownerId = ownedBy(state, webhookId, command.data.actorId);
      const { url, origin, enabled, mayWatch } = command.data;
      const events = command.data.events === undefined ? undefined : eventKindsOf(command.data.events);
      if (url !== undefined) assertSealedFor(url, ownerId);
      // Turning a group's webhook back on needs the right to watch the group now.
      if (enabled === true && !state.enabled && !mayWatch)
        throw new ForbiddenError('Only an admin of the group (or a bot that is a member) may re-enable its webhook');
      const changes = {
        ...(url !== undefined ? { url, origin } : {}),
        ...(events !== undefined && !sameKinds(events, state.events) ? { events } : {}),
      };
      // One event per command: a change of enabled state goes alone (the route sends it as its own command).
      if (enabled !== undefined && enabled !== state.enabled) {
        if (Object.keys(changes).length > 0) throw new ValidationError('enabled: change it on its own', { field: 'enabled' });
        return enabled
          ? [{ type: 'WebhookEnabled', data: { webhookId, ownerId, enabledAt: at } }]
          : [{ type: 'WebhookDisabled', data: { webhookId, ownerId, reason: 'owner', disabledAt: at } }];
      }
      if (Object.keys(changes).length === 0) return [];
      return [{ type: 'WebhookUpdated', data: { webhookId, ownerId, ...changes, updatedAt: at } }];
    }
    case 'DisableFailingWebhook':
      if (state.ownerId === null || state.deleted || !state.enabled) return [];
      return [
        {
          type: 'WebhookDisabled',
          data: {
            webhookId,
            ownerId: state.ownerId,
            reason: 'failures',
            consecutiveFailures: command.data.consecutiveFailures,
            disabledAt: at,
          },
        },
      ];
    case 'RotateWebhookSecret': {
      const ownerId = ownedBy(state, webhookId, command.data.actorId);
      return [{ type: 'WebhookSecretRotated', data: { webhookId, ownerId, rotatedAt: at } }];
    }
    case 'DeleteWebhook': {
      const ownerId = ownedBy(state, webhookId, command.data.actorId);
      return [{ type: 'WebhookDeleted', data: { webhookId, ownerId, deletedAt: at } }];
    }
    default:
      return assertNever(command);
  }
}

/** The owner's id; anyone else (or a deleted webhook) is told it does not exist. */
function ownedBy(state: WebhookState, webhookId: string, actorId: string): string {
  if (state.ownerId === null || state.deleted || state.ownerId !== actorId) throw new NotFoundError('Webhook', { webhookId });
  return state.ownerId;
}

export const webhookDecider: Decider<WebhookCommand, WebhookEvent, WebhookState> = {
  eventTypes: webhookEventTypes,
  initialState,
  evolve,
  decide,
};
