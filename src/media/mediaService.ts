import { rm, stat, utimes } from 'node:fs/promises';
import type { Context } from 'koa';
import {
  assertWaveform,
  mediaDecider,
  mediaStream,
  VoiceNoteTooLongError,
  type MediaCommand,
  type MediaFacts,
  type MediaPurpose,
  type VoiceFacts,
} from '../../commands/media.ts';
import { NotFoundError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { GROUPS, type GroupDoc } from '../../projections/groups.ts';
import { MEDIA_FILES, type MediaDoc } from '../../projections/mediaFiles.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { deriveId } from '../ids.ts';
import type { ConversationAccess } from '../messaging/access.ts';
import { relationship, sees } from '../people/visibility.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import { hashFile, type BlobStore } from './blobStore.ts';
import { stripContainerMetadata } from './containerMetadata.ts';
import type { ImageProcessor } from './imageProcessor.ts';
import { safeFilename, UnsupportedMediaTypeError, type MediaLimits } from './mediaTypes.ts';
import { QuotaReservations } from './quotaReservations.ts';
import { receiveUpload, type ReceivedUpload } from './receiveUpload.ts';
import { NotAVoiceRecordingError, VOICE_MIMES, voiceDurationMs } from './voiceNotes.ts';

export interface MediaSettings {
  limits: MediaLimits;
  quotaBytes: number;
  quotaFiles: number;
  uploadIdleTimeoutMs: number;
  /** An upload not attached (nor claimed by a send) for this long is expired by the collector. */
  unattachedTtlMs: number;
  /** VOICE_MAX_SECONDS: a longer voice note is refused. */
  voiceMaxSeconds: number;
}

/** A file as its uploader and readers see it. */
export interface PublicMedia {
  id: string;
  kind: MediaFacts['kind'];
  mime: string;
  size: number;
  sha256: string;
  width: number | null;
  height: number | null;
  filename: string;
  createdAt: string;
  /** A voice note's duration and waveform; null for any other file. */
  voice: VoiceFacts | null;
}

export const toPublicMedia = (doc: MediaDoc): PublicMedia => ({
  id: doc._id,
  kind: doc.kind,
  mime: doc.mime,
  size: doc.size,
  sha256: doc.sha256,
  width: doc.width,
  height: doc.height,
  filename: doc.filename,
  createdAt: doc.uploadedAt,
  voice: doc.voice ?? null,
});

/** A raw body's declared length is its file's size; a multipart body's also counts its framing, so it claims nothing ahead. */
function declaredFileSize(ctx: Context): number {
  if (ctx.is('multipart/form-data')) return 0;
  const declared = Number(ctx.get('content-length'));
  return Number.isSafeInteger(declared) && declared > 0 ? declared : 0;
}

/** The edges a thumbnail comes in (a square crop, or fitted inside the square). */
export const THUMBNAIL_SIZES = [64, 128, 256, 512, 1024] as const;
/** Serving a thumbnail marks it used at most this often (one write per hour, not one per read). */
const THUMBNAIL_USE_RESOLUTION_MS = 3_600_000;

/** The smallest fixed edge that covers width × height, else the largest. */
export function thumbnailEdgeFor(width: number, height: number): number {
  const wanted = Math.max(width, height);
  return THUMBNAIL_SIZES.find((edge) => edge >= wanted) ?? THUMBNAIL_SIZES[THUMBNAIL_SIZES.length - 1]!;
}

/** Avatar variants, square webp, by edge size. */
export const AVATAR_SIZES = [512, 128, 48] as const;

/**
 * Files: received streamed and checked by their bytes (receiveUpload), images re-encoded (no EXIF, no GPS), stored
 * by content, then recorded; read back only by whoever may: the uploader, the readers of a message that attaches
 * it, whoever may see the avatar it is, the members of the group whose icon it is.
 */
export class MediaService {
  private readonly reservations: QuotaReservations;

  constructor(
    private readonly deps: {
      commands: CommandHandler;
      readStore: ReadStore;
      projections: Projections;
      access: ConversationAccess;
      blobs: BlobStore;
      images: ImageProcessor;
      settings: MediaSettings;
    },
  ) {
    this.reservations = new QuotaReservations({ maxBytes: deps.settings.quotaBytes, maxFiles: deps.settings.quotaFiles });
  }

  /** `created` is false when a retry with the same clientUploadId found its first upload. */
  async upload(
    ctx: Context,
    ownerId: string,
    metadata: CommandMetadata,
    options: { purpose: MediaPurpose; clientUploadId?: string | undefined; voice?: { waveform: number[] } | undefined },
  ): Promise<{ media: PublicMedia; created: boolean }> {
    // A waveform out of bounds is refused before a byte is read.
    if (options.voice) assertWaveform(options.voice.waveform);
    const mediaId = deriveId('media', ownerId, options.clientUploadId ?? metadata.commandId);
    // A retried upload with the same clientUploadId answers with the first one, before reading its bytes again.
    const existing = await this.deps.readStore.collection<MediaDoc>(MEDIA_FILES).findOne({ _id: mediaId, ownerId });
    if (existing) {
      ctx.req.resume();
      return { media: toPublicMedia(existing), created: false };
    }
    // The quota is claimed before the first byte and grows with every byte, so parallel uploads cannot each fit.
    const reservation = this.reservations.reserve(ownerId, mediaId, await this.liveUsageOf(ownerId), declaredFileSize(ctx));
    try {
      let received = await receiveUpload(ctx, {
        limits: this.deps.settings.limits,
        blobs: this.deps.blobs,
        idleTimeoutMs: this.deps.settings.uploadIdleTimeoutMs,
        onBytes: reservation.grow,
      });
      if (options.purpose === 'avatar' && received.type.kind !== 'image') {
        await rm(received.tempPath, { force: true });
        throw new UnsupportedMediaTypeError(received.type.mime, 'A profile picture is an image (jpeg, png, webp, gif or avif)');
      }
      let voice: VoiceFacts | undefined;
      if (options.voice) ({ received, voice } = await this.asVoiceNote(received, options.voice.waveform));
      const stored = await this.store(received, options.purpose, ownerId);
      const facts: MediaFacts = {
        mediaId,
        ownerId,
        sha256: stored.sha256,
        size: stored.size,
        mime: stored.mime,
        kind: received.type.kind,
        filename: safeFilename(received.filename, received.type.ext),
        width: stored.width,
        height: stored.height,
        purpose: options.purpose,
        variants: stored.variants,
        ...(voice ? { voice } : {}),
      };
      const quota = reservation.usageBesides(await this.liveUsageOf(ownerId));
      const maxVoiceDurationMs = this.deps.settings.voiceMaxSeconds * 1000;
      // Released only once recorded and projected (run waits): until then the claim stands for the file.
      const created = await this.run(mediaId, { type: 'RecordUpload', data: { ...facts, quota, maxVoiceDurationMs }, metadata });
      return { media: toPublicMedia(await this.require(mediaId)), created };
    } finally {
      reservation.release();
    }
  }

  async delete(actorId: string, mediaId: string, metadata: CommandMetadata): Promise<void> {
    const doc = await this.deps.readStore.collection<MediaDoc>(MEDIA_FILES).findOne({ _id: mediaId });
    // Someone else's file is not found: whether it exists is not theirs to learn.
    if (!doc || doc.ownerId !== actorId) throw new NotFoundError('Media');
    await this.run(mediaId, { type: 'DeleteMedia', data: { mediaId, actorId }, metadata });
  }

  /** The file if `viewerId` may read it, else 404 (deleted and expired files are gone for everyone). */
  async readable(viewerId: string, mediaId: string): Promise<MediaDoc> {
    const doc = await this.deps.readStore.collection<MediaDoc>(MEDIA_FILES).findOne({ _id: mediaId });
    if (!doc || doc.state !== 'live' || !(await this.mayRead(viewerId, doc))) throw new NotFoundError('Media');
    return doc;
  }

  /**
   * Live attachments owned by `ownerId` among `ids` (a message may only attach its sender's own files). One that no
   * message names and that was uploaded over half its time to be attached ago is claimed on its own stream first: the
   * collector's expiry and the claim are decided on the same stream, so it is either expired before the send (which
   * then refuses it) or not expired under it. A younger one cannot be reached by a collector before the send lands
   * (that would take the send half the time, at least 30 s), and attaching it appends nothing to its stream.
   */
  async claimAttachments(ownerId: string, ids: readonly string[], metadata: CommandMetadata): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const docs = await this.deps.readStore.collection<MediaDoc>(MEDIA_FILES).find({ _id: { $in: [...ids] }, ownerId, state: 'live' });
    const claimed = new Set<string>();
    const claimIfUploadedBefore = Date.parse(metadata.now) - this.deps.settings.unattachedTtlMs / 2;
    for (const doc of docs) {
      if (doc.purpose !== 'attachment') continue;
      if (doc.references.length === 0 && Date.parse(doc.uploadedAt) < claimIfUploadedBefore) {
        try {
          await this.deps.commands.handle(mediaDecider, mediaStream(doc._id), {
            type: 'ClaimMedia',
            data: { mediaId: doc._id, actorId: ownerId },
            metadata,
          });
        } catch (error) {
          if (error instanceof NotFoundError) continue; // expired or deleted a moment ago
          throw error;
        }
      }
      claimed.add(doc._id);
    }
    return claimed;
  }

  /**
   * A thumbnail of an image the viewer may read, in one of the fixed sizes: the smallest edge of THUMBNAIL_SIZES that
   * covers the request, as a square crop or fitted inside that square (never upscaled, webp). So an image has at most
   * ten, whatever is asked. Made on first request and kept beside its blob, where serving it marks it used: the
   * collector evicts the least recently used past its byte budget, and removes them all with their blob.
   */
  async thumbnail(viewerId: string, mediaId: string, size: { width: number; height: number; method: 'crop' | 'scale' }) {
    const doc = await this.readable(viewerId, mediaId);
    if (doc.kind !== 'image') throw new NotFoundError('Thumbnail');
    const edge = thumbnailEdgeFor(size.width, size.height);
    const name = `${edge}-${size.method}`;
    const path = this.deps.blobs.derivedPath(doc.sha256, name);
    let info = await stat(path).catch(() => null);
    if (!info) {
      await this.deps.images.thumbnail(this.pathOf(doc.sha256), path, edge, edge, size.method, viewerId);
      info = await stat(path);
    } else if (info.mtimeMs < Date.now() - THUMBNAIL_USE_RESOLUTION_MS) {
      const now = new Date();
      await utimes(path, now, now).catch(() => undefined); // evicted just now: made again on the next request
    }
    return { path, size: info.size, etag: `${doc.sha256}-${name}`, filename: doc.filename };
  }

  /** A live image `ownerId` uploaded (a group icon). */
  async ownedImage(ownerId: string, mediaId: string): Promise<boolean> {
    return (
      (await this.deps.readStore
        .collection<MediaDoc>(MEDIA_FILES)
        .countDocuments({ _id: mediaId, ownerId, state: 'live', kind: 'image' })) > 0
    );
  }

  pathOf(sha256: string): string {
    return this.deps.blobs.pathOf(sha256);
  }

  private async mayRead(viewerId: string, doc: MediaDoc): Promise<boolean> {
    if (doc.ownerId === viewerId) return true;
    for (const reference of doc.references)
      if (await this.deps.access.canReadAt(viewerId, reference.conversationId, reference.position)) return true;
    if (doc.purpose === 'avatar') {
      const owner = await this.deps.readStore.collection<UserDoc>(USERS).findOne({ _id: doc.ownerId });
      if (owner?.avatarMediaId === doc._id && sees(owner.privacy.avatar, await relationship(this.deps.readStore, viewerId, doc.ownerId)))
        return true;
    }
    return (
      (await this.deps.readStore.collection<GroupDoc>(GROUPS).countDocuments({ iconMediaId: doc._id, memberIds: viewerId }, { limit: 1 })) >
      0
    );
  }

  /**
   * Re-encodes images (and makes an avatar's variants), strips MP4/QuickTime/M4A metadata, then moves the bytes to
   * their content address.
   */
  private async store(received: ReceivedUpload, purpose: MediaPurpose, ownerId: string) {
    const temps = [received.tempPath];
    try {
      let { sha256, size } = received;
      let mime = received.type.mime;
      let width: number | null = null;
      let height: number | null = null;
      let source = received.tempPath;
      if (received.type.kind === 'image') {
        const output = this.deps.blobs.tempPath();
        temps.push(output);
        ({ width, height, mime } = await this.deps.images.reencode(received.tempPath, output, received.type.mime, ownerId));
        ({ sha256, size } = await hashFile(output));
        source = output;
      } else if (await stripContainerMetadata(received.tempPath, received.type.mime)) {
        // An MP4/QuickTime/M4A loses its location and device boxes in place (see containerMetadata for what stays).
        ({ sha256, size } = await hashFile(received.tempPath));
      }
      const variants: Record<string, string> = {};
      if (purpose === 'avatar') {
        const tempFor = () => {
          const path = this.deps.blobs.tempPath();
          temps.push(path);
          return path;
        };
        for (const variant of await this.deps.images.squareVariants(source, tempFor, AVATAR_SIZES, ownerId)) {
          const hashed = await hashFile(variant.path);
          await this.deps.blobs.commit(variant.path, hashed.sha256);
          variants[String(variant.size)] = hashed.sha256;
        }
      }
      await this.deps.blobs.commit(source, sha256);
      return { sha256, size, mime, width, height, variants };
    } finally {
      await Promise.all(temps.map((path) => rm(path, { force: true })));
    }
  }

  /**
   * A voice note's facts, or the upload is refused (its temp file removed, nothing stored): audio in a recorder's
   * container (a WebM or MP4 that was sniffed as video counts as its audio-only kind: the client said it is a
   * recording), with a duration read from the container within VOICE_MAX_SECONDS.
   */
  private async asVoiceNote(received: ReceivedUpload, waveform: number[]): Promise<{ received: ReceivedUpload; voice: VoiceFacts }> {
    try {
      let { type } = received;
      if (type.mime === 'video/webm') type = { ...type, kind: 'audio', mime: 'audio/webm', ext: 'weba' };
      if (type.mime === 'video/mp4') type = { ...type, kind: 'audio', mime: 'audio/mp4', ext: 'm4a' };
      if (type.kind !== 'audio' || !VOICE_MIMES.has(type.mime)) throw new NotAVoiceRecordingError(type.mime);
      const durationMs = await voiceDurationMs(received.tempPath, type.mime);
      const maxDurationMs = this.deps.settings.voiceMaxSeconds * 1000;
      if (durationMs > maxDurationMs) throw new VoiceNoteTooLongError(durationMs, maxDurationMs);
      return { received: { ...received, type }, voice: { durationMs, waveform } };
    } catch (error) {
      await rm(received.tempPath, { force: true });
      throw error;
    }
  }

  private async liveUsageOf(ownerId: string) {
    const live = await this.deps.readStore.collection<MediaDoc>(MEDIA_FILES).find({ ownerId, state: 'live' });
    return {
      usedBytes: live.reduce((sum, doc) => sum + doc.size, 0),
      usedFiles: live.length,
      mediaIds: new Set(live.map((doc) => doc._id)),
    };
  }

  /** Whether anything was appended. */
  private async run(mediaId: string, command: MediaCommand): Promise<boolean> {
    const result = await this.deps.commands.handle(mediaDecider, mediaStream(mediaId), command);
    if (result.position === null) return false;
    await this.deps.projections.waitFor(result.position);
    return true;
  }

  private async require(mediaId: string): Promise<MediaDoc> {
    const doc = await this.deps.readStore.collection<MediaDoc>(MEDIA_FILES).findOne({ _id: mediaId });
    if (!doc) throw new NotFoundError('Media');
    return doc;
  }
}
