import type { MessageContent, MessageEvent } from '../commands/messages.ts';
import { messageEventTypes, revealedContent } from '../commands/messages.ts';
import { eventOf } from '../commands/shared/events.ts';
import { ERASED } from '../commands/shared/sealed.ts';
import type { ProjectedDoc, Projector } from '../src/projection/projector.ts';
import { CONTACTS } from './contacts.ts';
import { hiddenByBlock } from './messageDocs.ts';

export const MESSAGE_SEARCH = 'message_search';

/**
 * One readable text message, as search finds it: the text (opened; the log holds it sealed), where and when it was said,
 * who may not see it. A message deleted for everyone, expired or erased has no document: deleting the document takes its
 * words out of the full-text index too (see the read store's text indexes), so search is erasable like every read model.
 * End-to-end encrypted messages are not indexed (the server cannot read them).
 */
export interface MessageSearchDoc extends ProjectedDoc {
  conversationId: string;
  senderId: string;
  text: string;
  hasFile: boolean;
  sentAt: string;
  position: number;
  /** Who deleted it for themselves, or never saw it (a direct message sent across a block). */
  hiddenFor: string[];
}

/** Message events that end a message's life in every view (newer deciders may add them; matched by name). */
const GONE = new Set(['MessageDeleted', 'MessageExpired', 'MessageContentShredded']);

const searchableText = (content: MessageContent): string | null =>
  content.kind === 'text' && content.text !== ERASED && content.text.trim() !== '' ? content.text : null;

export const messageSearchProjector: Projector = {
  name: MESSAGE_SEARCH,
  collections: {
    // The fields every search filters on are columns (sentAt, hasFile, senderId) or an element table (hiddenFor), so the
    // filter costs no JSON parse per matching row.
    [MESSAGE_SEARCH]: [
      { key: { text: 1 }, text: true },
      { key: { conversationId: 1, position: -1 } },
      // PostgreSQL bounds a search to the newest positions by it (the embedded store uses its rowids).
      { key: { position: 1 } },
      { key: { senderId: 1 } },
      { key: { sentAt: 1 } },
      { key: { hasFile: 1 } },
      { key: { hiddenFor: 1 }, multikey: true },
    ],
  },
  reads: [CONTACTS],
  handles: new Set(['MessageSent', 'MessageEdited', 'MessageHidden', ...GONE]),
  async apply(recorded, context) {
    const { messageId: id } = recorded.data as { messageId: string };
    if (GONE.has(recorded.type)) return context.project<MessageSearchDoc>(MESSAGE_SEARCH, id, recorded, () => null);
    const event = eventOf<MessageEvent>(messageEventTypes, recorded);
    switch (event.type) {
      case 'MessageSent': {
        const data = event.data;
        const text = searchableText(revealedContent(data.content));
        if (text === null) return;
        const hiddenFor = await hiddenByBlock(data, context);
        return context.project<MessageSearchDoc>(
          MESSAGE_SEARCH,
          id,
          recorded,
          (doc) =>
            doc ?? {
              _id: id,
              conversationId: data.conversationId,
              senderId: data.senderId,
              text,
              hasFile: data.attachments.length > 0,
              sentAt: data.sentAt,
              position: recorded.position,
              hiddenFor,
            },
        );
      }
      case 'MessageEdited': {
        const text = searchableText(revealedContent(event.data.content));
        return context.project<MessageSearchDoc>(MESSAGE_SEARCH, id, recorded, (doc) => doc && (text === null ? null : { ...doc, text }));
      }
      case 'MessageHidden':
        return context.project<MessageSearchDoc>(
          MESSAGE_SEARCH,
          id,
          recorded,
          (doc) => doc && (doc.hiddenFor.includes(event.data.userId) ? doc : { ...doc, hiddenFor: [...doc.hiddenFor, event.data.userId] }),
        );
      // Deleted for everyone (above), and the events of newer features that leave the text as it is.
      default:
        return;
    }
  },
};
