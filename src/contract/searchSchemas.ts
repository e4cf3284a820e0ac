import { z } from 'zod';
import { queryInteger } from './validation.ts';

export const searchQuerySchema = z.strictObject({
  q: z
    .string()
    .min(1)
    .max(500)
    .meta({ description: 'Words (all must match; the last also as a prefix) and operators: from:, in:, has:file, before:, after:' }),
  limit: queryInteger(z.number().int().min(1).max(50).default(20)),
  cursor: queryInteger(z.number().int().min(0).max(1_000)).optional().meta({ description: '`nextCursor` of the previous page' }),
});

export const searchHit = z
  .strictObject({
    messageId: z.uuid(),
    conversationId: z.string(),
    senderId: z.uuid(),
    sentAt: z.iso.datetime(),
    position: z.number().int(),
    hasFile: z.boolean(),
    score: z.number().meta({ description: 'Higher is better; comparable within one answer' }),
    snippet: z
      .array(z.strictObject({ text: z.string(), match: z.boolean() }))
      .meta({ description: 'An excerpt in pieces; `match` pieces are the words that matched (highlight them)' }),
  })
  .meta({ id: 'SearchHit' });

export const searchPage = z.strictObject({ results: z.array(searchHit), nextCursor: z.string().nullable() }).meta({ id: 'SearchPage' });
