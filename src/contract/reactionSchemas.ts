import { z } from 'zod';
import { isSingleEmoji } from '../../commands/reactions.ts';
import { id, queryInteger } from './validation.ts';

const emoji = z
  .string()
  .refine(isSingleEmoji, 'Give exactly one emoji (one RGI emoji: skin tones and ZWJ sequences are one)')
  .meta({ description: 'One emoji, URL-encoded in a path', examples: ['👍', '👍🏽', '👩‍💻'] });

export const reactionParams = z.strictObject({ id, emoji });

export const listReactionsSchema = z.strictObject({
  emoji: emoji.optional(),
  after: queryInteger(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)).optional(),
  limit: queryInteger(z.number().int().min(1).max(100).default(50)),
});

export const setReactionFrameSchema = z.strictObject({ messageId: id, emoji, on: z.boolean() });
