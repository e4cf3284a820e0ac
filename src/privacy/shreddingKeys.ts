import sodium from 'libsodium-wrappers';
import { LRUCache } from 'lru-cache';
import type { SecretBox } from '../secrets/secretBox.ts';
import { DESTROYED_ENVELOPE, type SecretStore, type StoredSecret } from '../secrets/secretStore.ts';
import { freshRandomBytes } from '../secrets/randomBytes.ts';

/**
 * Crypto-shredding keys: random 32-byte XChaCha20-Poly1305 keys kept outside the event log, in the secrets store,
 * each sealed with the keyring (SecretBox) like any other secret. Erasing what a key encrypts is destroying the key.
 *
 * Key ids name what they protect (the SecretBox subject of their row):
 *   `message:<messageId>`   purpose `content-key`: one message's text, every version of it (send and edits)
 *   `user:<userId>`         purpose `data-key`:    one user's personal fields
 *
 * A destroyed key leaves a tombstone row (DESTROYED_ENVELOPE), so `destroy` is final: `create` never makes the same
 * key id again, and `get` answers null for it forever.
 */
export type ShreddingKeyId = `message:${string}` | `user:${string}`;

export const messageKeyId = (messageId: string): ShreddingKeyId => `message:${messageId}`;
export const userKeyId = (userId: string): ShreddingKeyId => `user:${userId}`;

export const CONTENT_KEY_PURPOSE = 'content-key';
export const DATA_KEY_PURPOSE = 'data-key';

export function purposeOf(keyId: string): string {
  if (keyId.startsWith('message:')) return CONTENT_KEY_PURPOSE;
  if (keyId.startsWith('user:')) return DATA_KEY_PURPOSE;
  throw new Error(`Not a shredding key id: ${keyId}`);
}

/** Keys kept open in memory (32 bytes each plus the id): bounded by count, and by age so another thread's destroy is seen. */
export const DEFAULT_KEY_CACHE_ENTRIES = 10_000;
export const DEFAULT_KEY_CACHE_TTL_MS = 60_000;

/** The port: what use cases, projections and the audit tools need of the keys. */
export interface ShreddingKeys {
  /** The key, created now if it never existed; null if it was destroyed (destroy is final). Durable when it resolves. */
  create(keyId: ShreddingKeyId): Promise<Uint8Array | null>;
  /** The key, or null if it never existed or was destroyed. */
  get(keyId: ShreddingKeyId): Promise<Uint8Array | null>;
  /** Destroys the key for good (idempotent): what it sealed can never be opened again. Durable when it resolves. */
  destroy(keyId: ShreddingKeyId): Promise<void>;
  /** Drops the key from this process's cache only (a reader that learns from the log that it was destroyed). */
  forget(keyId: ShreddingKeyId): void;
}

export interface ShreddingKeysOptions {
  cacheEntries?: number;
  cacheTtlMs?: number;
  /** False for a reader (the projection worker, the audit tools): `create` and `destroy` throw. */
  writable?: boolean;
}

interface PendingCreate {
  row: StoredSecret;
  key: Uint8Array;
  resolve: (key: Uint8Array | null) => void;
  reject: (error: unknown) => void;
}

/**
 * ShreddingKeys over a SecretStore. Creates are group-committed: every create asked for in one turn of the event loop
 * goes to the store in one commit (one fsync on SQLite), as the event store batches appends.
 */
export class StoredShreddingKeys implements ShreddingKeys {
  /** An open key, or null for a key known destroyed. */
  private readonly cache: LRUCache<string, Uint8Array | { destroyed: true }>;
  private pending: PendingCreate[] = [];
  private flushScheduled = false;
  private residueTimer: NodeJS.Timeout | null = null;
  private residueWaiters: Array<() => void> = [];

  constructor(
    private readonly store: SecretStore,
    private readonly box: SecretBox,
    private readonly options: ShreddingKeysOptions = {},
  ) {
    this.cache = new LRUCache({
      max: options.cacheEntries ?? DEFAULT_KEY_CACHE_ENTRIES,
      ttl: options.cacheTtlMs ?? DEFAULT_KEY_CACHE_TTL_MS,
    });
  }

