import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { aiDecider, aiStream, BUILT_IN_PERSONALITY, type AiCommand, type PersonalityFields, type Usage } from '../../commands/ai.ts';
import { buildContext, LETA_BASE_INSTRUCTION, type AiExchange } from '../../commands/aiContext.ts';
import { ConflictError, DomainError, NotFoundError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import {
  AI_CHAT_MESSAGES,
  AI_PERSONALITIES,
  AI_SETTINGS,
  personalityDocId,
  type AiMessageDoc,
  type AiPersonalityDoc,
  type AiSettingsDoc,
} from '../../projections/ai.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { deriveId, newId } from '../ids.ts';
import type { Projections } from '../projection/projections.ts';
import { sealPersonal } from '../privacy/personalData.ts';
import type { ShreddingKeys } from '../privacy/shreddingKeys.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { RateLimits } from '../rateLimit/rateLimits.ts';
import { SecretUnreadableError, type SecretBox } from '../secrets/secretBox.ts';
import type { SecretStore } from '../secrets/secretStore.ts';
import { AiKeyInvalidError, type AiModel } from './model/port.ts';

export interface AiSettings {
  model: string;
  /** The server's own key (GEMINI_API_KEY), used for users who set none. */
  serverApiKey: string | null;
  contextTokenBudget: number;
  maxOutputTokens: number;
  baseUrl: string;
}

export interface AiMessage {
  id: string;
  role: 'user' | 'model';
  text: string;
  status: 'pending' | 'completed' | 'failed';
  code: string | null;
  finishReason: string | null;
  personalityId: string | null;
  createdAt: string;
  position: number;
}

export interface KeyMetadata {
  provider: 'gemini';
  last4: string;
  fingerprint: string;
  status: 'valid' | 'unverified' | 'rejected';
  updatedAt: string;
}

export class AiKeyMissingError extends DomainError {
  constructor() {
    super('ai_key_missing', 409, 'Set your Gemini API key first (PUT /api/users/{userId}/api-key)');
  }
}

/** Where a user's key is stored and what it is sealed for: the same purpose and subject, so rotate-secrets can open it. */
const keyContext = (userId: string) => ({ purpose: 'ai-api-key', subject: `user:${userId}` });
const HISTORY_WINDOW = 200;
/**
 * A reply is cut off at this many characters per output token allowed (AI_MAX_OUTPUT_TOKENS): far more than a
 * model's tokens hold, so only an upstream that streams without end (or ignores the limit) meets it.
 */
export const REPLY_CHARACTERS_PER_TOKEN = 16;

export const toAiMessage = (doc: AiMessageDoc): AiMessage => ({
  id: doc._id,
  role: doc.role,
  text: doc.text,
  status: doc.status,
  code: doc.code,
  finishReason: doc.finishReason,
  personalityId: doc.personalityId,
  createdAt: doc.createdAt,
  position: doc.position,
});

/**
 * Leta: a prompt is stored, the model is asked with the user's own key (decrypted only for the call) and the
 * context of earlier completed turns, deltas go to the asking client only, and the outcome is stored (a reply, or
 * the failure the user was given). One generation at a time per user; a retry with the same client id answers
 * with what was stored, without asking the model again.
 */
export class AiService {
  /** Generations running in this process, by user: `cancel` aborts them. */
  private readonly running = new Map<string, { promptId: string; controller: AbortController; connectionId: number | null }>();

  constructor(
    private readonly deps: {
      commands: CommandHandler;
      readStore: ReadStore;
      projections: Projections;
      model: AiModel;
      box: SecretBox;
      secrets: SecretStore;
      settings: AiSettings;
      logger: Logger;
      rateLimits: Pick<RateLimits, 'charge'>;
      /** Prompts and replies are sealed under the user's data key: deleting the account erases them from the log. */
      keys: ShreddingKeys;
    },
  ) {}

  async send(
    userId: string,
    input: { message: string; personalityId?: string | undefined; clientMessageId?: string | undefined },
    metadata: CommandMetadata,
    onDelta: (delta: { promptId: string; seq: number; text: string }) => void = () => undefined,
    onSubmitted: (prompt: AiMessage) => void = () => undefined,
    /** The socket that asked: if it closes, the generation is cancelled (nobody is reading the deltas). */
    connectionId: number | null = null,
    /** Aborted when the asker went away (an SSE client disconnected): the generation is cancelled alike. */
    askerGone?: AbortSignal,
  ): Promise<{ prompt: AiMessage; reply: AiMessage | null }> {
    const promptId = deriveId('ai-prompt', userId, input.clientMessageId ?? metadata.commandId);
    const stored = await this.stored(userId, promptId);
    if (stored) return stored;
    // Per day as well as per minute (the route or frame charged `ai`): model calls cost money.
    await this.deps.rateLimits.charge('ai-daily', userId);
    const apiKey = await this.apiKeyOf(userId);
    const personalityId = input.personalityId ?? (await this.defaultPersonality(userId));
    const context = await this.contextFor(userId, input.message, personalityId);
    await this.run(userId, {
      type: 'SubmitPrompt',
      data: {
        userId,
        promptId,
        text: await this.seal(userId, input.message, metadata, 'text'),
        personalityId,
        model: this.deps.settings.model,
        clientMessageId: input.clientMessageId ?? promptId,
      },
      metadata,
    });
    const prompt = await this.require(promptId);
    onSubmitted(prompt);

    const controller = new AbortController();
    this.running.set(userId, { promptId, controller, connectionId });
    const cancelForAsker = () => controller.abort();
    if (askerGone?.aborted) controller.abort();
    askerGone?.addEventListener('abort', cancelForAsker, { once: true });
    const maxReplyCharacters = this.deps.settings.maxOutputTokens * REPLY_CHARACTERS_PER_TOKEN;
    const replyId = deriveId('ai-reply', promptId);
    let text = '';
    let seq = 0;
    const endMetadata = { ...metadata, commandId: deriveId(metadata.commandId, 'end') };
    const end = (command: AiCommand) => this.run(userId, command, endMetadata);
    try {
      let finishReason = 'STOP';
      let usage: Usage | null = null;
      for await (const chunk of this.deps.model.stream({
        apiKey,
        model: this.deps.settings.model,
        systemInstruction: context.systemInstruction,
        history: context.history,
        message: input.message,
        maxOutputTokens: this.deps.settings.maxOutputTokens,
        temperature: context.temperature,
        signal: controller.signal,
      })) {
        if (chunk.type === 'delta') {
          const part = withinBound(chunk.text, maxReplyCharacters - text.length);
          text += part;
          if (part) onDelta({ promptId, seq: seq++, text: part });
          if (part.length < chunk.text.length) {
            // Leaving the loop ends the model's stream and aborts its request: nothing more is generated.
            this.deps.logger.warn({ userId, promptId, maxReplyCharacters }, 'a Leta reply reached the size bound and was cut off');
            finishReason = 'MAX_TOKENS';
            usage = null;
            break;
          }
        } else {
          finishReason = chunk.finishReason;
          usage = chunk.usage;
        }
      }
      if (controller.signal.aborted) finishReason = 'CANCELLED';
      if (controller.signal.aborted && text === '') {
        await end({ type: 'FailReply', data: { userId, promptId, code: 'cancelled' }, metadata });
      } else {
        await end({
          type: 'CompleteReply',
          data: {
            userId,
            promptId,
            replyId,
            text: await this.seal(userId, text, endMetadata, 'text'),
            finishReason,
            usage,
            model: this.deps.settings.model,
          },
          metadata,
        });
      }
    } catch (error) {
      const code = error instanceof DomainError ? error.code : 'ai_upstream_error';
      await end({ type: 'FailReply', data: { userId, promptId, code }, metadata });
      if (error instanceof AiKeyInvalidError) await this.rejectKey(userId, metadata);
      throw error;
    } finally {
      askerGone?.removeEventListener('abort', cancelForAsker);
      if (this.running.get(userId)?.promptId === promptId) this.running.delete(userId);
    }
    return (await this.stored(userId, promptId))!;
  }

  /** Stops a generation of this user's that is running here; its text so far is kept. */
  cancel(userId: string, promptId: string): boolean {
    const running = this.running.get(userId);
    if (!running || running.promptId !== promptId) return false;
    running.controller.abort();
    return true;
  }

  /** The asking socket closed: its generation stops, keeping what was written (no dangling prompt). */
  cancelConnection(userId: string, connectionId: number): void {
    const running = this.running.get(userId);
    if (running?.connectionId === connectionId) running.controller.abort();
  }

  async history(userId: string, query: { before?: number | undefined; limit: number }) {
    const docs = await this.deps.readStore
      .collection<AiMessageDoc>(AI_CHAT_MESSAGES)
      .find(
        { userId, ...(query.before !== undefined ? { position: { $lt: query.before } } : {}) },
        { sort: { position: -1, _id: -1 }, limit: query.limit + 1 },
      );
    const page = docs.slice(0, query.limit);
    return { messages: page.map(toAiMessage), hasMore: docs.length > query.limit, cursors: { before: page.at(-1)?.position ?? null } };
  }

  async clearHistory(userId: string, metadata: CommandMetadata): Promise<void> {
    await this.run(userId, { type: 'ClearHistory', data: { userId }, metadata });
  }

  async personalities(userId: string) {
    const own = await this.deps.readStore.collection<AiPersonalityDoc>(AI_PERSONALITIES).find({ userId }, { sort: { createdAt: 1 } });
    return [
      { id: BUILT_IN_PERSONALITY, name: 'Leta', instructions: '', temperature: null, builtIn: true },
      ...own.map((doc) => ({
        id: doc._id.slice(userId.length + 1),
        name: doc.name,
        instructions: doc.instructions,
        temperature: doc.temperature,
        builtIn: false,
      })),
    ];
  }

  async createPersonality(userId: string, fields: PersonalityFields, metadata: CommandMetadata) {
    const personalityId = deriveId('ai-personality', userId, metadata.commandId);
    await this.run(userId, { type: 'CreatePersonality', data: { userId, personalityId, ...fields }, metadata });
    return this.personality(userId, personalityId);
  }

  async updatePersonality(userId: string, personalityId: string, changes: Partial<PersonalityFields>, metadata: CommandMetadata) {
    await this.run(userId, { type: 'UpdatePersonality', data: { userId, personalityId, changes }, metadata });
    return this.personality(userId, personalityId);
  }

  async deletePersonality(userId: string, personalityId: string, metadata: CommandMetadata): Promise<void> {
    await this.run(userId, { type: 'DeletePersonality', data: { userId, personalityId }, metadata });
  }

  /** Stores the key encrypted (never in the log), after asking the provider whether it works. */
  async setKey(userId: string, apiKey: string, metadata: CommandMetadata): Promise<KeyMetadata> {
    const status = await this.verifyKey(apiKey);
    const context = keyContext(userId);
    await this.deps.secrets.put(context.purpose, context.subject, this.deps.box.seal(apiKey, context));
    await this.run(userId, {
      type: 'SetApiKey',
      data: { userId, fingerprint: fingerprintOf(apiKey), last4: apiKey.slice(-4), status },
      metadata,
    });
    return (await this.keyMetadata(userId))!;
  }

  async keyMetadata(userId: string): Promise<KeyMetadata | null> {
    return (await this.deps.readStore.collection<AiSettingsDoc>(AI_SETTINGS).findOne({ _id: userId }))?.key ?? null;
  }

  async removeKey(userId: string, metadata: CommandMetadata): Promise<void> {
    const context = keyContext(userId);
    await this.deps.secrets.delete(context.purpose, context.subject);
    await this.run(userId, { type: 'RemoveApiKey', data: { userId }, metadata });
  }

  /** After a crash nothing is still being answered: prompts left pending are failed as `interrupted`. */
  async recoverInterrupted(now: Date): Promise<number> {
    const pending = await this.deps.readStore.collection<AiMessageDoc>(AI_CHAT_MESSAGES).find({ status: 'pending' });
    for (const doc of pending) {
      const correlationId = `ai-recovery:${newId()}`;
      await this.run(doc.userId, {
        type: 'FailReply',
        data: { userId: doc.userId, promptId: doc._id, code: 'interrupted' },
        metadata: { commandId: newId(), correlationId, causationId: correlationId, userId: null, now: now.toISOString() },
      });
    }
    return pending.length;
  }

  private async stored(userId: string, promptId: string): Promise<{ prompt: AiMessage; reply: AiMessage | null } | null> {
    const docs = await this.deps.readStore.collection<AiMessageDoc>(AI_CHAT_MESSAGES).find({ userId, promptId });
    const prompt = docs.find((doc) => doc.role === 'user');
    if (!prompt) return null;
    if (prompt.status === 'pending') throw new ConflictError('ai_busy', 'Leta is still answering this message');
    const reply = docs.find((doc) => doc.role === 'model');
    return { prompt: toAiMessage(prompt), reply: reply ? toAiMessage(reply) : null };
  }

  /** The key a model call for `userId` uses: their own (opened only for the call), else the server's; else 409. */
  async apiKeyOf(userId: string): Promise<string> {
    const context = keyContext(userId);
    const envelope = await this.deps.secrets.get(context.purpose, context.subject);
    if (envelope) {
      try {
        return this.deps.box.open(envelope, context);
      } catch (error) {
        // Sealed with a key id no longer configured, or damaged: the user sets it again.
        if (error instanceof SecretUnreadableError)
          throw new DomainError('ai_key_unreadable', 409, 'Your saved key can no longer be read: set it again');
        throw error;
      }
    }
    if (this.deps.settings.serverApiKey) return this.deps.settings.serverApiKey;
    throw new AiKeyMissingError();
  }

  private async contextFor(userId: string, message: string, personalityId: string) {
    const [user, docs, personality] = await Promise.all([
      this.user(userId),
      this.deps.readStore.collection<AiMessageDoc>(AI_CHAT_MESSAGES).find({ userId }, { sort: { position: -1 }, limit: HISTORY_WINDOW }),
      personalityId === BUILT_IN_PERSONALITY
        ? null
        : this.deps.readStore.collection<AiPersonalityDoc>(AI_PERSONALITIES).findOne({ _id: personalityDocId(userId, personalityId) }),
    ]);
    if (personalityId !== BUILT_IN_PERSONALITY && !personality) throw new NotFoundError('Personality');
    const replies = new Map(docs.filter((doc) => doc.role === 'model').map((doc) => [doc.promptId, doc]));
    const exchanges: AiExchange[] = docs
      .filter((doc) => doc.role === 'user')
      .reverse()
      .map((doc) => {
        const reply = replies.get(doc.promptId);
        return {
          promptId: doc.promptId,
          prompt: doc.text,
          outcome:
            doc.status === 'completed' && reply
              ? {
                  status: 'completed',
                  reply: reply.text,
                  finishReason: reply.finishReason ?? 'STOP',
                  promptTokens: reply.usage?.promptTokens ?? null,
                }
              : { status: doc.status === 'pending' ? 'pending' : doc.code === 'interrupted' ? 'interrupted' : 'failed' },
        };
      });
    const context = buildContext({
      exchanges,
      message,
      tokenBudget: this.deps.settings.contextTokenBudget,
      base: LETA_BASE_INSTRUCTION,
      preferences: { displayName: user.displayName, ...(user.ai.language ? { language: user.ai.language } : {}) },
      personality: personality ? { name: personality.name, instructions: personality.instructions } : null,
    });
    return { ...context, ...(personality?.temperature != null ? { temperature: personality.temperature } : {}) };
  }

  /** A cheap call that needs a valid key: the model's description. Unreachable: stored as unverified. */
  private async verifyKey(apiKey: string): Promise<'valid' | 'unverified'> {
    try {
      const response = await fetch(`${this.deps.settings.baseUrl}/v1beta/models/${encodeURIComponent(this.deps.settings.model)}`, {
        headers: { 'x-goog-api-key': apiKey },
        signal: AbortSignal.timeout(5_000),
      });
      if (response.ok) return 'valid';
      if (response.status === 400 || response.status === 401) throw new AiKeyInvalidError();
      return 'unverified';
    } catch (error) {
      if (error instanceof DomainError) throw error;
      this.deps.logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        'could not verify a Gemini key; stored as unverified',
      );
      return 'unverified';
    }
  }

  private async rejectKey(userId: string, metadata: CommandMetadata): Promise<void> {
    const key = await this.keyMetadata(userId);
    if (key)
      await this.run(userId, {
        type: 'RejectApiKey',
        data: { userId, fingerprint: key.fingerprint },
        metadata: { ...metadata, commandId: deriveId(metadata.commandId, 'reject') },
      });
  }

  private async personality(userId: string, personalityId: string) {
    const doc = await this.deps.readStore
      .collection<AiPersonalityDoc>(AI_PERSONALITIES)
      .findOne({ _id: personalityDocId(userId, personalityId) });
    if (!doc) throw new NotFoundError('Personality');
    return { id: personalityId, name: doc.name, instructions: doc.instructions, temperature: doc.temperature, builtIn: false };
  }

  /** The profile's default personality: Leta herself when it names none, or one since deleted. */
  private async defaultPersonality(userId: string): Promise<string> {
    const chosen = (await this.user(userId)).ai.defaultPersonalityId;
    if (!chosen || chosen === BUILT_IN_PERSONALITY) return BUILT_IN_PERSONALITY;
    const doc = await this.deps.readStore.collection<AiPersonalityDoc>(AI_PERSONALITIES).findOne({ _id: personalityDocId(userId, chosen) });
    return doc ? chosen : BUILT_IN_PERSONALITY;
  }

  private async user(userId: string): Promise<UserDoc> {
    const user = await this.deps.readStore.collection<UserDoc>(USERS).findOne({ _id: userId });
    if (!user) throw new NotFoundError('User');
    return user;
  }

  private async require(messageId: string): Promise<AiMessage> {
    const doc = await this.deps.readStore.collection<AiMessageDoc>(AI_CHAT_MESSAGES).findOne({ _id: messageId });
    if (!doc) throw new NotFoundError('Message');
    return toAiMessage(doc);
  }

  /** Seals a text of the event the command with `metadata` appends to the user's Leta stream. */
  private seal(userId: string, text: string, metadata: CommandMetadata, field: string) {
    return sealPersonal(this.deps.keys, userId, text, { metadata, stream: aiStream(userId), field });
  }

  private async run(userId: string, command: AiCommand, metadata: CommandMetadata = command.metadata): Promise<void> {
    const result = await this.deps.commands.handle(aiDecider, aiStream(userId), { ...command, metadata });
    if (result.position !== null) await this.deps.projections.waitFor(result.position);
  }
}

/** The start of `text` that fits in `room` characters, not splitting a surrogate pair. */
function withinBound(text: string, room: number): string {
  if (text.length <= room) return text;
  if (room <= 0) return '';
  const code = text.charCodeAt(room - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? room - 1 : room);
}

/** Identifies a key without revealing it: the first 16 hex digits of its SHA-256. */
export const fingerprintOf = (apiKey: string) => createHash('sha256').update(apiKey).digest('hex').slice(0, 16);
