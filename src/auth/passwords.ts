import bcrypt from 'bcrypt';
import type { PasswordScheme } from '../../commands/users.ts';

/** bcrypt reads at most this many bytes; a longer password would share its hash with its 72-byte prefix. */
export const MAX_PASSWORD_BYTES = 72;

export interface StoredPassword {
  hash: string;
  scheme: PasswordScheme;
}

/** bcrypt with a configurable cost, over NFC-normalized passwords (schema validates them first). */
export class PasswordHasher {
  /** Compared against when the email is unknown, so both failures take the same time. */
  private readonly decoy: Promise<string>;

  constructor(private readonly cost: number) {
    this.decoy = bcrypt.hash('decoy password', cost);
  }

  /** `password` has passed `newPasswordSchema`: NFC, well-formed, no control characters, at most 72 bytes. */
  async hash(password: string): Promise<StoredPassword> {
    return { hash: await bcrypt.hash(password.normalize('NFC'), this.cost), scheme: 'bcrypt-nfc' };
  }

  async verify(password: string, stored: StoredPassword | null): Promise<boolean> {
    const candidate = stored?.scheme === 'bcrypt' ? password : password.normalize('NFC');
    // Under bcrypt-nfc no stored password is longer than bcrypt reads: a longer one is wrong, not truncated.
    const possible = stored !== null && (stored.scheme === 'bcrypt' || Buffer.byteLength(candidate) <= MAX_PASSWORD_BYTES);
    if (!possible) {
      await bcrypt.compare(candidate, await this.decoy);
      return false;
    }
    return bcrypt.compare(candidate, stored.hash);
  }
}