  async get(keyId: ShreddingKeyId): Promise<Uint8Array | null> {
    const cached = this.cache.get(keyId);
    if (cached) return cached instanceof Uint8Array ? cached : null;
    const envelope = await this.store.get(purposeOf(keyId), keyId);
    if (envelope === null) return null;
    if (envelope === DESTROYED_ENVELOPE) {
      this.cache.set(keyId, { destroyed: true });
      return null;
    }
    const key = this.unseal(keyId, envelope);
    this.cache.set(keyId, key);
    return key;
  }

  async create(keyId: ShreddingKeyId): Promise<Uint8Array | null> {
    this.assertWritable();
    // Not read first: a key id is almost always new (a message's), and the insert keeps what the store already holds.
    const cached = this.cache.get(keyId);
    if (cached) return cached instanceof Uint8Array ? cached : null;
    await sodium.ready;
    const key = freshRandomBytes(sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    const envelope = this.box.seal(Buffer.from(key).toString('base64'), { purpose: purposeOf(keyId), subject: keyId });
    return new Promise((resolve, reject) => {
      this.pending.push({ row: { purpose: purposeOf(keyId), subject: keyId, envelope }, key, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    try {
      const inserted = await this.store.insertIfAbsent(batch.map((entry) => entry.row));
      for (const [index, entry] of batch.entries()) {
        if (inserted[index]) {
          this.cache.set(entry.row.subject, entry.key);
          entry.resolve(entry.key);
        } else {
          // Created meanwhile by another instance (a retried send), or destroyed: what the store holds wins.
          this.cache.delete(entry.row.subject);
          this.get(entry.row.subject as ShreddingKeyId).then(entry.resolve, entry.reject);
        }
      }
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  }

  async destroy(keyId: ShreddingKeyId): Promise<void> {
    this.assertWritable();
    // The tombstone replaces the envelope in place; secure_delete zeroes the old cell, and eraseResidue the WAL's copy.
    await this.store.put(purposeOf(keyId), keyId, DESTROYED_ENVELOPE);
    const cached = this.cache.get(keyId);
    if (cached instanceof Uint8Array) cached.fill(0);
    this.cache.set(keyId, { destroyed: true });
    await this.eraseResidueSoon();
  }

  forget(keyId: ShreddingKeyId): void {
    this.cache.delete(keyId);
  }

  /**
   * One WAL truncation for the destroys of the next moment (they come in bursts: an account's messages, an expiry
   * sweep). Resolves once it has run; if readers kept it from finishing, it is tried again shortly.
   */
  private eraseResidueSoon(): Promise<void> {
    return new Promise((resolve) => {
      this.residueWaiters.push(resolve);
      this.residueTimer ??= setTimeout(() => void this.runEraseResidue(0), 10);
    });
  }

  private async runEraseResidue(attempt: number): Promise<void> {
    const waiters = this.residueWaiters;
    this.residueWaiters = [];
    let done: boolean;
    try {
      done = await this.store.eraseResidue();
    } catch {
      done = false;
    }
    if (!done && attempt < 50) {
      this.residueWaiters.unshift(...waiters);
      this.residueTimer = setTimeout(() => void this.runEraseResidue(attempt + 1), 20);
      return;
    }
    this.residueTimer = null;
    for (const resolve of waiters) resolve();
    if (this.residueWaiters.length > 0) this.residueTimer = setTimeout(() => void this.runEraseResidue(0), 10);
  }

  /** Waits for pending creates and residue erasure, then drops every cached key (zeroed). The store is the caller's. */
  async close(): Promise<void> {
    if (this.pending.length > 0) await this.flush();
    if (this.residueTimer) {
      clearTimeout(this.residueTimer);
      await this.runEraseResidue(50);
    }
    for (const value of this.cache.values()) if (value instanceof Uint8Array) value.fill(0);
    this.cache.clear();
  }

  private unseal(keyId: ShreddingKeyId, envelope: string): Uint8Array {
    const base64 = this.box.open(envelope, { purpose: purposeOf(keyId), subject: keyId });
    return new Uint8Array(Buffer.from(base64, 'base64'));
  }

  private assertWritable(): void {
    if (this.options.writable === false) throw new Error('These shredding keys are opened read-only');
  }
}
