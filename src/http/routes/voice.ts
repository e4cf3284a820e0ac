import { z } from 'zod';
import { transcribeSchema, transcript, voiceUploadQuery, waveformOf } from '../../contract/voiceSchemas.ts';
import { idParams } from '../../contract/validation.ts';
import type { TranscriptionService } from '../../ai/transcriptionService.ts';
import type { MediaService } from '../../media/mediaService.ts';
import { actorMetadata } from '../context.ts';
import { reply, route } from '../routeTable.ts';
import { media } from './media.ts';

export interface VoiceRouteDeps {
  media: MediaService;
  transcription: TranscriptionService;
  clock: () => Date;
}

const transcriptReply = z.strictObject({ transcript }).meta({ id: 'TranscriptReply' });

/** Voice notes: the upload (a recording with its waveform) and its transcripts. */
export function voiceRoutes({ media: files, transcription, clock }: VoiceRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'post',
      path: '/api/media/voice',
      operationId: 'uploadVoiceNote',
      tag: 'media',
      auth: true,
      rateLimit: 'upload',
      summary: 'Upload a voice note: a recording and its waveform',
      description:
        'The recording is the body (multipart part `file`, or raw with `?filename=`): Ogg/Opus, WebM/Opus, M4A/AAC or MP3, else 415. ' +
        'Its duration is read from the container (unreadable: 415) and is at most `VOICE_MAX_SECONDS` (422 `voice_too_long`, nothing ' +
        'stored). `waveform` is 16 to 128 peaks 0..255 (400 otherwise). Attach the answer\u2019s `media.id` to a message as any file.',
      query: voiceUploadQuery,
      rawBody: { contentTypes: ['multipart/form-data', 'audio/*', 'video/webm', 'application/octet-stream'], description: 'The recording' },
      responses: {
        201: { description: 'Stored', schema: z.strictObject({ media }) },
        200: { description: 'A retry with the same clientUploadId: the first upload', schema: z.strictObject({ media }) },
      },
      errors: ['voice_too_long', 'extension_mismatch', 'quota_exceeded', 'concurrency_conflict'],
      handle: async ({ principal, query, ctx }) => {
        const { media: stored, created } = await files.upload(ctx, principal.userId, meta(ctx), {
          purpose: 'attachment',
          clientUploadId: query.clientUploadId,
          voice: { waveform: waveformOf(query.waveform) },
        });
        return reply(created ? 201 : 200, { media: stored });
      },
    }),
    route({
      method: 'post',
      path: '/api/messages/{id}/transcription',
      operationId: 'transcribeMessage',
      tag: 'messages',
      auth: true,
      rateLimit: 'ai',
      summary: "Transcribe a message's voice note (once per language)",
      description:
        'Anyone who can read the message may ask (others: 404); a message without a voice note is 422 `not_a_voice_note`. The ' +
        "caller's Gemini key pays (else the server's), within the `ai` and `ai-daily` budgets; `language` defaults to the profile's " +
        '`ai.language`, else `auto`. Stored once per message and language (a `MessageTranscribed` event, sealed with the message: ' +
        'deleting it erases the transcript): asked again, it answers 200 with the stored one without asking the model. Everyone who ' +
        'can read the message gets `message.transcribed`. Gemini failures answer with the same codes as Leta.',
      params: idParams,
      body: transcribeSchema,
      responses: {
        201: { description: 'Transcribed now', schema: transcriptReply },
        200: { description: 'Already transcribed in this language: the stored transcript', schema: transcriptReply },
      },
      errors: [
        'not_found',
        'not_a_voice_note',
        'message_deleted',
        'ai_key_missing',
        'ai_key_unreadable',
        'invalid_api_key',
        'api_key_forbidden',
        'ai_blocked',
        'ai_rate_limited',
        'ai_upstream_error',
        'ai_timeout',
        'concurrency_conflict',
      ],
      handle: async ({ principal, params, body, ctx }) => {
        const { transcript: stored, created } = await transcription.transcribe(principal.userId, params.id, body, meta(ctx));
        return reply(created ? 201 : 200, { transcript: stored });
      },
    }),
  ];
}
