import { isUtf8 } from 'node:buffer';
import { fileTypeFromBuffer } from 'file-type';
import { DomainError } from '../../commands/shared/errors.ts';

/**
 * The upload allowlist: which files we accept, decided from their bytes (never the client's Content-Type), how
 * large each kind may be, and whether the client's filename agrees with the bytes (OWASP ASVS 5.2.2). Pure: the
 * only call out is file-type reading a buffer. See docs of `classifyUpload` for the rules.
 */

/** file-type needs at most this many leading bytes to recognise any format it knows. */
export const SNIFF_BYTES = 4100;

export type MediaKind = 'image' | 'video' | 'audio' | 'document' | 'text';

export interface MediaLimits {
  /** MEDIA_MAX_BYTES: the cap for every file, and the limit of video, audio and documents. */
  maxBytes: number;
  /** MEDIA_MAX_IMAGE_BYTES: images (re-encoded afterwards, so kept smaller). */
  imageMaxBytes: number;
  /** Plain text. */
  textMaxBytes: number;
}

const MiB = 1024 * 1024;
export const DEFAULT_MEDIA_LIMITS: MediaLimits = Object.freeze({ maxBytes: 16 * MiB, imageMaxBytes: 10 * MiB, textMaxBytes: 1 * MiB });

export interface SniffedType {
  kind: MediaKind;
  /** The Content-Type we serve: canonical, decided by the bytes. */
  mime: string;
  /** The extension the served filename gets (no dot). */
  ext: string;
  /** The size limit for this upload. */
  maxBytes: number;
}

export const TEXT_MIME = 'text/plain; charset=utf-8';

export class UnsupportedMediaTypeError extends DomainError {
  constructor(
    readonly detected: string | null,
    message = 'This type of file is not accepted',
  ) {
    super('unsupported_media_type', 415, message, { detected });
  }
}

export class ExtensionMismatchError extends DomainError {
  constructor(
    readonly extension: string,
    readonly detected: string,
    message = `The file name's extension .${extension} does not match its content (${detected})`,
  ) {
    super('extension_mismatch', 415, message, { extension, detected });
  }
}

interface AllowedType {
  kind: MediaKind;
  mime: string;
  ext: string;
}

const allowed = (kind: MediaKind, mime: string, ext: string): AllowedType => Object.freeze({ kind, mime, ext });

const JPEG = allowed('image', 'image/jpeg', 'jpg');
const PNG = allowed('image', 'image/png', 'png');
const MP4_VIDEO = allowed('video', 'video/mp4', 'mp4');
const MP4_AUDIO = allowed('audio', 'audio/mp4', 'm4a');
const WEBM_VIDEO = allowed('video', 'video/webm', 'webm');
const WEBM_AUDIO = allowed('audio', 'audio/webm', 'weba');
const WAV = allowed('audio', 'audio/wav', 'wav');
const CFB = allowed('document', 'application/x-cfb', 'cfb');
const DOCX = allowed('document', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'docx');
const XLSX = allowed('document', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'xlsx');
const PPTX = allowed('document', 'application/vnd.openxmlformats-officedocument.presentationml.presentation', 'pptx');

/**
 * What file-type may report (its exact mime strings) → what we accept it as. Anything not here is refused: SVG/XML,
 * HTML, HEIC/HEIF (sharp cannot decode them here), plain zip, macro-enabled Office files, video/ogg, executables…
 */
