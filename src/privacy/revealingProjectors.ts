import type { RecordedEvent } from '../eventstore/port.ts';
import type { Projector } from '../projection/projector.ts';
import { revealEvent } from './sealing.ts';
import { messageKeyId, userKeyId, type ShreddingKeys } from './shreddingKeys.ts';

/** Event types whose data may hold sealed fields (the latest versions of them). */
export const SEALED_EVENT_TYPES: ReadonlySet<string> = new Set([
  'MessageSent',
  'MessageEdited',
  // A scheduled message's text, under the content key of the message it becomes.
  'MessageScheduled',
  'ScheduledMessageEdited',
  // A voice note's transcript, under its message's content key.
  'MessageTranscribed',
  'PushSubscriptionAdded',
  // A webhook's URL (it may carry credentials), under its owner's data key.
  'WebhookRegistered',
  'WebhookUpdated',
  // Personal fields, under the user's data key (src/privacy/personalData.ts).
  'UserRegistered',
  // A bot's username and display name, under the bot's data key.
  'BotCreated',
  'ProfileUpdated',
  'ContactAdded',
  'ContactRenamed',
  // Leta's conversation, under the user's data key.
  'AiPromptSubmitted',
  'AiReplyCompleted',
]);

/**
 * The projectors, each seeing events with their sealed fields opened (`{ plain }`) where the key still exists and
 * left sealed (shown `[erased]`) where it does not. Projectors stay free of keys and I/O beyond the read store.
 *
 * A MessageDeleted makes this thread forget the message's key, so a later rebuild asks the store (the key is
 * destroyed right after the delete is appended; the cache's TTL covers the moment between the two).
 */
export function revealingProjectors(projectors: readonly Projector[], keys: Pick<ShreddingKeys, 'get' | 'forget'>): Projector[] {
  let last: { event: RecordedEvent; revealed: Promise<RecordedEvent> } | null = null;
  // Projectors apply one event in turn (applyInOrder): the event is revealed once for all of them.
  const revealed = (event: RecordedEvent): Promise<RecordedEvent> => {
    if (last?.event !== event) last = { event, revealed: revealEvent(event, keys) };
    return last.revealed;
  };
  return projectors.map((projector) => ({
    ...projector,
    apply: async (event, context) => {
      if (event.type === 'MessageDeleted' || event.type === 'MessageContentShredded')
        keys.forget(messageKeyId((event.data as { messageId: string }).messageId));
      if (event.type === 'AccountDeleted') keys.forget(userKeyId((event.data as { userId: string }).userId));
      return projector.apply(SEALED_EVENT_TYPES.has(event.type) ? await revealed(event) : event, context);
    },
  }));
}
