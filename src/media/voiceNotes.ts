import { parseFile } from 'music-metadata';
import { UnsupportedMediaTypeError } from './mediaTypes.ts';

/**
 * Voice notes: an audio upload in one of the containers recorders write, whose duration the server reads from the
 * container itself (music-metadata: Ogg's last granule position, MP3 frames counted, MP4's movie header, Matroska's
 * segment info or, for a live WebM recording that states none, its last block's time), never from the client.
 */

/** The sniffed types a voice note may be: Ogg/Opus, WebM/Opus, M4A/AAC, MP3, raw AAC. */
export const VOICE_MIMES: ReadonlySet<string> = new Set(['audio/ogg', 'audio/webm', 'audio/mp4', 'audio/mpeg', 'audio/aac']);

export class NotAVoiceRecordingError extends UnsupportedMediaTypeError {
  constructor(mime: string) {
    super(mime, `A voice note is Ogg/Opus, WebM/Opus, M4A/AAC or MP3 audio, not ${mime}`);
  }
}

/** The recording's duration in whole milliseconds (rounded up), read from its container; unreadable: 415. */
export async function voiceDurationMs(path: string, mime: string): Promise<number> {
  let seconds: number | undefined;
  try {
    seconds = (await parseFile(path, { duration: true, skipCovers: true })).format.duration;
  } catch {
    seconds = undefined;
  }
  if (seconds === undefined || !Number.isFinite(seconds) || seconds <= 0)
    throw new UnsupportedMediaTypeError(mime, "The recording's duration could not be read from its container");
  return Math.ceil(seconds * 1000);
}
