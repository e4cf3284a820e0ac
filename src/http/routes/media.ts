import { stat } from 'node:fs/promises';
import { z } from 'zod';
import { UnauthorizedError } from '../../../commands/shared/errors.ts';
import { ownProfile, voiceNote } from '../../contract/models.ts';
import type { MediaService } from '../../media/mediaService.ts';
import type { MediaTokens } from '../../media/mediaTokens.ts';
import type { Principal } from '../../auth/authenticator.ts';
import { INLINE_SAFE_MIME } from '../../media/mediaTypes.ts';
import { sendBlob } from '../../media/sendBlob.ts';
import type { ProfileService } from '../../people/profileService.ts';
import { clientMessageId } from '../../contract/messagingSchemas.ts';
import { idParams, queryInteger } from '../../contract/validation.ts';
import { actorMetadata } from '../context.ts';
import { handled, noContent, reply, route } from '../routeTable.ts';

export interface MediaRouteDeps {
  media: MediaService;
  profiles: ProfileService;
  tokens: MediaTokens;
  clock: () => Date;
}

export const media = z
  .strictObject({
    id: z.uuid(),
    kind: z.enum(['image', 'video', 'audio', 'document', 'text']),
    mime: z.string(),
    size: z.number().int().min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    width: z.number().int().nullable(),
    height: z.number().int().nullable(),
    filename: z.string(),
    createdAt: z.iso.datetime(),
    voice: voiceNote.nullable().meta({ description: 'Set on a voice note (POST /api/media/voice)' }),
  })
  .meta({ id: 'Media' });

const uploadQuery = z.strictObject({
  filename: z.string().max(255).optional(),
  clientUploadId: clientMessageId.optional().meta({ description: 'Makes a retried upload answer with the first one' }),
});
const downloadQuery = z.strictObject({
  token: z.string().max(2_048).optional(),
  size: z.enum(['512', '128', '48']).optional().meta({ description: "A profile picture's square variant" }),
});
const BINARY = ['*/*'];
/** A raw body is read as the file whatever its Content-Type says (the bytes decide), except JSON and forms: 415. */
const RAW_FILE_TYPES = ['application/octet-stream', 'image/*'];
const RAW_FILE =
  'Multipart with one part `file`, or the file as the raw body under any Content-Type but JSON and forms (the type is sniffed from the bytes).';

