import bcrypt from 'bcrypt';
import type { PasswordScheme } from '../../commands/users.ts';
import { MAX_PASSWORD_BYTES } from '../contract/authSchemas.ts';
import { HashingSlots } from './hashingSlots.ts';

export interface StoredPassword {
  hash: string;
  scheme: PasswordScheme;
}

/** Hashes at once: half of libuv's default 4 threads, so the filesystem always has the other two. */
export const HASHING_CONCURRENCY = 2;
/** Hashes one client may have waiting for a slot (its `auth` budget is 20 at once). */
export const HASHES_WAITING_PER_CLIENT = 32;

/**
 * bcrypt with a configurable cost, over NFC-normalized passwords (schema validates them first). Every hash and check
 * takes one of a few slots, in turn by client (`HashingSlots`).
 */
export class PasswordHasher {
  /** Compared against when the email is unknown, so both failures take the same time. */
  private readonly decoy: Promise<string>;

  constructor(
    private readonly cost: number,
    private readonly slots = new HashingSlots(HASHING_CONCURRENCY, HASHES_WAITING_PER_CLIENT),
  ) {
    this.decoy = slots.run('', () => bcrypt.hash('decoy password', cost));
  }

  /** `password` has passed `newPasswordSchema`: NFC, well-formed, no control characters, at most 72 bytes. */
  async hash(password: string, client: string): Promise<StoredPassword> {
    return { hash: await this.slots.run(client, () => bcrypt.hash(password.normalize('NFC'), this.cost)), scheme: 'bcrypt-nfc' };
  }

  /** `client` (the address asking) takes its turn for a slot. */
  async verify(password: string, stored: StoredPassword | null, client: string): Promise<boolean> {
    const decoy = await this.decoy;
    return this.slots.run(client, () => this.compare(password, stored, decoy));
  }

  private async compare(password: string, stored: StoredPassword | null, decoy: string): Promise<boolean> {
    const candidate = stored?.scheme === 'bcrypt' ? password : password.normalize('NFC');
    // Under bcrypt-nfc no stored password is longer than bcrypt reads: a longer one is wrong, not truncated.
    const possible = stored !== null && (stored.scheme === 'bcrypt' || Buffer.byteLength(candidate) <= MAX_PASSWORD_BYTES);
    if (!possible) {
      await bcrypt.compare(candidate, decoy);
      return false;
    }
    return bcrypt.compare(candidate, stored.hash);
  }
}
