import { ConflictError, DomainError, NotFoundError, ValidationError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';
import type { SealedField, SealedText } from './shared/sealed.ts';

/**
 * One user's conversation with the assistant Leta (`ai-<userId>`): prompts and their outcomes, the user's own
 * personalities, and the metadata of their Gemini key (never the key: its ciphertext lives in the secret store,
 * which can be rotated and erased, unlike this log). Streamed deltas are never events.
 */
export const aiStream = (userId: string) => `ai-${userId}`;

export const MAX_PERSONALITIES = 20;
/** Leta's own personality: always there, never changed. */
export const BUILT_IN_PERSONALITY = 'leta';

export interface Usage {
  promptTokens: number;
  outputTokens: number;
}

export interface PersonalityFields {
  name: string;
  instructions: string;
  temperature: number | null;
}

/** v2 seals `text` under the user's data key (v1, in clear, is upcast to `{ plain }`): deleting the account erases it. */
export type AiPromptSubmitted = Event<
  'AiPromptSubmitted',
  {
    userId: string;
    promptId: string;
    text: SealedText;
    personalityId: string;
    model: string;
    clientMessageId: string;
    at: string;
  }
>;
/** v2 seals `text` under the user's data key, like the prompt. */
export type AiReplyCompleted = Event<
  'AiReplyCompleted',
  {
    userId: string;
    promptId: string;
    replyId: string;
    text: SealedText;
    finishReason: string;
    usage: Usage | null;
    model: string;
    at: string;
  }
>;
/** `code`: the error the user was given (ai_rate_limited, ai_upstream_error, ...), `interrupted` after a crash, `cancelled`. */
export type AiReplyFailed = Event<'AiReplyFailed', { userId: string; promptId: string; code: string; at: string }>;
export type AiHistoryCleared = Event<'AiHistoryCleared', { userId: string; at: string }>;
export type AiPersonalityCreated = Event<'AiPersonalityCreated', { userId: string; personalityId: string; at: string } & PersonalityFields>;
export type AiPersonalityUpdated = Event<
  'AiPersonalityUpdated',
  { userId: string; personalityId: string; changes: Partial<PersonalityFields>; at: string }
>;
export type AiPersonalityDeleted = Event<'AiPersonalityDeleted', { userId: string; personalityId: string; at: string }>;
export type AiApiKeySet = Event<
  'AiApiKeySet',
  {
    userId: string;
    provider: 'gemini';
    fingerprint: string;
    last4: string;
    status: 'valid' | 'unverified';
    at: string;
  }
>;
export type AiApiKeyRemoved = Event<'AiApiKeyRemoved', { userId: string; at: string }>;
/** The provider said the key is invalid: kept, marked, so the user knows to replace it. */
export type AiApiKeyRejected = Event<'AiApiKeyRejected', { userId: string; fingerprint: string; at: string }>;

export type AiEvent =
  | AiPromptSubmitted
  | AiReplyCompleted
  | AiReplyFailed
  | AiHistoryCleared
  | AiPersonalityCreated
  | AiPersonalityUpdated
  | AiPersonalityDeleted
  | AiApiKeySet
  | AiApiKeyRemoved
  | AiApiKeyRejected;
export const aiEventTypes = [
  'AiPromptSubmitted',
  'AiReplyCompleted',
  'AiReplyFailed',
  'AiHistoryCleared',
  'AiPersonalityCreated',
  'AiPersonalityUpdated',
  'AiPersonalityDeleted',
  'AiApiKeySet',
  'AiApiKeyRemoved',
  'AiApiKeyRejected',
] as const satisfies readonly AiEvent['type'][];

/** `text` arrives sealed by the shell (src/privacy/personalData.ts). */
export type SubmitPrompt = Command<
  'SubmitPrompt',
  { userId: string; promptId: string; text: SealedField; personalityId: string; model: string; clientMessageId: string }
>;
export type CompleteReply = Command<
  'CompleteReply',
  { userId: string; promptId: string; replyId: string; text: SealedField; finishReason: string; usage: Usage | null; model: string }
>;
export type FailReply = Command<'FailReply', { userId: string; promptId: string; code: string }>;
export type ClearHistory = Command<'ClearHistory', { userId: string }>;
export type CreatePersonality = Command<'CreatePersonality', { userId: string; personalityId: string } & PersonalityFields>;
export type UpdatePersonality = Command<
  'UpdatePersonality',
  { userId: string; personalityId: string; changes: Partial<PersonalityFields> }
>;
export type DeletePersonality = Command<'DeletePersonality', { userId: string; personalityId: string }>;
export type SetApiKey = Command<'SetApiKey', { userId: string; fingerprint: string; last4: string; status: 'valid' | 'unverified' }>;
export type RemoveApiKey = Command<'RemoveApiKey', { userId: string }>;
export type RejectApiKey = Command<'RejectApiKey', { userId: string; fingerprint: string }>;
export type AiCommand =
  | SubmitPrompt
  | CompleteReply
  | FailReply
  | ClearHistory
  | CreatePersonality
  | UpdatePersonality
  | DeletePersonality
  | SetApiKey
  | RemoveApiKey
  | RejectApiKey;

export interface AiState {
  /** The prompt being answered: one generation at a time per user. */
  pending: string | null;
  personalities: ReadonlySet<string>;
  key: { fingerprint: string; rejected: boolean } | null;
}

export const initialState: AiState = { pending: null, personalities: new Set(), key: null };

export class AiBusyError extends DomainError {
  constructor() {
    super('ai_busy', 409, 'Leta is still answering your previous message');
  }
}

export function evolve(state: AiState, event: AiEvent): AiState {
  switch (event.type) {
    case 'AiPromptSubmitted':
      return { ...state, pending: event.data.promptId };
    case 'AiReplyCompleted':
    case 'AiReplyFailed':
      return state.pending === event.data.promptId ? { ...state, pending: null } : state;
    case 'AiHistoryCleared':
      return state;
    case 'AiPersonalityCreated':
      return { ...state, personalities: new Set(state.personalities).add(event.data.personalityId) };
    case 'AiPersonalityUpdated':
      return state;
    case 'AiPersonalityDeleted': {
      const personalities = new Set(state.personalities);
      personalities.delete(event.data.personalityId);
      return { ...state, personalities };
    }
    case 'AiApiKeySet':
      return { ...state, key: { fingerprint: event.data.fingerprint, rejected: false } };
    case 'AiApiKeyRemoved':
      return { ...state, key: null };
    case 'AiApiKeyRejected':
      return state.key?.fingerprint === event.data.fingerprint ? { ...state, key: { ...state.key, rejected: true } } : state;
    default:
      return assertNever(event);
  }
}

export function decide(command: AiCommand, state: AiState): Decision<AiEvent> {
  const at = command.metadata.now;
  const { userId } = command.data;
  switch (command.type) {
    case 'SubmitPrompt': {
      if (state.pending !== null) throw new AiBusyError();
      const { personalityId } = command.data;
      if (personalityId !== BUILT_IN_PERSONALITY && !state.personalities.has(personalityId))
        throw new NotFoundError('Personality', { personalityId });
      return [{ type: 'AiPromptSubmitted', data: { ...command.data, at } }];
    }
    case 'CompleteReply':
      // Only the prompt being answered ends, once: a late or repeated ending records nothing.
      return state.pending === command.data.promptId ? [{ type: 'AiReplyCompleted', data: { ...command.data, at } }] : [];
    case 'FailReply':
      return state.pending === command.data.promptId ? [{ type: 'AiReplyFailed', data: { ...command.data, at } }] : [];
    case 'ClearHistory':
      if (state.pending !== null) throw new AiBusyError();
      return [{ type: 'AiHistoryCleared', data: { userId, at } }];
    case 'CreatePersonality': {
      const { personalityId } = command.data;
      if (personalityId === BUILT_IN_PERSONALITY || state.personalities.has(personalityId)) return [];
      if (state.personalities.size >= MAX_PERSONALITIES)
        throw new ConflictError('personalities_limit', `At most ${MAX_PERSONALITIES} personalities`);
      return [{ type: 'AiPersonalityCreated', data: { ...command.data, at } }];
    }
    case 'UpdatePersonality': {
      const { personalityId, changes } = command.data;
      if (personalityId === BUILT_IN_PERSONALITY) throw new ValidationError("personalityId: Leta's own personality cannot be changed");
      if (!state.personalities.has(personalityId)) throw new NotFoundError('Personality');
      return [{ type: 'AiPersonalityUpdated', data: { userId, personalityId, changes, at } }];
    }
    case 'DeletePersonality': {
      const { personalityId } = command.data;
      if (personalityId === BUILT_IN_PERSONALITY) throw new ValidationError("personalityId: Leta's own personality cannot be deleted");
      return state.personalities.has(personalityId) ? [{ type: 'AiPersonalityDeleted', data: { userId, personalityId, at } }] : [];
    }
    case 'SetApiKey':
      if (state.key?.fingerprint === command.data.fingerprint && !state.key.rejected) return [];
      return [{ type: 'AiApiKeySet', data: { ...command.data, provider: 'gemini', at } }];
    case 'RemoveApiKey':
      return state.key ? [{ type: 'AiApiKeyRemoved', data: { userId, at } }] : [];
    case 'RejectApiKey':
      return state.key?.fingerprint === command.data.fingerprint && !state.key.rejected
        ? [{ type: 'AiApiKeyRejected', data: { userId, fingerprint: command.data.fingerprint, at } }]
        : [];
    default:
      return assertNever(command);
  }
}

export const aiDecider: Decider<AiCommand, AiEvent, AiState> = { eventTypes: aiEventTypes, initialState, evolve, decide };
