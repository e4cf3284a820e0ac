import { UnavailableError } from '../../commands/shared/errors.ts';
import type { RateLimits } from '../rateLimit/rateLimits.ts';

/** The wait of the first attempt past an account's `login-account` budget, doubling with each one after it. */
export const LOGIN_DELAY_BASE_MS = 1_000;
export const LOGIN_DELAY_MAX_MS = 16_000;

export interface LoginAttempt {
  /** The password was right: the attempt gives back what it took, so successful logins cost nothing. */
  succeeded(): Promise<void>;
}

/**
 * Anti-automation of password logins that nobody can turn into a lockout (OWASP ASVS 5.0 V6.1.1, V6.3.1; 4.0 V2.2.1):
 * - `login-failures`, per account and client address: taken before the password is checked, so parallel guesses
 *   cannot outrun it; empty, that address is refused (429) for that account, and only that address.
 * - `login-account`, per account from every address: past it each attempt on the account waits before its check,
 *   1 s doubling to 16 s. A guess from many addresses is slowed down; the owner is slowed too, never refused.
 */
export class LoginThrottle {
  private readonly waits = new Set<{ timer: NodeJS.Timeout; cancel(): void }>();

  constructor(private readonly rateLimits: RateLimits) {}

  async admit(account: string, address: string): Promise<LoginAttempt> {
    const pair = JSON.stringify([account, address]);
    await this.rateLimits.charge('login-failures', pair);
    const short = await this.rateLimits.borrow('login-account', account);
    let returned = false;
    const attempt = {
      succeeded: async () => {
        if (returned) return;
        returned = true;
        await this.rateLimits.giveBack('login-failures', pair);
        await this.rateLimits.giveBack('login-account', account);
      },
    };
    if (short > 0) await this.wait(Math.min(LOGIN_DELAY_MAX_MS, LOGIN_DELAY_BASE_MS * 2 ** (short - 1)));
    return attempt;
  }

  /** Ends every wait (on shutdown): those logins are answered 503 instead of running on a closing server. */
  close(): void {
    for (const wait of this.waits) wait.cancel();
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const wait = {
        timer: setTimeout(() => {
          this.waits.delete(wait);
          resolve();
        }, ms),
        cancel: () => {
          clearTimeout(wait.timer);
          this.waits.delete(wait);
          reject(new UnavailableError('The server is shutting down'));
        },
      };
      this.waits.add(wait);
    });
  }
}
