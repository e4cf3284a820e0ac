import type { MessageEvent } from '../commands/messages.ts';
import { ERASED, textOf } from '../commands/shared/sealed.ts';
import { eventOf, isEventOf } from '../commands/shared/events.ts';
import { transcriptEventTypes, type TranscriptEvent } from '../commands/transcripts.ts';
import type { ProjectedDoc, Projector } from '../src/projection/projector.ts';
import type { Collection } from '../src/readstore/port.ts';

/** `message_transcripts`: one document per voice note and language (`<messageId>:<language>`). */
export interface TranscriptDoc extends ProjectedDoc {
  messageId: string;
  conversationId: string;
  mediaId: string;
  language: string;
  /** The opened text; `[erased]` once the message was deleted for everyone (its content key is gone). */
  text: string;
  requestedBy: string;
  model: string;
  transcribedAt: string;
  /** The event's position: its feed entry, rewritten when the message is deleted. */
  position: number;
}

export const MESSAGE_TRANSCRIPTS = 'message_transcripts';
export const transcriptDocId = (messageId: string, language: string) => `${messageId}:${language}`;

/** A transcript as readers see it (REST, the `message.transcribed` frame, messages' `transcripts`). */
export interface PublicTranscript {
  messageId: string;
  mediaId: string;
  language: string;
  text: string;
  createdAt: string;
}

export const toPublicTranscript = (doc: TranscriptDoc): PublicTranscript => ({
  messageId: doc.messageId,
  mediaId: doc.mediaId,
  language: doc.language,
  text: doc.text,
  createdAt: doc.transcribedAt,
});

/** The transcripts of these messages by message id, oldest first, in one query (joined into message reads). */
export async function transcriptsOf(
  collection: Collection<TranscriptDoc>,
  messageIds: readonly string[],
): Promise<Map<string, PublicTranscript[]>> {
  const byMessage = new Map<string, PublicTranscript[]>();
  if (messageIds.length === 0) return byMessage;
  for (const doc of await collection.find({ messageId: { $in: [...messageIds] } }, { sort: { position: 1 } }))
    byMessage.set(doc.messageId, [...(byMessage.get(doc.messageId) ?? []), toPublicTranscript(doc)]);
  return byMessage;
}

/** The message events that erase its content, transcripts included. */
const ERASING = ['MessageDeleted', 'MessageExpired', 'MessageContentShredded'] as const satisfies readonly MessageEvent['type'][];

export const transcriptsProjector: Projector = {
  // 2: an expiry erases the text as a delete for everyone does.
  version: 2,
  name: MESSAGE_TRANSCRIPTS,
  collections: { [MESSAGE_TRANSCRIPTS]: [{ key: { messageId: 1 } }] },
  handles: new Set([...transcriptEventTypes, ...ERASING]),
  async apply(recorded, context) {
    // Deleted for everyone or expired: the text goes from the read store too (the log keeps only its ciphertext, unopenable
    // once the message's key is destroyed).
    if (isEventOf<MessageEvent>(ERASING, recorded)) {
      return context.projectMany<TranscriptDoc>(
        MESSAGE_TRANSCRIPTS,
        { messageId: recorded.data.messageId },
        recorded,
        (doc) => doc && { ...doc, text: ERASED },
      );
    }
    const { data } = eventOf<TranscriptEvent>(transcriptEventTypes, recorded);
    const id = transcriptDocId(data.messageId, data.language);
    return context.project<TranscriptDoc>(
      MESSAGE_TRANSCRIPTS,
      id,
      recorded,
      (doc) =>
        doc ?? {
          _id: id,
          messageId: data.messageId,
          conversationId: data.conversationId,
          mediaId: data.mediaId,
          language: data.language,
          text: textOf(data.text),
          requestedBy: data.requestedBy,
          model: data.model,
          transcribedAt: data.transcribedAt,
          position: recorded.position,
        },
    );
  },
};
