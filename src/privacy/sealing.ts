import sodium from 'libsodium-wrappers';
import { ERASED, isSealed, type SealedField } from '../../commands/shared/sealed.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import type { RecordedEvent } from '../eventstore/port.ts';
import { deriveId } from '../ids.ts';
import type { ShreddingKeyId, ShreddingKeys } from './shreddingKeys.ts';
import { freshRandomBytes } from '../secrets/randomBytes.ts';

export const SEALED_ALG = 'xchacha20poly1305-ietf';

/** Where a sealed field belongs: its ciphertext opens only there (the associated data). */
export interface FieldIdentity {
  /** The event's id (see eventIdFor). */
  eventId: string;
  stream: string;
  /** The field's path in the event's data, e.g. `content.text`. */
  field: string;
}

/**
 * The id the command handler gives the one event a command appends (CommandHandler derives it from the command id,
 * the stream and the event's index, 0): a handler seals before it appends, so it names the event's id beforehand.
 */
export const eventIdFor = (metadata: Pick<CommandMetadata, 'commandId'>, stream: string): string =>
  deriveId(metadata.commandId, stream, '0');

/**
 * `letsapp|sealed-field|v1|kid:<kid>|event:<eventId>|stream:<stream>|field:<path>`: a ciphertext copied to another
 * event, stream or field, or relabelled with another key id, does not open.
 */
const associatedData = (kid: string, identity: FieldIdentity) =>
  `letsapp|sealed-field|v1|kid:${kid}|event:${identity.eventId}|stream:${identity.stream}|field:${identity.field}`;

export async function sealText(text: string, key: Uint8Array, kid: ShreddingKeyId, identity: FieldIdentity): Promise<SealedField> {
  await sodium.ready;
  const nonce = freshRandomBytes(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  const ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(text, associatedData(kid, identity), null, nonce, key);
  return { sealed: SEALED_ALG, kid, nonce: Buffer.from(nonce).toString('base64'), ct: Buffer.from(ct).toString('base64') };
}

/** The text, or null when it does not open with this key (altered, or sealed for another place). */
export function openText(sealed: SealedField, key: Uint8Array, identity: FieldIdentity): string | null {
  try {
    const plain = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      Buffer.from(sealed.ct, 'base64'),
      associatedData(sealed.kid, identity),
      Buffer.from(sealed.nonce, 'base64'),
      key,
    );
    return Buffer.from(plain).toString('utf8');
  } catch {
    return null;
  }
}

/**
 * Seals a text with the shredding key `kid`, creating the key if it is new. A destroyed key (the message was
 * deleted for everyone) is never brought back: the text is then sealed with a throwaway key, unreadable at once, which
 * is what its command will find anyway (an edit of a deleted message is refused, a retried send appends nothing).
 */
export async function sealWithKey(keys: ShreddingKeys, kid: ShreddingKeyId, text: string, identity: FieldIdentity): Promise<SealedField> {
  await sodium.ready;
  const key = (await keys.create(kid)) ?? freshRandomBytes(sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
  return sealText(text, key, kid, identity);
}

/**
 * The event with every sealed field whose key exists replaced by `{ plain }` (a field that does not open stays sealed,
 * which readers show as `[erased]`). Events without sealed fields are returned as they are.
 */
export async function revealEvent<E extends Pick<RecordedEvent, 'stream' | 'data' | 'metadata'>>(
  event: E,
  keys: Pick<ShreddingKeys, 'get'>,
): Promise<E> {
  if (!containsSealed(event.data)) return event;
  await sodium.ready;
  const reveal = async (value: unknown, path: string): Promise<unknown> => {
    if (isSealed(value)) {
      const key = await keys.get(value.kid as ShreddingKeyId);
      const plain = key && openText(value, key, { eventId: event.metadata.eventId, stream: event.stream, field: path });
      return plain === null || plain === undefined ? value : { plain };
    }
    if (Array.isArray(value)) return Promise.all(value.map((item, index) => reveal(item, `${path}.${index}`)));
    if (value !== null && typeof value === 'object') {
      const entries = await Promise.all(
        Object.entries(value).map(async ([name, field]) => [name, await reveal(field, path === '' ? name : `${path}.${name}`)] as const),
      );
      return Object.fromEntries(entries);
    }
    return value;
  };
  return { ...event, data: await reveal(event.data, '') };
}

function containsSealed(value: unknown): boolean {
  if (isSealed(value)) return true;
  if (Array.isArray(value)) return value.some(containsSealed);
  if (value !== null && typeof value === 'object') return Object.values(value).some(containsSealed);
  return false;
}

/** The shredding key ids an event's sealed fields use (for shred-legacy's and the auditor's accounting). */
export function keyIdsOf(value: unknown, into = new Set<string>()): Set<string> {
  if (isSealed(value)) into.add(value.kid);
  else if (Array.isArray(value)) for (const item of value) keyIdsOf(item, into);
  else if (value !== null && typeof value === 'object') for (const field of Object.values(value)) keyIdsOf(field, into);
  return into;
}

/**
 * What an auditor is shown of an event's (upcast) data: sealed fields opened to `{ plain }` where the key exists, and
 * the fixed marker `[erased]` in place of any whose key was destroyed. The stored form (`audit export`, the hash chain)
 * is untouched: it never held more than the ciphertext.
 */
export async function dataForAuditor(
  event: Pick<RecordedEvent, 'stream' | 'data' | 'metadata'>,
  keys: Pick<ShreddingKeys, 'get'>,
): Promise<unknown> {
  const { data } = await revealEvent(event, keys);
  const erase = (value: unknown): unknown => {
    if (isSealed(value)) return ERASED;
    if (Array.isArray(value)) return value.map(erase);
    if (value !== null && typeof value === 'object')
      return Object.fromEntries(Object.entries(value).map(([name, field]) => [name, erase(field)]));
    return value;
  };
  return erase(data);
}
