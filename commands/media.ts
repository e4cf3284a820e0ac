import { ConflictError, DomainError, ForbiddenError, NotFoundError, ValidationError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';

/**
 * One uploaded file (`media-<mediaId>`). The bytes live in the blob store, written and synced BEFORE the upload is
 * recorded, so no event ever points at bytes that are not there; a crash in between leaves an orphan blob for
 * the collector. Identical bytes are one blob, however many media name them.
 */
export const mediaStream = (mediaId: string) => `media-${mediaId}`;

export type MediaKind = 'image' | 'video' | 'audio' | 'document' | 'text';
/** What a file is for decides who may read it: a message's readers, whoever may see the avatar, a group's members. */
export type MediaPurpose = 'attachment' | 'avatar';

/**
 * What makes an audio upload a voice note: its duration, read by the server from the container, and the waveform the
 * recording client computed (peaks 0..255, drawn by every reader without decoding the audio).
 */
export interface VoiceFacts {
  durationMs: number;
  waveform: number[];
}

export const WAVEFORM_MIN_PEAKS = 16;
export const WAVEFORM_MAX_PEAKS = 128;

export class VoiceNoteTooLongError extends DomainError {
  constructor(durationMs: number, maxDurationMs: number) {
    super('voice_too_long', 422, `A voice note is at most ${maxDurationMs / 1000} s; this one is ${Math.ceil(durationMs / 1000)} s`, {
      durationMs,
      maxDurationMs,
    });
  }
}

export interface MediaFacts {
  mediaId: string;
  ownerId: string;
  sha256: string;
  size: number;
  mime: string;
  kind: MediaKind;
  filename: string;
  width: number | null;
  height: number | null;
  purpose: MediaPurpose;
  /** Square webp variants of an avatar by edge size ("512", "128", "48") → their blob hashes. */
  variants: Record<string, string>;
  /** Set on a voice note only (uploads before voice notes existed have none: absent means an ordinary file). */
  voice?: VoiceFacts | undefined;
}

export type MediaUploaded = Event<'MediaUploaded', MediaFacts & { uploadedAt: string }>;
export type MediaDeleted = Event<'MediaDeleted', { mediaId: string; ownerId: string; deletedAt: string }>;
/** Never attached within its time: the collector may reclaim its bytes. */
export type MediaExpired = Event<'MediaExpired', { mediaId: string; ownerId: string; expiredAt: string }>;
/**
 * A send is about to attach it: the time to be attached starts again, and an expiry decided on what the stream
 * held before the claim fails on the stream's revision and is decided again, so a file never expires under a send.
 */
export type MediaClaimed = Event<'MediaClaimed', { mediaId: string; ownerId: string; claimedAt: string }>;
export type MediaEvent = MediaUploaded | MediaDeleted | MediaExpired | MediaClaimed;
export const mediaEventTypes = [
  'MediaUploaded',
  'MediaDeleted',
  'MediaExpired',
  'MediaClaimed',
] as const satisfies readonly MediaEvent['type'][];

export interface Quota {
  usedBytes: number;
  usedFiles: number;
  maxBytes: number;
  maxFiles: number;
}

/**
 * `quota` is looked up by the shell: the owner's live media before this one. `maxVoiceDurationMs`: VOICE_MAX_SECONDS,
 * for a voice note.
 */
export type RecordUpload = Command<'RecordUpload', MediaFacts & { quota: Quota; maxVoiceDurationMs?: number | undefined }>;
export type DeleteMedia = Command<'DeleteMedia', { mediaId: string; actorId: string }>;
/**
 * `attached` is looked up by the shell: a message or a profile still names it. Only a file neither uploaded nor
 * claimed since `untouchedSince` expires.
 */
export type ExpireMedia = Command<'ExpireMedia', { mediaId: string; attached: boolean; untouchedSince: string }>;
/** A send attaching the file, before it is appended. */
export type ClaimMedia = Command<'ClaimMedia', { mediaId: string; actorId: string }>;
export type MediaCommand = RecordUpload | DeleteMedia | ExpireMedia | ClaimMedia;

export type MediaState =
  | { status: 'none' }
  /** `touchedAt`: uploaded or last claimed. */
  | { status: 'live' | 'deleted' | 'expired'; mediaId: string; ownerId: string; touchedAt: string };

export const initialState: MediaState = { status: 'none' };

export class QuotaExceededError extends DomainError {
  constructor(quota: Quota) {
    super('quota_exceeded', 403, 'Your storage quota is used up: delete some files first', { ...quota });
  }
}

/** A voice note is audio of a bounded duration, with a waveform of a bounded number of peaks, each 0..255. */
function assertVoiceNote(facts: MediaFacts, maxDurationMs: number): void {
  const { durationMs, waveform } = facts.voice!;
  if (facts.kind !== 'audio') throw new ValidationError('voice: a voice note is audio', { field: 'voice' });
  if (!Number.isInteger(durationMs) || durationMs <= 0) throw new ValidationError('voice: no duration', { field: 'voice.durationMs' });
  if (durationMs > maxDurationMs) throw new VoiceNoteTooLongError(durationMs, maxDurationMs);
  assertWaveform(waveform);
}

/** WAVEFORM_MIN_PEAKS to WAVEFORM_MAX_PEAKS integers, each 0..255. */
export function assertWaveform(waveform: readonly number[]): void {
  if (waveform.length < WAVEFORM_MIN_PEAKS || waveform.length > WAVEFORM_MAX_PEAKS)
    throw new ValidationError(`waveform: ${WAVEFORM_MIN_PEAKS} to ${WAVEFORM_MAX_PEAKS} peaks`, { field: 'waveform' });
  if (!waveform.every((peak) => Number.isInteger(peak) && peak >= 0 && peak <= 255))
    throw new ValidationError('waveform: each peak is an integer from 0 to 255', { field: 'waveform' });
}

export function evolve(state: MediaState, event: MediaEvent): MediaState {
  switch (event.type) {
    case 'MediaUploaded':
      return { status: 'live', mediaId: event.data.mediaId, ownerId: event.data.ownerId, touchedAt: event.data.uploadedAt };
    case 'MediaDeleted':
      return state.status === 'none' ? state : { ...state, status: 'deleted' };
    case 'MediaExpired':
      return state.status === 'none' ? state : { ...state, status: 'expired' };
    case 'MediaClaimed':
      return state.status === 'none' ? state : { ...state, touchedAt: event.data.claimedAt };
    default:
      return assertNever(event);
  }
}

export function decide(command: MediaCommand, state: MediaState): Decision<MediaEvent> {
  const now = command.metadata.now;
  switch (command.type) {
    case 'RecordUpload': {
      const { quota, maxVoiceDurationMs, ...facts } = command.data;
      // A retried upload (same owner, same clientUploadId) finds its media already recorded.
      if (state.status !== 'none') {
        if (state.ownerId !== facts.ownerId) throw new ConflictError('media_exists', 'A file with this id already exists');
        return [];
      }
      if (quota.usedFiles + 1 > quota.maxFiles || quota.usedBytes + facts.size > quota.maxBytes) throw new QuotaExceededError(quota);
      if (facts.voice) assertVoiceNote(facts, maxVoiceDurationMs ?? Infinity);
      return [{ type: 'MediaUploaded', data: { ...facts, uploadedAt: now } }];
    }
    case 'DeleteMedia': {
      if (state.status === 'none') throw new NotFoundError('Media');
      if (state.ownerId !== command.data.actorId) throw new ForbiddenError('Only the uploader can delete a file');
      if (state.status !== 'live') return [];
      return [{ type: 'MediaDeleted', data: { mediaId: state.mediaId, ownerId: state.ownerId, deletedAt: now } }];
    }
    case 'ExpireMedia': {
      if (state.status !== 'live' || command.data.attached || state.touchedAt >= command.data.untouchedSince) return [];
      return [{ type: 'MediaExpired', data: { mediaId: state.mediaId, ownerId: state.ownerId, expiredAt: now } }];
    }
    case 'ClaimMedia': {
      // Someone else's file is not found, as everywhere: whether it exists is not the sender's to learn.
      if (state.status !== 'live' || state.ownerId !== command.data.actorId) throw new NotFoundError('Media');
      return [{ type: 'MediaClaimed', data: { mediaId: state.mediaId, ownerId: state.ownerId, claimedAt: now } }];
    }
    default:
      return assertNever(command);
  }
}

export const mediaDecider: Decider<MediaCommand, MediaEvent, MediaState> = { eventTypes: mediaEventTypes, initialState, evolve, decide };