const ALLOWED_BY_DETECTED_MIME: ReadonlyMap<string, AllowedType> = new Map([
  ['image/jpeg', JPEG],
  ['image/png', PNG],
  ['image/apng', PNG], // an animated PNG is a PNG (image/png per the PNG 3rd edition); sharp reads its first frame
  ['image/webp', allowed('image', 'image/webp', 'webp')],
  ['image/gif', allowed('image', 'image/gif', 'gif')],
  ['image/avif', allowed('image', 'image/avif', 'avif')],
  ['video/mp4', MP4_VIDEO], // also what file-type says for an audio-only MP4 with a generic brand (isom, mp42…)
  ['video/x-m4v', MP4_VIDEO],
  ['video/webm', WEBM_VIDEO], // file-type cannot tell an audio-only WebM from a video
  ['video/quicktime', allowed('video', 'video/quicktime', 'mov')],
  ['audio/mpeg', allowed('audio', 'audio/mpeg', 'mp3')],
  ['audio/ogg', allowed('audio', 'audio/ogg', 'ogg')],
  ['audio/ogg; codecs=opus', allowed('audio', 'audio/ogg', 'opus')],
  ['audio/webm', WEBM_AUDIO],
  ['audio/mp4', MP4_AUDIO],
  ['audio/x-m4a', MP4_AUDIO],
  ['audio/wav', WAV],
  ['audio/x-wav', WAV],
  ['audio/vnd.wave', WAV],
  ['audio/flac', allowed('audio', 'audio/flac', 'flac')],
  ['audio/aac', allowed('audio', 'audio/aac', 'aac')],
  ['application/pdf', allowed('document', 'application/pdf', 'pdf')],
  [DOCX.mime, DOCX],
  [XLSX.mime, XLSX],
  [PPTX.mime, PPTX],
  ['application/vnd.oasis.opendocument.text', allowed('document', 'application/vnd.oasis.opendocument.text', 'odt')],
  ['application/vnd.oasis.opendocument.spreadsheet', allowed('document', 'application/vnd.oasis.opendocument.spreadsheet', 'ods')],
  ['application/vnd.oasis.opendocument.presentation', allowed('document', 'application/vnd.oasis.opendocument.presentation', 'odp')],
  ['application/x-cfb', CFB], // legacy doc/xls/ppt, and password-protected docx/xlsx/pptx
]);

/**
 * A Compound File is a container: legacy Office files and encrypted OOXML are CFB, and so are .msi and .msg. Its
 * bytes cannot say which, so an Office extension names it; any other name keeps the neutral type.
 */
const CFB_BY_EXTENSION: ReadonlyMap<string, AllowedType> = new Map([
  ['doc', allowed('document', 'application/msword', 'doc')],
  ['xls', allowed('document', 'application/vnd.ms-excel', 'xls')],
  ['ppt', allowed('document', 'application/vnd.ms-powerpoint', 'ppt')],
  ['docx', DOCX],
  ['xlsx', XLSX],
  ['pptx', PPTX],
]);

/** The extensions each kind answers to. `mp4` and `webm` are containers of either video or audio. */
export const EXTENSIONS_BY_KIND: Readonly<Record<MediaKind, readonly string[]>> = Object.freeze({
  image: ['jpg', 'jpeg', 'jpe', 'jfif', 'pjpeg', 'pjp', 'png', 'apng', 'webp', 'gif', 'avif'],
  video: ['mp4', 'm4v', 'webm', 'mov', 'qt'],
  audio: ['mp3', 'mpga', 'mp2', 'ogg', 'oga', 'opus', 'spx', 'm4a', 'm4b', 'mp4', 'weba', 'webm', 'wav', 'wave', 'flac', 'aac'],
  document: ['pdf', 'doc', 'docx', 'xls', 'xlsx', 'ppt', 'pptx', 'odt', 'ods', 'odp'],
  text: ['txt', 'text', 'md', 'markdown', 'csv', 'tsv', 'log', 'json'],
});

const KINDS_BY_EXTENSION: ReadonlyMap<string, ReadonlySet<MediaKind>> = (() => {
  const map = new Map<string, Set<MediaKind>>();
  for (const [kind, extensions] of Object.entries(EXTENSIONS_BY_KIND) as [MediaKind, readonly string[]][]) {
    for (const ext of extensions) map.set(ext, (map.get(ext) ?? new Set<MediaKind>()).add(kind));
  }
  return map;
})();

/** Served with `Content-Disposition: inline`: exactly the accepted image, video and audio types (never SVG, HTML, PDF or text). */
export const INLINE_SAFE_MIME: ReadonlySet<string> = new Set([
  ...[...ALLOWED_BY_DETECTED_MIME.values(), WEBM_AUDIO]
    .filter((type) => type.kind === 'image' || type.kind === 'video' || type.kind === 'audio')
    .map((type) => type.mime),
  'audio/x-wav',
]);

