import type { Logger } from 'pino';
import type { MessageSent } from '../../commands/messages.ts';
import { DomainError } from '../../commands/shared/errors.ts';
import type { RecordedEvent } from '../eventstore/port.ts';
import { GROUPS, participantsOf, type GroupDoc } from '../../projections/groups.ts';
import { MEDIA_FILES, type MediaDoc } from '../../projections/mediaFiles.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import { deriveId } from '../ids.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { TranscriptionService } from './transcriptionService.ts';

/** A send older than this when it is projected is history being replayed (a rebuild), not a voice note arriving. */
const FRESH_MS = 60_000;

/**
 * Automatic transcription: a voice note is transcribed, as it arrives, for each recipient whose profile turned
 * `ai.autoTranscribe` on (in their `ai.language`; one transcript per language serves every reader), paid by that
 * recipient's key or the server's and counted in their `ai` budgets. Runs after the send is projected, on the
 * instance that projects it; best effort: a failure is logged and the recipient can still ask.
 */
export class AutoTranscription {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      readStore: ReadStore;
      transcription: Pick<TranscriptionService, 'transcribe'>;
      logger: Logger;
      clock: () => Date;
    },
  ) {}

  /** Looks at a projected batch; the transcriptions run in the background (`idle` waits for them). */
  observe(events: readonly RecordedEvent[]): void {
    for (const event of events) {
      if (event.type !== 'MessageSent') continue;
      const data = event.data as MessageSent['data'];
      if (data.attachments.length === 0) continue;
      if (this.deps.clock().getTime() - Date.parse(data.sentAt) > FRESH_MS) continue;
      const work = this.transcribeFor(data).catch((error: unknown) =>
        this.deps.logger.error({ err: error, messageId: data.messageId }, 'automatic transcription failed'),
      );
      this.pending.add(work);
      void work.finally(() => this.pending.delete(work));
    }
  }

  /** Resolves when nothing is being transcribed (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private async transcribeFor(sent: MessageSent['data']): Promise<void> {
    const voice = await this.deps.readStore
      .collection<MediaDoc>(MEDIA_FILES)
      .countDocuments({ _id: { $in: sent.attachments }, state: 'live', 'voice.durationMs': { $gt: 0 } }, { limit: 1 });
    if (voice === 0) return;
    const recipients =
      sent.target.kind === 'direct'
        ? [sent.target.recipientId]
        : (await participantsOf(this.deps.readStore.collection<GroupDoc>(GROUPS), sent.conversationId)).filter(
            (id) => id !== sent.senderId,
          );
    const wanting = await this.deps.readStore.collection<UserDoc>(USERS).find({ _id: { $in: recipients }, 'ai.autoTranscribe': true });
    // One transcription per language: the first recipient asking for it pays.
    const byLanguage = new Map<string, string>();
    for (const user of wanting) if (!byLanguage.has(user.ai.language ?? 'auto')) byLanguage.set(user.ai.language ?? 'auto', user._id);
    for (const [language, userId] of byLanguage) {
      const commandId = deriveId('auto-transcription', sent.messageId, language);
      try {
        await this.deps.transcription.transcribe(
          userId,
          sent.messageId,
          { language },
          {
            commandId,
            correlationId: commandId,
            causationId: sent.messageId,
            userId,
            now: this.deps.clock().toISOString(),
          },
        );
      } catch (error) {
        // A recipient without a key (and no server key), or over budget: they can still ask later.
        if (!(error instanceof DomainError)) throw error;
        this.deps.logger.info({ messageId: sent.messageId, userId, code: error.code }, 'a voice note was not transcribed automatically');
      }
    }
  }
}
