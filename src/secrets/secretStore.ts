/**
 * Where sealed secrets (SecretBox envelopes) live: one envelope per (purpose, subject). Deliberately not the event
 * log, which is immutable: an envelope here can be re-encrypted under a new key (rotate-secrets) or erased.
 * The store only ever sees envelopes, never plaintext.
 */
/**
 * What a destroyed crypto-shredding key leaves in its row: not an envelope, so it opens to nothing, and it keeps the
 * key from ever being created again under the same id (src/privacy/shreddingKeys.ts).
 */
export const DESTROYED_ENVELOPE = 'destroyed';

export interface StoredSecret {
  /** With `subject`, exactly the context the envelope is sealed for (SecretContext): rotation opens it with them. */
  purpose: string;
  subject: string;
  envelope: string;
}

export interface SecretStore {
  /** The envelope, or null when there is none. */
  get(purpose: string, subject: string): Promise<string | null>;
  /** Inserts or replaces the envelope. */
  put(purpose: string, subject: string, envelope: string): Promise<void>;
  /**
   * Replaces the envelope only if it is still `expected` (compare-and-set); false when it changed or was deleted
   * meanwhile. Rotation uses it so that it never overwrites a secret the server wrote while it ran.
   */
  replace(purpose: string, subject: string, expected: string, envelope: string): Promise<boolean>;
  delete(purpose: string, subject: string): Promise<void>;
  /**
   * Inserts each row unless its (purpose, subject) already holds an envelope (kept as it is), all in one commit;
   * true for each row inserted. Shredding keys are created this way: a key once written is never replaced.
   */
  insertIfAbsent(rows: readonly StoredSecret[]): Promise<boolean[]>;
  /**
   * Makes deleted envelopes unrecoverable from the store's files where it can (SQLite: secure_delete is on, and this
   * checkpoints the WAL with TRUNCATE so no old page image of them survives); false when it could not finish now.
   */
  eraseResidue(): Promise<boolean>;
  /** How many envelopes are stored (for progress reporting). */
  count(): Promise<number>;
  /**
   * Every envelope, ordered by (purpose, subject), read in pages: writing to the store while iterating is allowed,
   * and a row already visited is not visited again.
   */
  all(): AsyncIterable<StoredSecret>;
  close(): Promise<void>;
}