/**
 * Decides what an upload is from its first bytes (up to SNIFF_BYTES; fewer when the file is shorter; extra bytes
 * are ignored) and the client's filename:
 * 1. file-type recognises the bytes: accepted only if that type is on the allowlist, else 415 unsupported_media_type.
 * 2. it recognises nothing: plain text if the head is valid UTF-8 (a multi-byte character cut by the head's end is
 *    tolerated) with no NUL and does not open as markup (`markupOf`); else 415. The caller must still check the rest
 *    of a text file (`isValidUtf8Text` on the whole, or a fatal streaming TextDecoder, and `TextOpening` when its
 *    head is all leading space).
 * 3. the filename's extension (if any) must belong to the same kind as the bytes, else 415 extension_mismatch; an
 *    extension we do not know is a mismatch too. For MP4/WebM, an audio-only extension (.m4a, .weba…) makes it audio.
 * The limit is the kind's (images and text: their own limit, never above `maxBytes`).
 */
export async function classifyUpload(head: Buffer, filename: string | null, limits: MediaLimits): Promise<SniffedType> {
  const sample = head.subarray(0, SNIFF_BYTES);
  const mayBeCut = head.length >= SNIFF_BYTES;
  const extension = extensionOf(filename);

  let detected: { ext: string; mime: string } | undefined;
  try {
    detected = await fileTypeFromBuffer(sample);
  } catch {
    throw new UnsupportedMediaTypeError(null, 'The file could not be recognised');
  }

  let type: AllowedType;
  if (detected) {
    const found = ALLOWED_BY_DETECTED_MIME.get(detected.mime);
    if (!found) throw new UnsupportedMediaTypeError(detected.mime, `Files of type ${detected.mime} are not accepted`);
    type = found;
  } else {
    const markup = markupType(sample, mayBeCut);
    if (markup) throw new UnsupportedMediaTypeError(markup, 'HTML, SVG and XML files are not accepted');
    if (!isValidUtf8Text(sample, { truncated: mayBeCut })) throw new UnsupportedMediaTypeError(null, 'This type of file is not accepted');
    type = allowed('text', TEXT_MIME, 'txt');
  }

  if (extension !== null) {
    const kinds = KINDS_BY_EXTENSION.get(extension);
    if (!kinds) throw new ExtensionMismatchError(extension, type.mime, `Files named .${extension} are not accepted`);
    if (!kinds.has(type.kind)) {
      // A container that holds either: the name says it is the audio one.
      if (type === MP4_VIDEO && kinds.has('audio')) type = MP4_AUDIO;
      else if (type === WEBM_VIDEO && kinds.has('audio')) type = WEBM_AUDIO;
      else throw new ExtensionMismatchError(extension, type.mime);
    }
    if (type === CFB) type = CFB_BY_EXTENSION.get(extension) ?? CFB;
  }

  return { kind: type.kind, mime: type.mime, ext: type.ext, maxBytes: maxBytesFor(type.kind, limits) };
}

function maxBytesFor(kind: MediaKind, limits: MediaLimits): number {
  if (kind === 'image') return Math.min(limits.imageMaxBytes, limits.maxBytes);
  if (kind === 'text') return Math.min(limits.textMaxBytes, limits.maxBytes);
  return limits.maxBytes;
}

/** The lower-cased extension of the name's last path segment, or null (none, or a dot-file like `.env`). */
function extensionOf(filename: string | null): string | null {
  if (!filename) return null;
  // Windows drops trailing dots and spaces, so `x.exe. ` is `x.exe` once saved.
  const base = lastPathSegment(filename).replace(/[\s.]+$/u, '');
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return null;
  return base.slice(dot + 1).toLowerCase();
}

function lastPathSegment(name: string): string {
  return name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
}

/**
 * Markup is refused as text whatever its opening: not only what a browser's MIME sniffing takes for HTML (the WHATWG
 * list) but any tag (`<img …>`, `<math>`, a namespaced `<svg:svg>`), a doctype, comment or CDATA (`<!`), or an XML
 * declaration or processing instruction (`<?`), after any amount of leading whitespace, BOMs and invisible format
 * characters. `<3`, `<-` and `<https://…>` open no tag and stay text; so does a tag further inside the text.
 */
const LEADING_IGNORABLE = /^[\s\p{Zs}\p{Cf}]*/u;
const MARKUP_TAG = /^<(?:[a-z_][\w.-]*:)?([a-z][\w-]*)(?=[\s/>]|$)/iu;
/** Enough characters after the leading space to name what the markup is. */
export const MARKUP_OPENING_CHARS = 64;

