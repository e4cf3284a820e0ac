import test from 'ava';
import { ValidationError } from '../../commands/shared/errors.ts';
import type { SealedField } from '../../commands/shared/sealed.ts';
import { transcriptDecider, type TranscriptEvent, type TranscriptFacts } from '../../commands/transcripts.ts';
import { metadata, spec } from '../helpers/spec.ts';

const transcripts = spec(transcriptDecider);
const sealedFor = (messageId: string): SealedField => ({
  sealed: 'xchacha20poly1305-ietf',
  kid: `message:${messageId}`,
  nonce: 'n',
  ct: 'c',
});
const facts: TranscriptFacts = {
  messageId: 'm1',
  conversationId: 'dm:a:b',
  mediaId: 'v1',
  language: 'en',
  text: sealedFor('m1'),
  requestedBy: 'b',
  model: 'gemini-2.5-flash',
};
const now = '2026-01-01T00:00:00.000Z';
const record = (overrides: Partial<TranscriptFacts> = {}) => ({
  type: 'RecordTranscript' as const,
  data: { ...facts, ...overrides },
  metadata: metadata({ now }),
});
const transcribed: TranscriptEvent = { type: 'MessageTranscribed', data: { ...facts, transcribedAt: now } };

test('a transcript is stored once per message and language, sealed with the message content key', (t) => {
  transcripts.given([]).when(record()).then(t, [transcribed]);
  transcripts.given([transcribed]).when(record()).then(t, []);
  transcripts
    .given([transcribed])
    .when(record({ language: 'de' }))
    .then(t, [{ type: 'MessageTranscribed', data: { ...facts, language: 'de', transcribedAt: now } }]);
});

test("a transcript in clear, or sealed with another message's key, is refused (it would outlive the message)", (t) => {
  transcripts
    .given([])
    .when(record({ text: { plain: 'hello' } }))
    .thenThrows(t, ValidationError);
  transcripts
    .given([])
    .when(record({ text: sealedFor('m2') }))
    .thenThrows(t, ValidationError);
});
