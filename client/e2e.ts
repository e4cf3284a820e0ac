import type sodiumModule from 'libsodium-wrappers';
import type { LetsAppClient, Message } from './client.ts';
import type { ClientStore } from './stores.ts';

/** libsodium, ready (`await sodium.ready`): passed in, so the client itself carries no dependency. */
export type Sodium = typeof sodiumModule;

/** NaCl's box: X25519 key agreement, XSalsa20-Poly1305. Either party opens it with their secret key and the other's public key. */
export const E2E_ALGORITHM = 'x25519-xsalsa20-poly1305';

/** A key pair of the user's, base64; the secret half never leaves the client store. */
export interface KeyPair {
  keyId: string;
  publicKey: string;
  secretKey: string;
  /** The server has its public half: only then is it used to send (nobody could open a box made with it before). */
  published?: boolean;
  /** Retired: no longer sent with; kept to open what was. */
  retired?: boolean;
}

export type EncryptedPayload = { ciphertext: string; nonce: string; algorithm: string; recipientKeyId: string; senderKeyId: string };

export class EncryptionError extends Error {
  override readonly name = 'EncryptionError';
}

/**
 * End-to-end encrypted direct messages. The user's key pairs live in the client store and their public halves are
 * published on the profile (`PUT /api/users/encryption-key`); a message is boxed with the sender's secret key and the
 * recipient's newest public key, and names both key ids, so the recipient and every device of the sender holding the
 * same key pair can open it, and the server stores and relays bytes it cannot read. Group messages are not covered.
 */
export class EndToEnd {
  private readonly publicKeys = new Map<string, Promise<Uint8Array>>();

  private constructor(
    private readonly sodium: Sodium,
    private readonly client: LetsAppClient,
    private readonly store: ClientStore,
    private readonly userId: string,
    private keys: KeyPair[],
  ) {}

  /** For the logged-in user: loads their key pairs, making and publishing the first one if there is none. */
  static async open(sodium: Sodium, client: LetsAppClient, store: ClientStore): Promise<EndToEnd> {
    const userId = client.session?.user.id;
    if (!userId) throw new EncryptionError('Log in first');
    const saved = await store.get(`${userId}:e2e-keys`);
    const e2e = new EndToEnd(sodium, client, store, userId, saved ? (JSON.parse(saved) as KeyPair[]) : []);
    if (e2e.keys.length === 0) {
      await e2e.rotate();
    } else {
      // A key made but not published (the network failed, or the server's limit was reached): try again now.
      for (const key of e2e.keys.filter((entry) => !entry.published)) {
        await e2e.publishAndMark(key).catch((error: unknown) => {
          if (!e2e.keys.some((entry) => entry.published)) throw error;
        });
      }
    }
    return e2e;
  }

  /** The newest key pair the server has published: what this device sends with. */
  get current(): KeyPair {
    const key = this.keys.findLast((entry) => entry.published && !entry.retired);
    if (!key) throw new EncryptionError('No published key yet');
    return key;
  }

  /** A new key pair: published, then used for what others send from now on; the old ones still open old messages. */
  async rotate(): Promise<KeyPair> {
    const pair = this.sodium.crypto_box_keypair();
    const key: KeyPair = {
      keyId: `k-${Date.now().toString(36)}-${this.sodium.to_hex(this.sodium.randombytes_buf(4))}`,
      publicKey: this.encode(pair.publicKey),
      secretKey: this.encode(pair.privateKey),
    };
    // Kept before it is published (others may encrypt to it as soon as it is), used to send only after.
    this.keys = [...this.keys, key];
    await this.save();
    await this.publishAndMark(key);
    return key;
  }

  /**
   * Retires one of this user's keys (the server then stops offering it to senders; at most 20 are in use at once).
   * Its secret half stays here, so what was encrypted with it can still be opened.
   */
  async retire(keyId: string): Promise<void> {
    await this.client.api.request('delete', '/api/users/encryption-key', { query: { keyId } });
    this.keys = this.keys.map((key) => (key.keyId === keyId ? { ...key, retired: true } : key));
    await this.save();
  }

