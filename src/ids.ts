import { createHash, randomUUID } from 'node:crypto';

/** A fresh random id (UUID v4). */
export const newId = (): string => randomUUID();

/**
 * A stable UUID derived from its parts (SHA-256, shaped as an RFC 9562 v8 UUID). Event ids derive from the
 * command id this way, so a retried command carries the same event ids and the store de-duplicates it.
 */
export function deriveId(...parts: readonly string[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
