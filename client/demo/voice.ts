import type { LetsAppClient, Message } from '../index.ts';
import { peaksOf, WAVEFORM_PEAKS } from '../voice.ts';
import type { ChatView } from './chat.ts';
import { byId, h, showError } from './dom.ts';
import type { MediaCache } from './media.ts';

type AttachedFile = Message['files'][number];

/**
 * Voice notes in the demo: record with the microphone (MediaRecorder, WebM/Opus in Chromium), send with the waveform
 * computed here, play back, and transcribe (the transcript also arrives live as `message.transcribed`).
 */
export class VoiceView {
  private recorder: MediaRecorder | null = null;
  private readonly button = byId<HTMLButtonElement>('record');
  private readonly error = byId('chat-error');

  constructor(
    private readonly client: LetsAppClient,
    private readonly chat: ChatView,
  ) {
    this.button.addEventListener('click', () => void (this.recorder ? this.stop() : this.start()));
    client.on('message.transcribed', (frame) => showTranscript(frame.messageId, frame.transcript.text));
  }

  private async start(): Promise<void> {
    this.error.textContent = '';
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const recorder = new MediaRecorder(
        stream,
        MediaRecorder.isTypeSupported('audio/webm;codecs=opus') ? { mimeType: 'audio/webm;codecs=opus' } : {},
      );
      const chunks: Blob[] = [];
      recorder.addEventListener('dataavailable', (event) => chunks.push(event.data));
      recorder.addEventListener('stop', () => {
        stream.getTracks().forEach((track) => track.stop());
        void this.send(new Blob(chunks, { type: recorder.mimeType }));
      });
      recorder.start();
      this.recorder = recorder;
      this.button.textContent = 'Stop and send';
      this.button.dataset.recording = 'true';
    } catch (error) {
      showError(this.error, error);
    }
  }

  private stop(): void {
    this.recorder?.stop();
    this.recorder = null;
    this.button.textContent = 'Record';
    delete this.button.dataset.recording;
  }

  private async send(recording: Blob): Promise<void> {
    const open = this.chat.current;
    if (!open) return;
    try {
      const media = await this.client.voice.upload(recording, await waveformOf(recording), {
        filename: recording.type.includes('ogg') ? 'voice.ogg' : recording.type.includes('mp4') ? 'voice.m4a' : 'voice.weba',
      });
      await this.client.sendMessage({
        ...(open.target.groupId !== undefined ? { groupId: open.target.groupId } : { recipientId: open.target.with }),
        text: '🎤 voice note',
        attachments: [media.id],
      });
    } catch (error) {
      showError(this.error, error);
    }
  }
}

/** The recording's peaks, decoded here; a recording the browser cannot decode gets a flat line. */
async function waveformOf(recording: Blob): Promise<number[]> {
  const context = new AudioContext();
  try {
    const audio = await context.decodeAudioData(await recording.arrayBuffer());
    return peaksOf(audio.getChannelData(0), WAVEFORM_PEAKS);
  } catch {
    return Array<number>(WAVEFORM_PEAKS).fill(0);
  } finally {
    void context.close();
  }
}

function showTranscript(messageId: string, text: string): void {
  for (const element of document.querySelectorAll<HTMLElement>(`[data-testid="transcript"][data-message-id="${CSS.escape(messageId)}"]`)) {
    element.textContent = text;
    element.hidden = false;
  }
}

/** A voice note in a message: a player, its waveform and duration, and a Transcribe button. */
export function voiceNoteElement(
  client: LetsAppClient,
  media: MediaCache,
  message: Message,
  file: AttachedFile,
  error: HTMLElement,
): HTMLElement {
  const voice = file.voice!;
  const audio = h('audio', { controls: true, preload: 'auto', 'data-testid': 'voice-audio' });
  void media.url(file.id).then((url) => {
    audio.src = url;
  });
  const bars = h(
    'span',
    { class: 'waveform', 'data-testid': 'waveform', 'aria-hidden': 'true' },
    ...voice.waveform.map((peak) => {
      const bar = h('span', { class: 'bar' });
      bar.style.height = `${Math.max(2, Math.round((peak / 255) * 24))}px`;
      return bar;
    }),
  );
  const seconds = Math.round(voice.durationMs / 1000);
  const transcript = h('p', { class: 'transcript', 'data-testid': 'transcript', 'data-message-id': message.id });
  const known = message.transcripts?.[0]?.text;
  transcript.hidden = known === undefined;
  if (known !== undefined) transcript.textContent = known;
  const transcribe = h('button', { type: 'button', 'data-testid': 'transcribe' }, 'Transcribe');
  transcribe.addEventListener(
    'click',
    () =>
      void client.voice.transcribe(message.id).then(
        (result) => showTranscript(message.id, result.text),
        (failure: unknown) => showError(error, failure),
      ),
  );
  return h(
    'div',
    { class: 'voice-note', 'data-testid': 'voice-note', 'data-duration-ms': voice.durationMs },
    audio,
    bars,
    h('span', { class: 'meta', 'data-testid': 'voice-duration' }, `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`),
    transcribe,
    transcript,
  );
}
