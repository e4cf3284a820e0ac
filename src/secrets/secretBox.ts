import sodium from 'libsodium-wrappers';
import { KEY_BYTES, KEY_ID_PATTERN, type Keyring } from './keyring.ts';
import { freshRandomBytes } from './randomBytes.ts';

/**
 * Authenticated encryption of small secrets at rest (a user's AI API key), with libsodium's
 * XChaCha20-Poly1305-IETF. The result is a JSON envelope, stored outside the event log so it can be re-encrypted
 * (rotate-secrets) or erased:
 *
 *   {"v":1,"alg":"xchacha20poly1305-ietf","kid":"k2","nonce":"<base64 24 bytes>","ct":"<base64 ciphertext+tag>"}
 *
 * - Each purpose has its own subkey: crypto_kdf_derive_from_key(32, 1, <the purpose's 8-byte context>, key[kid]).
 * - A random 24-byte nonce per seal, so sealing the same plaintext twice gives different envelopes.
 * - The associated data `letsapp|<purpose>|v1|<subject>|kid:<kid>` binds the ciphertext to where it belongs:
 *   an envelope copied to another subject (another user's row), another purpose, or relabelled with another kid
 *   does not open. By convention a user's subject is `user:<userId>`.
 */

export interface SecretContext {
  /** What the secret is for; must be registered in the box's purposes (SECRET_PURPOSES by default). */
  purpose: string;
  /** Whom it belongs to, e.g. `user:<userId>`. */
  subject: string;
}

export const ENVELOPE_VERSION = 1;
export const ENVELOPE_ALG = 'xchacha20poly1305-ietf';

/**
 * Each purpose and the 8-byte libsodium KDF context its subkey is derived with. Never change or reuse a
 * context: envelopes already sealed for a purpose open only with the subkey of its context.
 */
export const SECRET_PURPOSES: Readonly<Record<string, string>> = Object.freeze({
  'ai-api-key': 'aikey_v1',
  // Crypto-shredding keys (src/privacy/shreddingKeys.ts): a message's content key, a user's data key.
  'content-key': 'msgkey01',
  'data-key': 'usrkey01',
  // The server's VAPID private key for Web Push (src/push/vapidKeys.ts), generated outside production.
  'push-vapid-key': 'vapidk01',
  // An outgoing webhook's signing secret (src/webhooks/webhookService.ts), shown once to its owner.
  'webhook-secret': 'whsecr01',
});

const PURPOSE_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;

export type UnreadableReason = 'malformed' | 'unsupported' | 'unknown-kid' | 'unknown-purpose' | 'authentication-failed';

/**
 * An envelope that cannot be opened: damaged, sealed for another subject or purpose, or under a key this
 * keyring does not hold. The message never contains the envelope or any plaintext.
 */
export class SecretUnreadableError extends Error {
  constructor(
    readonly reason: UnreadableReason,
    message: string,
  ) {
    super(message);
    this.name = 'SecretUnreadableError';
  }
}

interface Envelope {
  v: number;
  alg: string;
  kid: string;
  nonce: string;
  ct: string;
}

function checkPurposes(purposes: Readonly<Record<string, string>>): Map<string, string> {
  const contexts = new Map<string, string>();
  const seen = new Set<string>();
  for (const [purpose, context] of Object.entries(purposes)) {
    if (!PURPOSE_PATTERN.test(purpose)) throw new Error(`Secret purpose "${purpose}" must be 1 to 32 characters of a-z, 0-9 and -`);
    if (Buffer.byteLength(context) !== sodium.crypto_kdf_CONTEXTBYTES) {
      throw new Error(`The KDF context of secret purpose "${purpose}" must be exactly ${sodium.crypto_kdf_CONTEXTBYTES} bytes`);
    }
    if (seen.has(context)) throw new Error(`Two secret purposes share the KDF context "${context}"`);
    seen.add(context);
    contexts.set(purpose, context);
  }
  return contexts;
}

export class SecretBox {
  private constructor(
    private readonly current: string,
    private readonly keys: ReadonlyMap<string, Uint8Array>,
    private readonly contexts: ReadonlyMap<string, string>,
  ) {}

  /**
   * Waits for libsodium, then checks and copies the keyring. `purposes` maps each purpose to its 8-byte KDF
   * context (tests add their own; the server uses the default).
   */
  static async create(keyring: Keyring, purposes: Readonly<Record<string, string>> = SECRET_PURPOSES): Promise<SecretBox> {
    await sodium.ready;
    const keys = new Map<string, Uint8Array>();
    for (const [kid, key] of keyring.keys) {
      if (!KEY_ID_PATTERN.test(kid)) throw new Error(`Key id "${kid}" must be 1 to 32 characters of A-Z, a-z, 0-9, _ and -`);
      if (key.length !== KEY_BYTES) throw new Error(`Key "${kid}" must be ${KEY_BYTES} bytes`);
      keys.set(kid, Uint8Array.from(key));
    }
    if (!keys.has(keyring.current)) throw new Error(`The current key id "${keyring.current}" is not in the keyring`);
    return new SecretBox(keyring.current, keys, checkPurposes(purposes));
  }

