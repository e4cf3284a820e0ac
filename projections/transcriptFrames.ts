import { ERASED } from '../commands/shared/sealed.ts';
import type { MessageTranscribed } from '../commands/transcripts.ts';
import type { RecordedEvent } from '../src/eventstore/port.ts';
import type { ProjectionContext } from '../src/projection/projector.ts';
import { CONVERSATIONS, memberAt, type ConversationDoc } from './conversations.ts';
import { deliver, FEED, type FeedEntry } from './feed.ts';
import { messageCollectionOf, type MessageDoc } from './messageDocs.ts';
import { MESSAGE_TRANSCRIPTS, toPublicTranscript, transcriptDocId, type TranscriptDoc } from './transcripts.ts';

/**
 * `message.transcribed`: to everyone who can read the voice note (not whoever deleted it for themselves, and in a group
 * not those who joined after it was sent), with the transcript's text.
 */
export async function transcriptFrame(event: MessageTranscribed, recorded: RecordedEvent, context: ProjectionContext) {
  const { conversationId, messageId, language } = event.data;
  const message = await context.collection<MessageDoc>(messageCollectionOf(conversationId)).findOne({ _id: messageId });
  const doc = await context.collection<TranscriptDoc>(MESSAGE_TRANSCRIPTS).findOne({ _id: transcriptDocId(messageId, language) });
  if (!message || message.deletedAt || !doc) return;
  const notMembersThen = conversationId.startsWith('group:')
    ? (await context.collection<ConversationDoc>(CONVERSATIONS).find({ conversationId }))
        .filter((member) => !memberAt(member, message.position))
        .map((member) => member.userId)
    : [];
  await deliver(
    context,
    recorded,
    { conversationId, except: [...message.hiddenFor, ...notMembersThen] },
    { type: 'message.transcribed', conversationId, messageId, transcript: toPublicTranscript(doc) },
  );
}

/** A delete for everyone leaves no transcript text in the feed either: its entries keep their place, text `[erased]`. */
export async function eraseTranscriptsFromFeed(context: ProjectionContext, recorded: RecordedEvent, messageId: string) {
  for (const doc of await context.collection<TranscriptDoc>(MESSAGE_TRANSCRIPTS).find({ messageId })) {
    await context.project<FeedEntry>(FEED, String(doc.position), recorded, (entry) => {
      if (!entry) return null;
      const frame = JSON.parse(entry.bytes) as { transcript?: object };
      return frame.transcript === undefined
        ? entry
        : { ...entry, bytes: JSON.stringify({ ...frame, transcript: { ...frame.transcript, text: ERASED } }) };
    });
  }
}
