import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { ConflictError, DomainError, NotFoundError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { AUTO_LANGUAGE, transcriptDecider, transcriptStream } from '../../commands/transcripts.ts';
import { MEDIA_FILES, type MediaDoc } from '../../projections/mediaFiles.ts';
import { GROUP_MESSAGES, MESSAGES, type MessageDoc } from '../../projections/messageDocs.ts';
import {
  MESSAGE_TRANSCRIPTS,
  toPublicTranscript,
  transcriptDocId,
  type PublicTranscript,
  type TranscriptDoc,
} from '../../projections/transcripts.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { CommandHandler } from '../commandHandler.ts';
import type { ConversationAccess } from '../messaging/access.ts';
import { eventIdFor, sealWithKey } from '../privacy/sealing.ts';
import { messageKeyId, type ShreddingKeys } from '../privacy/shreddingKeys.ts';
import type { Projections } from '../projection/projections.ts';
import type { RateLimits } from '../rateLimit/rateLimits.ts';
import type { ReadStore } from '../readstore/port.ts';
import { REPLY_CHARACTERS_PER_TOKEN } from './aiService.ts';
import type { AiModel } from './model/port.ts';

export class NotAVoiceNoteError extends DomainError {
  constructor() {
    super('not_a_voice_note', 422, 'Only a message with a voice note attached can be transcribed');
  }
}

export const TRANSCRIPTION_INSTRUCTION =
  'You transcribe voice messages. Answer with the transcript only: the words spoken, in order, without commentary, ' +
  'labels or timestamps. If nothing intelligible is said, answer with nothing.';

const promptFor = (language: string) =>
  language === AUTO_LANGUAGE
    ? 'Transcribe this voice message in the language it is spoken in.'
    : `Transcribe this voice message. Write the transcript in the language with the BCP 47 tag "${language}" ` +
      '(the speaker most likely speaks it; translate if they do not).';

export interface TranscriptionSettings {
  model: string;
  maxOutputTokens: number;
}

/**
 * Transcripts of voice notes through the AI port: asked by anyone who can read the message (or for a recipient whose
 * profile turned automatic transcription on), paid by the asker's key or the server's, within the `ai` budgets.
 * Stored once per message and language: a retry answers with what was stored without asking the model again.
 */
export class TranscriptionService {
  /** Transcriptions running in this process, by message and language: a concurrent request waits for the same one. */
  private readonly running = new Map<string, Promise<PublicTranscript>>();

  constructor(
    private readonly deps: {
      commands: CommandHandler;
      readStore: ReadStore;
      projections: Projections;
      access: ConversationAccess;
      model: AiModel;
      keys: ShreddingKeys;
      /** Where a voice note's bytes are. */
      blobPathOf: (sha256: string) => string;
      apiKeyOf: (userId: string) => Promise<string>;
      rateLimits: Pick<RateLimits, 'charge'>;
      settings: TranscriptionSettings;
      logger: Logger;
    },
  ) {}

  /** `created` is false when the transcript was already stored (nothing was asked of the model). */
  async transcribe(
    userId: string,
    messageId: string,
    input: { language?: string | undefined },
    metadata: CommandMetadata,
  ): Promise<{ transcript: PublicTranscript; created: boolean }> {
    const message = await this.readableMessage(userId, messageId);
    const voice = await this.voiceNoteOf(message);
    const language = input.language ?? (await this.profileLanguage(userId));
    const stored = await this.stored(messageId, language);
    if (stored) return { transcript: stored, created: false };
    const key = transcriptDocId(messageId, language);
    const running = this.running.get(key);
    if (running) return { transcript: await running, created: false };
    const work = this.run(userId, message, voice, language, metadata).finally(() => this.running.delete(key));
    this.running.set(key, work);
    return { transcript: await work, created: true };
  }

  private async run(userId: string, message: MessageDoc, voice: MediaDoc, language: string, metadata: CommandMetadata) {
    // Per day as well as per minute (the route charged `ai`): model calls cost money.
    await this.deps.rateLimits.charge('ai-daily', userId);
    const apiKey = await this.deps.apiKeyOf(userId);
    const audio = await readFile(this.deps.blobPathOf(voice.sha256));
    const maxCharacters = this.deps.settings.maxOutputTokens * REPLY_CHARACTERS_PER_TOKEN;
    let text = '';
    for await (const chunk of this.deps.model.stream({
      apiKey,
      model: this.deps.settings.model,
      systemInstruction: TRANSCRIPTION_INSTRUCTION,
      history: [],
      message: promptFor(language),
      inline: [{ mimeType: voice.mime, data: audio.toString('base64') }],
      maxOutputTokens: this.deps.settings.maxOutputTokens,
      temperature: 0,
      signal: new AbortController().signal,
    })) {
      if (chunk.type !== 'delta') continue;
      text += chunk.text;
      if (text.length >= maxCharacters) {
        text = text.slice(0, maxCharacters);
        break;
      }
    }
    const stream = transcriptStream(message._id);
    const sealed = await sealWithKey(this.deps.keys, messageKeyId(message._id), text.trim(), {
      eventId: eventIdFor(metadata, stream),
      stream,
      field: 'text',
    });
    const result = await this.deps.commands.handle(transcriptDecider, stream, {
      type: 'RecordTranscript',
      data: {
        messageId: message._id,
        conversationId: message.conversationId,
        mediaId: voice._id,
        language,
        text: sealed,
        requestedBy: userId,
        model: this.deps.settings.model,
      },
      metadata,
    });
    await this.deps.projections.waitFor(result.position ?? (await this.deps.projections.headPosition()));
    const stored = await this.stored(message._id, language);
    if (!stored) throw new NotFoundError('Message'); // deleted for everyone meanwhile
    return stored;
  }

  /** A message the caller can read now (participant, not hidden for them, a group member when it was sent), else 404. */
  private async readableMessage(userId: string, messageId: string): Promise<MessageDoc> {
    const doc =
      (await this.deps.readStore.collection<MessageDoc>(MESSAGES).findOne({ _id: messageId })) ??
      (await this.deps.readStore.collection<MessageDoc>(GROUP_MESSAGES).findOne({ _id: messageId }));
    if (!doc || doc.hiddenFor.includes(userId) || !(await this.deps.access.canReadAt(userId, doc.conversationId, doc.position)))
      throw new NotFoundError('Message');
    if (doc.deletedAt) throw new ConflictError('message_deleted', 'The message was deleted for everyone');
    return doc;
  }

  private async voiceNoteOf(message: MessageDoc): Promise<MediaDoc> {
    if (message.attachments.length > 0) {
      const files = await this.deps.readStore.collection<MediaDoc>(MEDIA_FILES).find({ _id: { $in: message.attachments }, state: 'live' });
      const voice = files.find((file) => file.voice);
      if (voice) return voice;
    }
    throw new NotAVoiceNoteError();
  }

  private async profileLanguage(userId: string): Promise<string> {
    const user = await this.deps.readStore.collection<UserDoc>(USERS).findOne({ _id: userId });
    return user?.ai.language ?? AUTO_LANGUAGE;
  }

  private async stored(messageId: string, language: string): Promise<PublicTranscript | null> {
    const doc = await this.deps.readStore
      .collection<TranscriptDoc>(MESSAGE_TRANSCRIPTS)
      .findOne({ _id: transcriptDocId(messageId, language) });
    return doc && doc.text !== undefined ? toPublicTranscript(doc) : null;
  }
}