/** What `opening` (text from its first character that is not leading space) opens as, or null for plain text. */
export function markupOf(opening: string): string | null {
  if (!opening.startsWith('<')) return null;
  const lower = opening.toLowerCase();
  if (lower.startsWith('<?')) return 'application/xml';
  if (/^<!doctype[\s]+svg/u.test(lower)) return 'image/svg+xml';
  if (lower.startsWith('<!')) return 'text/html';
  const tag = MARKUP_TAG.exec(lower);
  if (!tag) return null;
  return tag[1] === 'svg' ? 'image/svg+xml' : 'text/html';
}

/**
 * Reads the opening of a text as it streams in (the leading space may run past any head we sniff): `feed` each
 * decoded piece, then `end`. Either returns the markup type once it is known, else null.
 */
export class TextOpening {
  private opening = '';
  private decided = false;

  feed(text: string): string | null {
    if (this.decided) return null;
    this.opening += this.opening === '' ? text.replace(LEADING_IGNORABLE, '') : text;
    if (this.opening === '' || (this.opening.startsWith('<') && this.opening.length < MARKUP_OPENING_CHARS)) return null;
    return this.end();
  }

  end(): string | null {
    if (this.decided) return null;
    this.decided = true;
    return markupOf(this.opening.slice(0, MARKUP_OPENING_CHARS));
  }
}

function markupType(sample: Buffer, mayBeCut: boolean): string | null {
  const opening = new TextOpening();
  return opening.feed(new TextDecoder('utf-8').decode(sample)) ?? (mayBeCut ? null : opening.end());
}

/**
 * Whether these bytes are UTF-8 text: well-formed (no overlongs, surrogates or values past U+10FFFF) and free of
 * NUL. With `truncated` (a head cut from a longer file), an incomplete last character of up to 3 bytes is allowed,
 * as long as what is there could still start a valid one.
 */
export function isValidUtf8Text(buffer: Buffer, options: { truncated?: boolean } = {}): boolean {
  if (buffer.includes(0)) return false;
  if (!options.truncated) return isUtf8(buffer);
  try {
    // In streaming mode a fatal decoder rejects every invalid sequence at once and only holds back a valid prefix.
    new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buffer, { stream: true });
    return true;
  } catch {
    return false;
  }
}

const MAX_FILENAME_LENGTH = 120;

/** Other spellings of a served extension that a name may keep. */
const EXTENSION_ALIASES: Readonly<Record<string, readonly string[]>> = {
  jpg: ['jpeg', 'jpe', 'jfif'],
  mp4: ['m4v'],
  m4a: ['mp4'],
  weba: ['webm'],
  ogg: ['oga'],
  mp3: ['mpga'],
  txt: ['text', 'md', 'markdown', 'csv', 'tsv', 'log', 'json'],
};

/**
 * A filename safe to put in Content-Disposition and on a user's disk: the last path segment only, NFC, without
 * control characters (CR/LF included), double quotes, bidi overrides/isolates or zero-width characters, no leading
 * dots, and ending in the served extension (a different extension is replaced, so `x.exe` of PNG bytes becomes
 * `x.png`). At most 120 characters; `file.<ext>` when nothing usable is left.
 */
export function safeFilename(name: string | null, ext: string): string {
  const extension = ext.toLowerCase().replace(/[^a-z0-9]/gu, '') || 'bin';
  const cleaned = lastPathSegment((name ?? '').normalize('NFC'))
    .replace(/[\p{Cc}"\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/gu, '')
    .replace(/^[\s.]+|[\s.]+$/gu, '');

  let stem = cleaned;
  const dot = cleaned.lastIndexOf('.');
  if (dot > 0) {
    const current = cleaned.slice(dot + 1).toLowerCase();
    if (current === extension || EXTENSION_ALIASES[extension]?.includes(current)) {
      return truncate(cleaned.slice(0, dot), cleaned.slice(dot));
    }
    if (/^[a-z0-9]{1,10}$/u.test(current)) stem = cleaned.slice(0, dot).replace(/[\s.]+$/u, '');
  }
  return truncate(stem, `.${extension}`);
}

/** Cuts the stem (never inside a surrogate pair) so that stem + suffix fits; an empty stem becomes `file`. */
function truncate(stem: string, suffix: string): string {
  const room = MAX_FILENAME_LENGTH - suffix.length;
  let kept = '';
  for (const char of stem) {
    if (kept.length + char.length > room) break;
    kept += char;
  }
  kept = kept.replace(/[\s.]+$/u, '');
  return `${kept || 'file'}${suffix}`;
}
