import type { AiEvent, PersonalityFields, Usage } from '../commands/ai.ts';
import { aiEventTypes } from '../commands/ai.ts';
import { assertNever, eventOf } from '../commands/shared/events.ts';
import { textOf } from '../commands/shared/sealed.ts';
import type { ProjectedDoc, Projector } from '../src/projection/projector.ts';

/** `ai_chat_messages` (seed name): one document per prompt and per reply, in position order per user. */
export interface AiMessageDoc extends ProjectedDoc {
  userId: string;
  role: 'user' | 'model';
  promptId: string;
  text: string;
  /** A prompt: pending until answered, then completed, failed (with `code`) or interrupted. */
  status: 'pending' | 'completed' | 'failed';
  code: string | null;
  personalityId: string | null;
  finishReason: string | null;
  usage: Usage | null;
  model: string;
  createdAt: string;
  position: number;
}

export interface AiPersonalityDoc extends ProjectedDoc, PersonalityFields {
  userId: string;
  createdAt: string;
}

/** `ai_settings`: the metadata of a user's key (never the key). */
export interface AiSettingsDoc extends ProjectedDoc {
  key: { provider: 'gemini'; fingerprint: string; last4: string; status: 'valid' | 'unverified' | 'rejected'; updatedAt: string } | null;
}

export const AI_CHAT_MESSAGES = 'ai_chat_messages';
export const AI_PERSONALITIES = 'ai_personalities';
export const AI_SETTINGS = 'ai_settings';
export const personalityDocId = (userId: string, personalityId: string) => `${userId}:${personalityId}`;

export const aiProjector: Projector = {
  name: AI_CHAT_MESSAGES,
  collections: {
    [AI_CHAT_MESSAGES]: [{ key: { userId: 1, position: -1 } }, { key: { status: 1 } }],
    [AI_PERSONALITIES]: [{ key: { userId: 1 } }],
    [AI_SETTINGS]: [],
  },
  handles: new Set(aiEventTypes),
  async apply(recorded, context) {
    const event = eventOf<AiEvent>(aiEventTypes, recorded);
    const { userId } = event.data;
    switch (event.type) {
      case 'AiPromptSubmitted': {
        const { promptId, text, personalityId, model, at } = event.data;
        return context.project<AiMessageDoc>(
          AI_CHAT_MESSAGES,
          promptId,
          recorded,
          (doc) =>
            doc ?? {
              _id: promptId,
              userId,
              role: 'user',
              promptId,
              text: textOf(text),
              status: 'pending',
              code: null,
              personalityId,
              finishReason: null,
              usage: null,
              model,
              createdAt: at,
              position: recorded.position,
            },
        );
      }
      case 'AiReplyCompleted': {
        const { promptId, replyId, text, finishReason, usage, model, at } = event.data;
        await context.project<AiMessageDoc>(AI_CHAT_MESSAGES, promptId, recorded, (doc) => doc && { ...doc, status: 'completed' });
        return context.project<AiMessageDoc>(
          AI_CHAT_MESSAGES,
          replyId,
          recorded,
          (doc) =>
            doc ?? {
              _id: replyId,
              userId,
              role: 'model',
              promptId,
              text: textOf(text),
              status: 'completed',
              code: null,
              personalityId: null,
              finishReason,
              usage,
              model,
              createdAt: at,
              position: recorded.position,
            },
        );
      }
      case 'AiReplyFailed':
        return context.project<AiMessageDoc>(
          AI_CHAT_MESSAGES,
          event.data.promptId,
          recorded,
          (doc) => doc && { ...doc, status: 'failed', code: event.data.code },
        );
      case 'AiHistoryCleared':
        return context.projectMany<AiMessageDoc>(AI_CHAT_MESSAGES, { userId }, recorded, () => null);
      case 'AiPersonalityCreated': {
        const { personalityId, name, instructions, temperature, at } = event.data;
        return context.project<AiPersonalityDoc>(
          AI_PERSONALITIES,
          personalityDocId(userId, personalityId),
          recorded,
          (doc) => doc ?? { _id: personalityDocId(userId, personalityId), userId, name, instructions, temperature, createdAt: at },
        );
      }
      case 'AiPersonalityUpdated': {
        const changes = Object.fromEntries(Object.entries(event.data.changes).filter(([, value]) => value !== undefined));
        return context.project<AiPersonalityDoc>(
          AI_PERSONALITIES,
          personalityDocId(userId, event.data.personalityId),
          recorded,
          (doc) => doc && { ...doc, ...changes },
        );
      }
      case 'AiPersonalityDeleted':
        return context.project<AiPersonalityDoc>(
          AI_PERSONALITIES,
          personalityDocId(userId, event.data.personalityId),
          recorded,
          () => null,
        );
      case 'AiApiKeySet': {
        const { provider, fingerprint, last4, status, at } = event.data;
        return context.project<AiSettingsDoc>(AI_SETTINGS, userId, recorded, () => ({
          _id: userId,
          key: { provider, fingerprint, last4, status, updatedAt: at },
        }));
      }
      case 'AiApiKeyRemoved':
        return context.project<AiSettingsDoc>(AI_SETTINGS, userId, recorded, () => ({ _id: userId, key: null }));
      case 'AiApiKeyRejected':
        return context.project<AiSettingsDoc>(
          AI_SETTINGS,
          userId,
          recorded,
          (doc) => doc && (doc.key?.fingerprint === event.data.fingerprint ? { ...doc, key: { ...doc.key, status: 'rejected' } } : doc),
        );
      default:
        return assertNever(event);
    }
  },
};
