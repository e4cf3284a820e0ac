import { z } from 'zod';
import { clientMessageId } from './messagingSchemas.ts';
export { transcript } from './models.ts';

/** `POST /api/media/voice`: the waveform travels in the query, the recording is the body. */
export const voiceUploadQuery = z.strictObject({
  waveform: z
    .string()
    .max(512)
    .regex(/^\d{1,3}(,\d{1,3})*$/, 'Comma-separated integers')
    .meta({ description: 'The peaks the recorder computed, comma-separated: 16 to 128 integers, each 0..255' }),
  filename: z.string().max(255).optional(),
  clientUploadId: clientMessageId.optional().meta({ description: 'Makes a retried upload answer with the first one' }),
});

export const waveformOf = (query: string): number[] => query.split(',').map(Number);

/** A BCP 47 tag (the profile's `ai.language` takes the same). */
export const transcriptLanguage = z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'A BCP 47 language tag such as en or pt-BR');

export const transcribeSchema = z.strictObject({
  language: transcriptLanguage
    .optional()
    .meta({ description: "The transcript's language; default: the caller's profile language (ai.language), else `auto`" }),
});
