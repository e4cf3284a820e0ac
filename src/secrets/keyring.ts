/**
 * The keys that encrypt secrets at rest (users' AI API keys), read from the environment:
 *
 *   ENCRYPTION_KEYS="k1:<base64 32 bytes>,k2:<base64 32 bytes>"   every key still able to open old envelopes
 *   ENCRYPTION_KEY_ID=k2                                         the one new envelopes are sealed with
 *
 * or the one-key shorthand `ENCRYPTION_KEY=<base64 32 bytes>` alone, whose key id is `default` (DEFAULT_KEY_ID).
 * When ENCRYPTION_KEYS is set it is the whole keyring and ENCRYPTION_KEY is not part of it (the server may still
 * require ENCRYPTION_KEY for other uses). To move from the shorthand to rotation, keep the old key under its id:
 *   ENCRYPTION_KEYS="default:<old ENCRYPTION_KEY>,k2:<new>" ENCRYPTION_KEY_ID=k2
 * then `npm run rotate-secrets`, and drop `default:` once it reports nothing left on it.
 *
 * Errors are plain `Error`s with a message naming the variable; they never quote a key.
 */

export interface Keyring {
  /** Key id new envelopes are sealed with. */
  current: string;
  /** Every known key id and its 32-byte key. */
  keys: Map<string, Uint8Array>;
}

export interface KeyringEnv {
  ENCRYPTION_KEYS?: string;
  ENCRYPTION_KEY_ID?: string;
  ENCRYPTION_KEY?: string;
}

/** Key id of the one-key shorthand `ENCRYPTION_KEY`. */
export const DEFAULT_KEY_ID = 'default';
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
export const KEY_BYTES = 32;

// Standard or URL-safe alphabet, optional padding; Buffer.from would silently skip anything else.
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

function decodeKey(value: string, where: string): Uint8Array {
  const text = value.trim();
  if (!BASE64.test(text)) throw new Error(`${where} must be base64 (it contains other characters)`);
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== KEY_BYTES) {
    const length = bytes.length;
    bytes.fill(0);
    throw new Error(`${where} must be ${KEY_BYTES} bytes, base64-encoded (got ${length} bytes)`);
  }
  // A copy of our own: not a view into Node's shared Buffer pool, so zeroing it touches nothing else.
  const key = new Uint8Array(bytes);
  bytes.fill(0);
  return key;
}

function checkKeyId(kid: string, where: string): void {
  if (!KEY_ID_PATTERN.test(kid)) {
    throw new Error(`${where}: key id "${kid}" must be 1 to 32 characters of A-Z, a-z, 0-9, _ and -`);
  }
}

export function parseKeyring(env: KeyringEnv): Keyring {
  const list = env.ENCRYPTION_KEYS?.trim() || '';
  const currentId = env.ENCRYPTION_KEY_ID?.trim() || '';

  if (list === '') {
    const single = env.ENCRYPTION_KEY?.trim() || '';
    if (single === '') throw new Error('ENCRYPTION_KEYS (with ENCRYPTION_KEY_ID) or ENCRYPTION_KEY is required');
    if (currentId !== '' && currentId !== DEFAULT_KEY_ID) {
      throw new Error(
        `ENCRYPTION_KEY_ID is "${currentId}" but ENCRYPTION_KEYS is not set; ENCRYPTION_KEY alone is key id "${DEFAULT_KEY_ID}"`,
      );
    }
    return { current: DEFAULT_KEY_ID, keys: new Map([[DEFAULT_KEY_ID, decodeKey(single, 'ENCRYPTION_KEY')]]) };
  }

  const keys = new Map<string, Uint8Array>();
  try {
    for (const [index, rawEntry] of list.split(',').entries()) {
      const entry = rawEntry.trim();
      const colon = entry.indexOf(':');
      if (colon < 0) {
        throw new Error(`ENCRYPTION_KEYS entry ${index + 1} must be <key id>:<base64 key>${entry === '' ? ' (it is empty)' : ''}`);
      }
      const kid = entry.slice(0, colon).trim();
      checkKeyId(kid, `ENCRYPTION_KEYS entry ${index + 1}`);
      if (keys.has(kid)) throw new Error(`ENCRYPTION_KEYS lists key id "${kid}" twice`);
      keys.set(kid, decodeKey(entry.slice(colon + 1), `ENCRYPTION_KEYS key "${kid}"`));
    }
    let current = currentId;
    if (current === '') {
      if (keys.size > 1) throw new Error('ENCRYPTION_KEY_ID must name the current key when ENCRYPTION_KEYS lists several');
      current = keys.keys().next().value!;
    }
    checkKeyId(current, 'ENCRYPTION_KEY_ID');
    if (!keys.has(current)) {
      throw new Error(`ENCRYPTION_KEY_ID "${current}" is not one of the key ids in ENCRYPTION_KEYS (${[...keys.keys()].join(', ')})`);
    }
    return { current, keys };
  } catch (error) {
    for (const key of keys.values()) key.fill(0);
    throw error;
  }
}
