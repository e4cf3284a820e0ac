import { messageContentKeyId } from './messages.ts';
import { ValidationError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';
import { isSealed, type SealedText } from './shared/sealed.ts';

/**
 * Transcripts of a voice note (`transcript-<messageId>`): at most one per language, kept beside the message rather than
 * in its stream, so transcribing never contends with edits and deletes. The text is message content: sealed with the
 * message's own content key, so deleting the message for everyone erases its transcripts with it.
 */
export const transcriptStream = (messageId: string) => `transcript-${messageId}`;

/** The language asked for when neither the request nor the profile names one: the model hears which it is. */
export const AUTO_LANGUAGE = 'auto';

export interface TranscriptFacts {
  messageId: string;
  conversationId: string;
  /** The voice note transcribed (the message's attachment). */
  mediaId: string;
  /** A BCP 47 tag, or `auto`. */
  language: string;
  text: SealedText;
  /** Who asked (or whose profile turned automatic transcription on): their key paid for it. */
  requestedBy: string;
  model: string;
}

export type MessageTranscribed = Event<'MessageTranscribed', TranscriptFacts & { transcribedAt: string }>;
export type TranscriptEvent = MessageTranscribed;
export const transcriptEventTypes = ['MessageTranscribed'] as const satisfies readonly TranscriptEvent['type'][];

/** The shell checked that `requestedBy` may read the message and that it is a voice note, then asked the model. */
export type RecordTranscript = Command<'RecordTranscript', TranscriptFacts>;
export type TranscriptCommand = RecordTranscript;

export interface TranscriptState {
  languages: ReadonlySet<string>;
}

export const initialState: TranscriptState = { languages: new Set() };

export function evolve(state: TranscriptState, event: TranscriptEvent): TranscriptState {
  switch (event.type) {
    case 'MessageTranscribed':
      return { languages: new Set([...state.languages, event.data.language]) };
    default:
      return assertNever(event.type);
  }
}

export function decide(command: TranscriptCommand, state: TranscriptState): Decision<TranscriptEvent> {
  switch (command.type) {
    case 'RecordTranscript': {
      // Stored once per message and language: a second transcription (a race, a retry) appends nothing.
      if (state.languages.has(command.data.language)) return [];
      const { text, messageId } = command.data;
      if (!(isSealed(text) && text.kid === messageContentKeyId(messageId)))
        throw new ValidationError("text: a transcript must be sealed with its message's content key", { field: 'text' });
      return [{ type: 'MessageTranscribed', data: { ...command.data, transcribedAt: command.metadata.now } }];
    }
    default:
      return assertNever(command.type);
  }
}

export const transcriptDecider: Decider<TranscriptCommand, TranscriptEvent, TranscriptState> = {
  eventTypes: transcriptEventTypes,
  initialState,
  evolve,
  decide,
};
