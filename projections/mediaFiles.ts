import type { MediaEvent, MediaFacts, VoiceFacts } from '../commands/media.ts';
import { mediaEventTypes } from '../commands/media.ts';
import type { MessageEvent } from '../commands/messages.ts';
import { assertNever, eventOf, isEventOf } from '../commands/shared/events.ts';
import type { ProjectedDoc, ProjectionContext, Projector } from '../src/projection/projector.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';

export interface MediaReference {
  messageId: string;
  conversationId: string;
  /** Where the message stands: a group member may read it only if they were a member then. */
  position: number;
}

/** `media_files` (seed name): one document per media id; `references` are the messages that attach it. */
export interface MediaDoc extends ProjectedDoc, Omit<MediaFacts, 'mediaId'> {
  uploadedAt: string;
  state: 'live' | 'deleted' | 'expired';
  references: MediaReference[];
  /** The referencing message ids, multikey-indexed: "the media of a message" is an indexed query. */
  referencedBy: string[];
}

/** What a message shows of an attachment; a deleted or expired one is a tombstone. */
export interface PublicAttachment {
  id: string;
  kind: MediaFacts['kind'] | null;
  mime: string | null;
  size: number | null;
  filename: string | null;
  width: number | null;
  height: number | null;
  /** A voice note's duration and waveform; null for any other file (and a deleted one). */
  voice: VoiceFacts | null;
  deleted: boolean;
}

export const MEDIA_FILES = 'media_files';

export const toPublicAttachment = (id: string, doc: MediaDoc | null): PublicAttachment =>
  doc && doc.state === 'live'
    ? {
        id,
        kind: doc.kind,
        mime: doc.mime,
        size: doc.size,
        filename: doc.filename,
        width: doc.width,
        height: doc.height,
        voice: doc.voice ?? null,
        deleted: false,
      }
    : { id, kind: null, mime: null, size: null, filename: null, width: null, height: null, voice: null, deleted: true };

async function onMessage(event: MessageEvent, recorded: RecordedEvent, context: ProjectionContext) {
  switch (event.type) {
    case 'MessageSent': {
      const { messageId, conversationId, attachments } = event.data;
      for (const mediaId of attachments) {
        await context.project<MediaDoc>(
          MEDIA_FILES,
          mediaId,
          recorded,
          (doc) =>
            doc &&
            (doc.referencedBy.includes(messageId)
              ? doc
              : {
                  ...doc,
                  references: [...doc.references, { messageId, conversationId, position: recorded.position }],
                  referencedBy: [...doc.referencedBy, messageId],
                }),
        );
      }
      return;
    }
    // Deleting a message for everyone, or its expiry, releases its files (their bytes go once nothing else names them).
    case 'MessageDeleted':
    case 'MessageExpired':
      return context.projectMany<MediaDoc>(
        MEDIA_FILES,
        { referencedBy: event.data.messageId },
        recorded,
        (doc) =>
          doc && {
            ...doc,
            references: doc.references.filter((reference) => reference.messageId !== event.data.messageId),
            referencedBy: doc.referencedBy.filter((id) => id !== event.data.messageId),
          },
      );
    case 'MessageEdited':
    case 'MessageHidden':
    case 'MessageContentShredded':
      return;
    default:
      return assertNever(event);
  }
}

export const mediaFilesProjector: Projector = {
  // 2: references carry the message's position.
  version: 2,
  name: MEDIA_FILES,
  collections: {
    [MEDIA_FILES]: [{ key: { ownerId: 1, state: 1 } }, { key: { referencedBy: 1 }, multikey: true }, { key: { sha256: 1 } }],
  },
  handles: new Set([...mediaEventTypes, 'MessageSent', 'MessageDeleted']),
  async apply(recorded, context) {
    if (isEventOf<MessageEvent>(['MessageSent', 'MessageDeleted'], recorded)) return onMessage(recorded, recorded, context);
    const event = eventOf<MediaEvent>(mediaEventTypes, recorded);
    switch (event.type) {
      case 'MediaUploaded': {
        const { mediaId, uploadedAt, ...facts } = event.data;
        return context.project<MediaDoc>(
          MEDIA_FILES,
          mediaId,
          recorded,
          (doc) =>
            doc ?? {
              _id: mediaId,
              ...facts,
              uploadedAt,
              state: 'live',
              references: [],
              referencedBy: [],
            },
        );
      }
      case 'MediaDeleted':
        return context.project<MediaDoc>(MEDIA_FILES, event.data.mediaId, recorded, (doc) => doc && { ...doc, state: 'deleted' });
      case 'MediaExpired':
        return context.project<MediaDoc>(MEDIA_FILES, event.data.mediaId, recorded, (doc) => doc && { ...doc, state: 'expired' });
      // Only the media stream's own decisions need it (the collector's expiry); the document does not change.
      case 'MediaClaimed':
        return;
      default:
        return assertNever(event);
    }
  },
};
