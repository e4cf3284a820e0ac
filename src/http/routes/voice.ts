import { z } from 'zod';
import { voiceUploadQuery, waveformOf } from '../../contract/voiceSchemas.ts';
import type { MediaService } from '../../media/mediaService.ts';
import { actorMetadata } from '../context.ts';
import { reply, route } from '../routeTable.ts';
import { media } from './media.ts';

export interface VoiceRouteDeps {
  media: MediaService;
  clock: () => Date;
}

/** Voice notes: the upload (a recording with its waveform); transcripts are in transcriptionRoutes. */
export function voiceRoutes({ media: files, clock }: VoiceRouteDeps) {
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
  ];
}