/** Files under /api/media, and the profile picture. */
export function mediaRoutes({ media: files, profiles, tokens, clock }: MediaRouteDeps) {
  const meta = actorMetadata(clock);
  /** The reader: the bearer's user, else the one a `?token=` for this file was issued to. */
  const viewerOf = (principal: Principal | null, token: string | undefined, mediaId: string): string => {
    if (principal) return principal.userId;
    if (token) return tokens.verify(token, mediaId, clock());
    throw new UnauthorizedError('Missing access token', 'missing_token');
  };
  return [
    route({
      method: 'post',
      path: '/api/media/upload',
      operationId: 'uploadMedia',
      tag: 'media',
      auth: true,
      rateLimit: 'upload',
      summary: 'Upload a file, checked by its bytes',
      description:
        'Multipart (one part `file`) or the raw body with its Content-Type and `?filename=`. The type is sniffed from the bytes and ' +
        'decides the size limit; images are re-encoded (EXIF and GPS gone); MP4, QuickTime and M4A lose their metadata boxes (location, ' +
        'device). SVG, HTML, HEIC and unknown types: 415.',
      query: uploadQuery,
      rawBody: {
        contentTypes: ['multipart/form-data', ...RAW_FILE_TYPES, 'audio/*', 'video/*', 'text/plain', 'application/pdf'],
        description: RAW_FILE,
      },
      responses: {
        201: { description: 'Stored', schema: z.strictObject({ media }) },
        200: { description: 'A retry with the same clientUploadId: the first upload', schema: z.strictObject({ media }) },
      },
      errors: ['extension_mismatch', 'image_too_large', 'invalid_image', 'quota_exceeded', 'busy', 'concurrency_conflict'],
      handle: async ({ principal, query, ctx }) => {
        const { media, created } = await files.upload(ctx, principal.userId, meta(ctx), {
          purpose: 'attachment',
          clientUploadId: query.clientUploadId,
        });
        return reply(created ? 201 : 200, { media });
      },
    }),
    route({
      method: 'get',
      path: '/api/media/{id}',
      operationId: 'downloadMedia',
      tag: 'media',
      auth: 'bearer-or-media-token',
      rateLimit: null,
      summary: "The file's bytes (also HEAD), to whoever may read it",
      description:
        'The uploader, anyone who can read a message attaching it, anyone who may see the profile picture it is, the members of ' +
        'the group whose icon it is; everyone else 404. Supports `Range` (206, 416), `If-None-Match` (304), `If-Range`. Served with the ' +
        'sniffed type, `nosniff`, a sandbox CSP, and `Content-Disposition` inline only for images, video and audio.',
      params: idParams,
      query: downloadQuery,
      responses: {
        200: { description: 'The whole file', contentType: BINARY },
        206: { description: 'One range', contentType: BINARY },
        304: { description: 'Not modified' },
      },
      errors: ['not_found', 'range_not_satisfiable'],
      handle: async ({ principal, params, query, ctx }) => {
        const doc = await files.readable(viewerOf(principal, query.token, params.id), params.id);
        // A profile picture's variant is its own blob (square webp); the original is the re-encoded upload.
        const variant = query.size ? doc.variants[query.size] : undefined;
        const path = files.pathOf(variant ?? doc.sha256);
        const mime = variant ? 'image/webp' : doc.mime;
        await sendBlob(ctx, {
          path,
          size: variant ? (await stat(path)).size : doc.size,
          sha256: variant ?? doc.sha256,
          mime,
          filename: doc.filename,
          inline: INLINE_SAFE_MIME.has(mime),
        });
        return handled(ctx.status as 200);
      },
    }),
    route({
      method: 'get',
      path: '/api/media/{id}/thumbnail',
      operationId: 'mediaThumbnail',
      tag: 'media',
      auth: 'bearer-or-media-token',
      rateLimit: 'read',
      summary: 'A thumbnail of an image (webp, never upscaled) in a fixed size; same access as the file',
      description:
        'Served in the smallest of 64, 128, 256, 512 and 1024 px that covers `width` and `height` (a centred square for `crop`, ' +
        'fitted inside the square for `scale`), so the client scales it down itself. Made on first request and kept as a cache: ' +
        'the least recently served are evicted past a byte budget and made again on request.',
      params: idParams,
      query: z.strictObject({
        // Required: a preprocessed schema reads as optional to zod-openapi, so the document is told explicitly.
        width: queryInteger(z.number().int().min(16).max(1024)).meta({ param: { required: true } }),
        height: queryInteger(z.number().int().min(16).max(1024)).meta({ param: { required: true } }),
        method: z.enum(['crop', 'scale']).default('scale'),
        token: z.string().max(2_048).optional(),
      }),
      responses: {
        200: { description: 'The thumbnail', contentType: ['image/webp'] },
        206: { description: 'One range', contentType: ['image/webp'] },
        304: { description: 'Not modified' },
      },
      errors: ['not_found', 'range_not_satisfiable', 'invalid_image', 'busy'],
      handle: async ({ principal, params, query, ctx }) => {
        const thumb = await files.thumbnail(viewerOf(principal, query.token, params.id), params.id, query);
        await sendBlob(ctx, {
          path: thumb.path,
          size: thumb.size,
          sha256: thumb.etag,
          mime: 'image/webp',
          filename: thumb.filename.replace(/\.[^.]*$/, '.webp'),
          inline: true,
        });
        return handled(ctx.status as 200);
      },
    }),
    route({
      method: 'post',
      path: '/api/media/{id}/token',
      operationId: 'mediaToken',
      tag: 'media',
      auth: true,
      rateLimit: 'read',
      summary: 'A short-lived token for `?token=` (for `<img>` and `<video>`, which cannot send a bearer header)',
      params: idParams,
      responses: {
        200: {
          description: 'For this file and this user only',
          schema: z.strictObject({ token: z.string(), expiresAt: z.iso.datetime() }),
        },
      },
      errors: ['not_found'],
      handle: async ({ principal, params }) => {
        await files.readable(principal.userId, params.id);
        return reply(200, tokens.issue(principal.userId, params.id, clock()));
      },
    }),
    route({
      method: 'delete',
      path: '/api/media/{id}',
      operationId: 'deleteMedia',
      tag: 'media',
      auth: true,
      rateLimit: 'upload',
      summary: 'Delete a file (the uploader); messages keep a tombstone of it',
      params: idParams,
      responses: { 204: { description: 'Deleted' } },
      errors: ['not_found', 'forbidden', 'concurrency_conflict'],
      handle: async ({ principal, params, ctx }) => {
        await files.delete(principal.userId, params.id, meta(ctx));
        return noContent();
      },
    }),
    route({
      method: 'post',
      path: '/api/users/profile-picture',
      operationId: 'setProfilePicture',
      tag: 'people',
      auth: true,
      rateLimit: 'upload',
      summary: 'Upload a new profile picture (an image; square 512, 128 and 48 px variants are made)',
      description: 'As /api/media/upload. Served by GET /api/media/{id}?size=; shown per the `avatar` privacy setting.',
      rawBody: { contentTypes: ['multipart/form-data', ...RAW_FILE_TYPES], description: `The image. ${RAW_FILE}` },
      responses: { 200: { description: 'The profile with its new picture', schema: z.strictObject({ profile: ownProfile }) } },
      errors: ['extension_mismatch', 'image_too_large', 'invalid_image', 'quota_exceeded', 'busy', 'concurrency_conflict'],
      handle: async ({ principal, ctx }) => {
        const metadata = meta(ctx);
        const { media: picture } = await files.upload(ctx, principal.userId, metadata, { purpose: 'avatar' });
        return reply(200, { profile: await profiles.setAvatar(principal.userId, picture.id, metadata) });
      },
    }),
    route({
      method: 'delete',
      path: '/api/users/profile-picture',
      operationId: 'removeProfilePicture',
      tag: 'people',
      auth: true,
      rateLimit: 'profile',
      summary: 'Remove the profile picture',
      responses: { 204: { description: 'Removed' } },
      errors: ['concurrency_conflict'],
      handle: async ({ principal, ctx }) => {
        await profiles.removeAvatar(principal.userId, meta(ctx));
        return noContent();
      },
    }),
  ];
}
