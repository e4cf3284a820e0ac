/**
 * Personal data in events is stored sealed (crypto-shredding, see src/privacy/): encrypted under a key kept outside
 * the log, so destroying the key erases it while the log stays as it was written. Deciders and projectors only
 * handle these shapes; the sealing and opening happen in src/privacy/.
 */

/** A field sealed with XChaCha20-Poly1305 under the shredding key `kid` (src/privacy/sealing.ts names the associated data). */
export interface SealedField {
  readonly sealed: 'xchacha20poly1305-ietf';
  /** The shredding key's id, e.g. `message:<messageId>`. */
  readonly kid: string;
  /** base64, 24 bytes. */
  readonly nonce: string;
  /** base64 ciphertext with its tag. */
  readonly ct: string;
}

/**
 * A text field of an event: sealed as stored by new events, or `{ plain }` once opened (and for old events that
 * were written in clear, upcast to it). A field still sealed when a reader sees it is one whose key is gone.
 */
export type SealedText = SealedField | { readonly plain: string };

/** What readers show for a sealed field whose key was destroyed. */
export const ERASED = '[erased]';

export const isSealed = (value: unknown): value is SealedField =>
  typeof value === 'object' &&
  value !== null &&
  (value as { sealed?: unknown }).sealed === 'xchacha20poly1305-ietf' &&
  typeof (value as { kid?: unknown }).kid === 'string';

/**
 * The text as readers show it: the opened text, or ERASED when its key is gone. A bare string (an event labelled v2
 * but written in clear by a tool, such as the benchmarks' synthetic logs) is shown as it is rather than failing.
 */
export const textOf = (field: SealedText | string): string => (typeof field === 'string' ? field : 'plain' in field ? field.plain : ERASED);
