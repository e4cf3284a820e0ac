import { createHmac, randomBytes } from 'node:crypto';
import type { IdentityKind } from '../../commands/identityClaims.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import type { SealedField } from '../../commands/shared/sealed.ts';
import type { SecretBox } from '../secrets/secretBox.ts';
import type { SecretStore } from '../secrets/secretStore.ts';
import { eventIdFor, sealWithKey } from './sealing.ts';
import { DATA_KEY_PURPOSE, userKeyId, type ShreddingKeys } from './shreddingKeys.ts';

/**
 * Seals one personal field of the event a command appends to `stream` under the data key of `ownerId` (created on first
 * use): destroying that key, when the account is deleted, erases every personal field the log holds of them.
 * `field` is the field's path in the event's data (`email`, `changes.about`, `nickname`), part of the associated data.
 */
export function sealPersonal(
  keys: ShreddingKeys,
  ownerId: string,
  text: string,
  place: { metadata: Pick<CommandMetadata, 'commandId'>; stream: string; field: string },
): Promise<SealedField> {
  const { metadata, stream, field } = place;
  return sealWithKey(keys, userKeyId(ownerId), text, { eventId: eventIdFor(metadata, stream), stream, field });
}

/**
 * Kept as a data key of the server's own (a subject no user key id can take: those are `user:<id>`), so the secrets
 * store, rotation and the keyring need nothing new for it.
 */
const CLAIM_KEY_PURPOSE = DATA_KEY_PURPOSE;
const CLAIM_KEY_SUBJECT = 'server:identity-claim-key';

/**
 * Names the identity-claim stream of an email or username by a keyed hash (HMAC-SHA256 under a server secret kept
 * in the secrets store, never in the log): uniqueness holds, and the log does not give away the values to anyone who
 * can hash a list of addresses. The values arrive normalized by the contract (emails trimmed and lower-cased).
 */
export class IdentityClaimKeys {
  private constructor(private readonly key: Buffer) {}

  /** The server's claim key, created on first start (the first instance to insert it wins; the others read it). */
  static async open(secrets: SecretStore, box: SecretBox): Promise<IdentityClaimKeys> {
    const context = { purpose: CLAIM_KEY_PURPOSE, subject: CLAIM_KEY_SUBJECT };
    let envelope = await secrets.get(CLAIM_KEY_PURPOSE, CLAIM_KEY_SUBJECT);
    if (envelope === null) {
      const fresh = box.seal(randomBytes(32).toString('base64'), context);
      await secrets.insertIfAbsent([{ ...context, envelope: fresh }]);
      envelope = await secrets.get(CLAIM_KEY_PURPOSE, CLAIM_KEY_SUBJECT);
      if (envelope === null) throw new Error('The identity claim key could not be stored');
    }
    return new IdentityClaimKeys(Buffer.from(box.open(envelope, context), 'base64'));
  }

  streamFor(kind: IdentityKind, value: string): string {
    const digest = createHmac('sha256', this.key)
      .update(`${kind}\u0000${value.normalize('NFC')}`)
      .digest('hex');
    return `identity-${kind}-k${digest}`;
  }
}
