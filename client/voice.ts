import type { Contract, ResponseOf, RestClient } from './rest.ts';

export type VoiceNoteMedia = ResponseOf<Contract<'post', '/api/media/voice'>>['media'];
export type Transcript = ResponseOf<Contract<'post', '/api/messages/{id}/transcription'>>['transcript'];

/** How many peaks a waveform has unless asked otherwise (the server takes 16 to 128). */
export const WAVEFORM_PEAKS = 64;

/**
 * A recording's waveform as the server stores it: `count` peaks 0..255, each the loudest sample of its slice of
 * `samples` (PCM in -1..1, e.g. `AudioBuffer.getChannelData(0)`). A silent slice is 0.
 */
export function peaksOf(samples: Float32Array, count = WAVEFORM_PEAKS): number[] {
  const slice = Math.max(1, Math.floor(samples.length / count));
  return Array.from({ length: count }, (_, index) => {
    let peak = 0;
    for (let at = index * slice; at < Math.min(samples.length, (index + 1) * slice); at++) peak = Math.max(peak, Math.abs(samples[at]!));
    return Math.min(255, Math.round(peak * 255));
  });
}

/** Voice notes (`client.voice`): upload a recording with its waveform; transcribe a message's voice note. */
export class VoiceApi {
  constructor(private readonly api: RestClient) {}

  /**
   * Uploads a recording (Ogg/Opus, WebM/Opus, M4A or MP3) as a voice note; attach the answer's `id` to a message. The
   * server reads its duration and refuses one over its limit (`voice_too_long`).
   */
  async upload(
    recording: Blob,
    waveform: readonly number[],
    options: { filename?: string; clientUploadId?: string } = {},
  ): Promise<VoiceNoteMedia> {
    return (
      await this.api.upload('/api/media/voice', recording, {
        waveform: waveform.map((peak) => Math.max(0, Math.min(255, Math.round(peak)))).join(','),
        ...options,
      })
    ).media;
  }

  /**
   * The message's voice note as text (stored once per language: asking again costs nothing). Everyone who can read
   * the message also gets it live as `message.transcribed`.
   */
  async transcribe(messageId: string, language?: string): Promise<Transcript> {
    return (
      await this.api.request('post', '/api/messages/{id}/transcription', {
        params: { id: messageId },
        body: language === undefined ? {} : { language },
      })
    ).transcript;
  }
}
