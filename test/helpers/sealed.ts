import type { SealedField } from '../../commands/shared/sealed.ts';

/**
 * A sealed text as a decider sees it (deciders never open it): the right shape and key id, its "ciphertext" the
 * text's base64. For decider and handler tests; real sealing is src/privacy/sealing.ts.
 */
export const sealedFor = (messageId: string, text = 'hi', kid = `message:${messageId}`): SealedField => ({
  sealed: 'xchacha20poly1305-ietf',
  kid,
  nonce: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  ct: Buffer.from(text).toString('base64'),
});
