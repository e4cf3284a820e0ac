import test from 'ava';
import { BlockedError } from '../../commands/contacts.ts';
import {
  isSingleEmoji,
  MAX_DISTINCT_REACTIONS,
  reactionDecider,
  ReactionsLimitError,
  type ReactionCommand,
  type ReactionEvent,
} from '../../commands/reactions.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../commands/shared/errors.ts';
import { metadata, spec } from '../helpers/spec.ts';

const now = '2026-01-01T00:00:00.000Z';
const reactions = spec(reactionDecider);
const fields = (userId: string, emoji: string) => ({ messageId: 'm1', conversationId: 'group:g', userId, emoji });
const added = (userId: string, emoji: string): ReactionEvent => ({ type: 'ReactionAdded', data: { ...fields(userId, emoji), at: now } });
const removed = (userId: string, emoji: string): ReactionEvent => ({
  type: 'ReactionRemoved',
  data: { ...fields(userId, emoji), at: now },
});
const add = (
  userId: string,
  emoji: string,
  lookups: Partial<{ messageVisible: boolean; messageDeleted: boolean; blocked: boolean }> = {},
) =>
  ({
    type: 'AddReaction',
    data: { ...fields(userId, emoji), messageVisible: true, messageDeleted: false, blocked: false, ...lookups },
    metadata: metadata({ now }),
  }) satisfies ReactionCommand;
const remove = (userId: string, emoji: string) =>
  ({
    type: 'RemoveReaction',
    data: { ...fields(userId, emoji), messageVisible: true },
    metadata: metadata({ now }),
  }) satisfies ReactionCommand;

test('one emoji is one RGI emoji in one grapheme cluster: skin tones, ZWJ sequences, flags and keycaps included', (t) => {
  for (const emoji of ['👍', '👍🏽', '👩‍💻', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇫🇷', '1️⃣', '❤️']) t.true(isSingleEmoji(emoji), emoji);
  for (const text of ['', 'a', ':)', '👍👍', '👍 ', '❤', 'x👍', '\u200d']) t.false(isSingleEmoji(text), JSON.stringify(text));
});

test('reacting records the reaction once; the same reaction again records nothing', (t) => {
  reactions
    .given([])
    .when(add('u', '👍🏽'))
    .then(t, [added('u', '👍🏽')]);
  reactions
    .given([added('u', '👍🏽')])
    .when(add('u', '👍🏽'))
    .then(t, []);
});

test('taking a reaction back records its removal; one never made records nothing', (t) => {
  reactions
    .given([added('u', '👍')])
    .when(remove('u', '👍'))
    .then(t, [removed('u', '👍')]);
  reactions
    .given([added('u', '👍'), removed('u', '👍')])
    .when(remove('u', '👍'))
    .then(t, []);
  reactions
    .given([added('v', '👍')])
    .when(remove('u', '👍'))
    .then(t, []);
});

test('a message carries at most 20 distinct emoji; more users on an emoji already there are fine', (t) => {
  const emoji = [...'😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙🥲😚🙂'];
  t.is(emoji.length, MAX_DISTINCT_REACTIONS);
  const full = emoji.map((one, index) => added(`u${index}`, one));
  reactions.given(full).when(add('late', '🙃')).thenThrows(t, ReactionsLimitError, 'reactions_limit');
  reactions
    .given(full)
    .when(add('late', '😀'))
    .then(t, [added('late', '😀')]);
  // An emoji whose last user took it back frees its place.
  reactions
    .given([...full, removed('u0', '😀')])
    .when(add('late', '🙃'))
    .then(t, [added('late', '🙃')]);
});

test('refused: not an emoji, a message the user cannot read, a deleted message, across a block', (t) => {
  reactions.given([]).when(add('u', 'ok')).thenThrows(t, ValidationError, 'validation_failed');
  reactions
    .given([])
    .when(add('u', '👍', { messageVisible: false }))
    .thenThrows(t, NotFoundError, 'not_found');
  reactions
    .given([])
    .when(add('u', '👍', { messageDeleted: true }))
    .thenThrows(t, ConflictError, 'message_deleted');
  reactions
    .given([])
    .when(add('u', '👍', { blocked: true }))
    .thenThrows(t, BlockedError, 'blocked');
  // A reaction made before a block may still be taken back.
  reactions
    .given([added('u', '👍')])
    .when(remove('u', '👍'))
    .then(t, [removed('u', '👍')]);
});
