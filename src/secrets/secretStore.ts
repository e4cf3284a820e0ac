/**
 * Where sealed secrets (SecretBox envelopes) live: one envelope per (purpose, subject). Deliberately not the event
 * log, which is immutable: an envelope here can be re-encrypted under a new key (rotate-secrets) or erased.
 * The store only ever sees envelopes, never plaintext.
 */
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
  /** How many envelopes are stored (for progress reporting). */
  count(): Promise<number>;
  /**
   * Every envelope, ordered by (purpose, subject), read in pages: writing to the store while iterating is allowed,
   * and a row already visited is not visited again.
   */
  all(): AsyncIterable<StoredSecret>;
  close(): Promise<void>;
}
