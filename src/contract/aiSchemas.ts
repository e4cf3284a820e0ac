import { z } from 'zod';
import { clientMessageId } from './messagingSchemas.ts';

/** Shared by `POST /api/chat/ai/send` and the socket's `ai.send`, so both accept the same prompts. */
export const personalityId = z.string().regex(/^[A-Za-z0-9-]{1,64}$/);

export const askLetaSchema = z.strictObject({
  message: z.string().max(4_000).trim().min(1),
  personalityId: personalityId.optional(),
  clientMessageId: clientMessageId.optional(),
});