  private async publishAndMark(key: KeyPair): Promise<void> {
    await this.publish(key);
    key.published = true;
    await this.save();
  }

  private save(): Promise<void> {
    return this.store.set(`${this.userId}:e2e-keys`, JSON.stringify(this.keys));
  }

  /** The `encrypted` field of a direct message to this user: their newest published key, this user's current one. */
  async encryptFor(recipientId: string, text: string): Promise<EncryptedPayload> {
    const { user } = await this.client.api.request('get', '/api/users/{id}', { params: { id: recipientId } });
    const theirs = user.encryptionKeys.findLast((key) => !key.retiredAt);
    if (!theirs) throw new EncryptionError(`${user.username} has published no encryption key`);
    const mine = this.current;
    const nonce = this.sodium.randombytes_buf(this.sodium.crypto_box_NONCEBYTES);
    const ciphertext = this.sodium.crypto_box_easy(
      this.sodium.from_string(text),
      nonce,
      this.decode(theirs.publicKey),
      this.decode(mine.secretKey),
    );
    return {
      ciphertext: this.encode(ciphertext),
      nonce: this.encode(nonce),
      algorithm: E2E_ALGORITHM,
      recipientKeyId: theirs.keyId,
      senderKeyId: mine.keyId,
    };
  }

  /** Sends an encrypted direct message through the client's outbox (sent once, like any other). */
  async send(recipientId: string, text: string): Promise<Message> {
    return this.client.sendMessage({ recipientId, encrypted: await this.encryptFor(recipientId, text) });
  }

  /** The text of an encrypted message this user sent or received; throws if it was altered or is not for them. */
  async decrypt(message: Message): Promise<string> {
    const content = message.content;
    if (content?.kind !== 'encrypted' || content.algorithm !== E2E_ALGORITHM || !content.senderKeyId || !message.recipientId) {
      throw new EncryptionError('Not an end-to-end encrypted direct message');
    }
    const sentByMe = message.senderId === this.userId;
    const [myKeyId, otherUser, otherKeyId] = sentByMe
      ? [content.senderKeyId, message.recipientId, content.recipientKeyId]
      : [content.recipientKeyId, message.senderId, content.senderKeyId];
    const mine = this.keys.find((key) => key.keyId === myKeyId);
    if (!mine) throw new EncryptionError(`No secret key ${myKeyId} on this device`);
    try {
      const opened = this.sodium.crypto_box_open_easy(
        this.decode(content.ciphertext),
        this.decode(content.nonce),
        await this.publicKeyOf(otherUser, otherKeyId),
        this.decode(mine.secretKey),
      );
      return this.sodium.to_string(opened);
    } catch (error) {
      if (error instanceof EncryptionError) throw error;
      throw new EncryptionError('The message could not be opened: altered, or not encrypted for this key');
    }
  }

  private async publish(key: KeyPair): Promise<void> {
    await this.client.api.request('put', '/api/users/encryption-key', { body: { keyId: key.keyId, publicKey: key.publicKey } });
  }

  private publicKeyOf(userId: string, keyId: string): Promise<Uint8Array> {
    const cacheKey = `${userId}:${keyId}`;
    let key = this.publicKeys.get(cacheKey);
    if (!key) {
      key = this.client.api.request('get', '/api/users/{id}', { params: { id: userId } }).then(({ user }) => {
        const published = user.encryptionKeys.find((entry) => entry.keyId === keyId);
        if (!published) throw new EncryptionError(`${user.username} has no published key ${keyId}`);
        return this.decode(published.publicKey);
      });
      key.catch(() => this.publicKeys.delete(cacheKey));
      this.publicKeys.set(cacheKey, key);
    }
    return key;
  }

  private encode(bytes: Uint8Array): string {
    return this.sodium.to_base64(bytes, this.sodium.base64_variants.ORIGINAL);
  }

  private decode(text: string): Uint8Array {
    return this.sodium.from_base64(text, this.sodium.base64_variants.ORIGINAL);
  }
}
