/**
 * What an audit view or export never shows: secrets. Pure.
 * A field named in SECRET_FIELDS is replaced wherever it appears (event data, stored or upcast, and read documents);
 * a string shaped like a bcrypt hash is replaced under any name, in case a future event carries one elsewhere.
 * Everything else is shown as stored: encrypted message payloads stay ciphertext.
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(['passwordHash']);

export const REDACTED = '[redacted]';

/** `$2a$`, `$2b$`, `$2x$`, `$2y$`, a two-digit cost, then 22 characters of salt and 31 of hash. */
const BCRYPT_HASH = /^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$/;

/** A copy of a JSON value with every secret replaced by `"[redacted]"`. */
export function redactSecrets(value: unknown): unknown {
  if (typeof value === 'string') return BCRYPT_HASH.test(value) ? REDACTED : value;
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, SECRET_FIELDS.has(key) ? REDACTED : redactSecrets(field)]));
  }
  return value;
}

/**
 * Whether a read-store filter tests a secret field (`{"passwordHash": "..."}`): refused, or matching documents
 * would tell a hash apart without showing it.
 */
export function filterTestsSecret(filter: unknown): boolean {
  if (Array.isArray(filter)) return filter.some(filterTestsSecret);
  if (filter === null || typeof filter !== 'object') return false;
  return Object.entries(filter).some(
    ([key, condition]) => key.split('.').some((segment) => SECRET_FIELDS.has(segment)) || filterTestsSecret(condition),
  );
}
