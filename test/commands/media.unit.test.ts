import test from 'ava';
import {
  mediaDecider,
  QuotaExceededError,
  VoiceNoteTooLongError,
  type MediaCommand,
  type MediaEvent,
  type MediaFacts,
} from '../../commands/media.ts';
import { NotFoundError, ValidationError } from '../../commands/shared/errors.ts';
import { metadata, spec } from '../helpers/spec.ts';

const media = spec(mediaDecider);
const uploadedAt = '2026-01-01T00:00:00.000Z';
const facts: MediaFacts = {
  mediaId: 'm',
  ownerId: 'me',
  sha256: 'a'.repeat(64),
  size: 10,
  mime: 'text/plain; charset=utf-8',
  kind: 'text',
  filename: 'a.txt',
  width: null,
  height: null,
  purpose: 'attachment',
  variants: {},
};
const uploaded: MediaEvent = { type: 'MediaUploaded', data: { ...facts, uploadedAt } };
const command = (now: string, rest: Omit<MediaCommand, 'metadata'>) => ({ ...rest, metadata: metadata({ now }) }) as MediaCommand;
const day2 = '2026-01-02T12:00:00.000Z';
const expire = (untouchedSince: string, now = day2) =>
  command(now, { type: 'ExpireMedia', data: { mediaId: 'm', attached: false, untouchedSince } });

test('an upload not claimed since the cutoff expires; one claimed by a send since then does not', (t) => {
  media
    .given([uploaded])
    .when(expire('2026-01-01T12:00:00.000Z'))
    .then(t, [{ type: 'MediaExpired', data: { mediaId: 'm', ownerId: 'me', expiredAt: day2 } }]);
  const claimed: MediaEvent = { type: 'MediaClaimed', data: { mediaId: 'm', ownerId: 'me', claimedAt: '2026-01-02T11:59:00.000Z' } };
  media.given([uploaded, claimed]).when(expire('2026-01-01T12:00:00.000Z')).then(t, []);
  media.given([uploaded]).when(expire('2025-12-31T00:00:00.000Z')).then(t, []); // uploaded after the cutoff
});

test("a send claims its sender's live file; an expired, deleted or someone else's file cannot be claimed", (t) => {
  const claim = (actorId = 'me') => command(day2, { type: 'ClaimMedia', data: { mediaId: 'm', actorId } });
  media
    .given([uploaded])
    .when(claim())
    .then(t, [{ type: 'MediaClaimed', data: { mediaId: 'm', ownerId: 'me', claimedAt: day2 } }]);
  media
    .given([uploaded, { type: 'MediaExpired', data: { mediaId: 'm', ownerId: 'me', expiredAt: day2 } }])
    .when(claim())
    .thenThrows(t, NotFoundError);
  media
    .given([uploaded, { type: 'MediaDeleted', data: { mediaId: 'm', ownerId: 'me', deletedAt: day2 } }])
    .when(claim())
    .thenThrows(t, NotFoundError);
  media.given([uploaded]).when(claim('someone-else')).thenThrows(t, NotFoundError);
  media.given([]).when(claim()).thenThrows(t, NotFoundError);
});

test('the quota the shell looked up decides: one file or one byte over is refused', (t) => {
  const record = (usedBytes: number, usedFiles: number) =>
    command(uploadedAt, { type: 'RecordUpload', data: { ...facts, quota: { usedBytes, usedFiles, maxBytes: 100, maxFiles: 2 } } });
  media.given([]).when(record(90, 1)).then(t, [uploaded]);
  media.given([]).when(record(91, 1)).thenThrows(t, QuotaExceededError, 'quota_exceeded');
  media.given([]).when(record(0, 2)).thenThrows(t, QuotaExceededError, 'quota_exceeded');
});

test('a voice note is recorded with its duration and waveform; one too long, not audio, or with a waveform out of bounds is refused', (t) => {
  const quota = { usedBytes: 0, usedFiles: 0, maxBytes: 1_000, maxFiles: 10 };
  const voiceFacts: MediaFacts = {
    ...facts,
    mime: 'audio/ogg',
    kind: 'audio',
    filename: 'v.ogg',
    voice: { durationMs: 3_000, waveform: Array(64).fill(7) },
  };
  const record = (overrides: Partial<MediaFacts>) =>
    command(uploadedAt, { type: 'RecordUpload', data: { ...voiceFacts, ...overrides, quota, maxVoiceDurationMs: 5_000 } });
  media
    .given([])
    .when(record({}))
    .then(t, [{ type: 'MediaUploaded', data: { ...voiceFacts, uploadedAt } }]);
  media
    .given([])
    .when(record({ voice: { durationMs: 5_001, waveform: Array(64).fill(7) } }))
    .thenThrows(t, VoiceNoteTooLongError);
  media
    .given([])
    .when(record({ kind: 'text' }))
    .thenThrows(t, ValidationError);
  media
    .given([])
    .when(record({ voice: { durationMs: 3_000, waveform: Array(15).fill(7) } }))
    .thenThrows(t, ValidationError);
  media
    .given([])
    .when(record({ voice: { durationMs: 3_000, waveform: Array(129).fill(7) } }))
    .thenThrows(t, ValidationError);
  media
    .given([])
    .when(record({ voice: { durationMs: 3_000, waveform: [...Array(63).fill(7), 256] } }))
    .thenThrows(t, ValidationError);
  media
    .given([])
    .when(record({ voice: { durationMs: 3_000, waveform: [...Array(63).fill(7), 1.5] } }))
    .thenThrows(t, ValidationError);
});
