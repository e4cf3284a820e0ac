import { BlockedError } from './contacts.ts';
import { ConflictError, NotFoundError, ValidationError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';

/**
 * Reactions to one message (`reactions-<messageId>`): which users reacted with which emoji. A stream of its own, so
 * reacting never contends with edits of the message, and the limit on distinct emoji is decided on one state.
 */
export const reactionStream = (messageId: string) => `reactions-${messageId}`;

/** Distinct emoji one message may carry; a user adding a 21st is refused (reacting with one already there is not). */
export const MAX_DISTINCT_REACTIONS = 20;
/** The longest emoji accepted, in UTF-16 code units (the longest RGI ZWJ sequences are well under it). */
export const MAX_EMOJI_LENGTH = 32;

const SINGLE_RGI_EMOJI = new RegExp('^\\p{RGI_Emoji}$', 'v');
const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

/**
 * One emoji as Unicode defines them (RGI: skin tones, ZWJ sequences, flags and keycaps included), and one grapheme
 * cluster: "👍🏽" and "👩‍💻" are one, "👍👍", "a" and a bare "❤" (no emoji presentation selector) are not.
 */
export function isSingleEmoji(value: string): boolean {
  if (value.length === 0 || value.length > MAX_EMOJI_LENGTH) return false;
  let clusters = 0;
  for (const _ of graphemes.segment(value)) if (++clusters > 1) return false;
  return SINGLE_RGI_EMOJI.test(value);
}

export class ReactionsLimitError extends ConflictError {
  constructor() {
    super('reactions_limit', `A message carries at most ${MAX_DISTINCT_REACTIONS} distinct emoji`);
  }
}

interface ReactionFields {
  messageId: string;
  conversationId: string;
  userId: string;
  emoji: string;
}
export type ReactionAdded = Event<'ReactionAdded', ReactionFields & { at: string }>;
export type ReactionRemoved = Event<'ReactionRemoved', ReactionFields & { at: string }>;
export type ReactionEvent = ReactionAdded | ReactionRemoved;
export const reactionEventTypes = ['ReactionAdded', 'ReactionRemoved'] as const satisfies readonly ReactionEvent['type'][];

export type AddReaction = Command<
  'AddReaction',
  ReactionFields & {
    /** Looked up by the shell: the user may read the message now (a participant, a member when it was said, not hidden). */
    messageVisible: boolean;
    /** Looked up by the shell: the message was deleted for everyone. */
    messageDeleted: boolean;
    /** Looked up by the shell: a block either way between the user and the message's sender (or direct peer). */
    blocked: boolean;
  }
>;
/** Taking one's own reaction back is always allowed while one may read the message, a block or not. */
export type RemoveReaction = Command<'RemoveReaction', ReactionFields & { messageVisible: boolean }>;
export type ReactionCommand = AddReaction | RemoveReaction;

/** Per emoji (in the order first used), who reacted with it; an emoji nobody uses any more is gone. */
export interface ReactionState {
  readonly byEmoji: ReadonlyMap<string, ReadonlySet<string>>;
}

export const initialState: ReactionState = { byEmoji: new Map() };

export function evolve(state: ReactionState, event: ReactionEvent): ReactionState {
  const { emoji, userId } = event.data;
  const byEmoji = new Map(state.byEmoji);
  const users = new Set(byEmoji.get(emoji) ?? []);
  switch (event.type) {
    case 'ReactionAdded':
      users.add(userId);
      break;
    case 'ReactionRemoved':
      users.delete(userId);
      break;
    default:
      return assertNever(event);
  }
  if (users.size === 0) byEmoji.delete(emoji);
  else byEmoji.set(emoji, users);
  return { byEmoji };
}

export function decide(command: ReactionCommand, state: ReactionState): Decision<ReactionEvent> {
  const { messageId, conversationId, userId, emoji } = command.data;
  if (!command.data.messageVisible) throw new NotFoundError('Message');
  if (!isSingleEmoji(emoji)) throw new ValidationError('emoji: give exactly one emoji', { field: 'emoji' });
  const reacted = state.byEmoji.get(emoji)?.has(userId) ?? false;
  const data = { messageId, conversationId, userId, emoji, at: command.metadata.now };
  switch (command.type) {
    case 'AddReaction':
      if (command.data.messageDeleted) throw new ConflictError('message_deleted', 'A deleted message cannot be reacted to');
      if (command.data.blocked) throw new BlockedError();
      if (reacted) return [];
      if (!state.byEmoji.has(emoji) && state.byEmoji.size >= MAX_DISTINCT_REACTIONS) throw new ReactionsLimitError();
      return [{ type: 'ReactionAdded', data }];
    case 'RemoveReaction':
      return reacted ? [{ type: 'ReactionRemoved', data }] : [];
    default:
      return assertNever(command);
  }
}

export const reactionDecider: Decider<ReactionCommand, ReactionEvent, ReactionState> = {
  eventTypes: reactionEventTypes,
  initialState,
  evolve,
  decide,
};