  /** The key id new envelopes are sealed with. */
  get currentKeyId(): string {
    return this.current;
  }

  seal(plaintext: string, context: SecretContext): string {
    const kdfContext = this.contexts.get(context.purpose);
    if (kdfContext === undefined) throw new Error(`Unknown secret purpose "${context.purpose}"`);
    checkSubject(context.subject);
    const kid = this.current;
    const subkey = this.subkey(kid, kdfContext);
    const message = sodium.from_string(plaintext);
    try {
      const nonce = freshRandomBytes(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
      const ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(message, associatedData(context, kid), null, nonce, subkey);
      const envelope: Envelope = { v: ENVELOPE_VERSION, alg: ENVELOPE_ALG, kid, nonce: toBase64(nonce), ct: toBase64(ct) };
      return JSON.stringify(envelope);
    } finally {
      sodium.memzero(message);
      sodium.memzero(subkey);
    }
  }

  /**
   * The plaintext, or SecretUnreadableError. (The returned string is a JS string and cannot be wiped; callers
   * should hold it no longer than the request that needs it.)
   */
  open(envelope: string, context: SecretContext): string {
    const parsed = parseEnvelope(envelope);
    const key = this.keys.get(parsed.kid);
    if (key === undefined)
      throw new SecretUnreadableError('unknown-kid', `The secret is sealed with key id "${parsed.kid}", which is not in the keyring`);
    const kdfContext = this.contexts.get(context.purpose);
    if (kdfContext === undefined) throw new SecretUnreadableError('unknown-purpose', `Unknown secret purpose "${context.purpose}"`);
    const nonce = fromBase64(parsed.nonce, 'nonce');
    const ct = fromBase64(parsed.ct, 'ct');
    if (
      nonce.length !== sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES ||
      ct.length < sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES
    ) {
      throw new SecretUnreadableError('malformed', 'The secret envelope has a nonce or ciphertext of the wrong length');
    }
    const subkey = this.subkey(parsed.kid, kdfContext);
    let message: Uint8Array;
    try {
      message = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ct, associatedData(context, parsed.kid), nonce, subkey);
    } catch {
      throw new SecretUnreadableError(
        'authentication-failed',
        'The secret does not open: it was altered, or sealed for another subject or purpose',
      );
    } finally {
      sodium.memzero(subkey);
    }
    try {
      return sodium.to_string(message);
    } finally {
      sodium.memzero(message);
    }
  }

  /** Whether the envelope is sealed with a key other than the current one (SecretUnreadableError if malformed). */
  needsRotation(envelope: string): boolean {
    return parseEnvelope(envelope).kid !== this.current;
  }

  private subkey(kid: string, kdfContext: string): Uint8Array {
    return sodium.crypto_kdf_derive_from_key(KEY_BYTES, 1, kdfContext, this.keys.get(kid)!);
  }
}

function checkSubject(subject: string): void {
  if (typeof subject !== 'string' || subject === '') throw new Error('A secret needs a non-empty subject');
}

// The purpose and kid contain no `|` (checked), so the subject between them is read back unambiguously.
const associatedData = (context: SecretContext, kid: string): string =>
  `letsapp|${context.purpose}|v${ENVELOPE_VERSION}|${context.subject}|kid:${kid}`;

const toBase64 = (bytes: Uint8Array): string => sodium.to_base64(bytes, sodium.base64_variants.ORIGINAL);

function fromBase64(text: string, field: string): Uint8Array {
  try {
    return sodium.from_base64(text, sodium.base64_variants.ORIGINAL);
  } catch {
    throw new SecretUnreadableError('malformed', `The secret envelope's ${field} is not base64`);
  }
}

function parseEnvelope(text: string): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SecretUnreadableError('malformed', 'The secret envelope is not JSON');
  }
  const envelope = value as Partial<Envelope> | null;
  if (
    typeof envelope !== 'object' ||
    envelope === null ||
    typeof envelope.kid !== 'string' ||
    typeof envelope.nonce !== 'string' ||
    typeof envelope.ct !== 'string'
  ) {
    throw new SecretUnreadableError('malformed', 'The secret envelope lacks kid, nonce or ct');
  }
  if (envelope.v !== ENVELOPE_VERSION || envelope.alg !== ENVELOPE_ALG) {
    throw new SecretUnreadableError('unsupported', `Unsupported secret envelope (v ${String(envelope.v)}, alg ${String(envelope.alg)})`);
  }
  return envelope as Envelope;
}
