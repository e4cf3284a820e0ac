import { createUpcaster, type Upcaster } from './shared/upcasting.ts';
import type { PasswordScheme } from './users.ts';

/**
 * Every event upcaster, in one registry read by handlers, projectors and the audit tools. A changed event adds
 * `{ type, fromVersion, upcast }` here and never rewrites history.
 */
export const upcasters: readonly Upcaster[] = [
  // UserRegistered v1 hashed the password as typed; v2 names the scheme (v2 hashes the NFC-normalized password).
  { type: 'UserRegistered', fromVersion: 1, upcast: (data) => ({ ...(data as object), passwordScheme: 'bcrypt' satisfies PasswordScheme }) },
];

export const eventUpcaster = createUpcaster(upcasters);
