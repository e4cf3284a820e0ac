import { createUpcaster, type Upcaster } from './shared/upcasting.ts';
import type { PasswordScheme } from './users.ts';

/** v1 message content held its text in clear: as v2 it is `{ plain }`, readable as it always was (never rewritten). */
const plainTextContent = (data: unknown): unknown => {
  const event = data as { content?: { kind?: string; text?: unknown } };
  if (event.content?.kind !== 'text' || typeof event.content.text !== 'string') return data;
  return { ...event, content: { ...event.content, text: { plain: event.content.text } } };
};

/**
 * Every event upcaster, in one registry read by handlers, projectors and the audit tools. A changed event adds
 * `{ type, fromVersion, upcast }` here and never rewrites history.
 */
export const upcasters: readonly Upcaster[] = [
  // UserRegistered v1 hashed the password as typed; v2 names the scheme (v2 hashes the NFC-normalized password).
  {
    type: 'UserRegistered',
    fromVersion: 1,
    upcast: (data) => ({ ...(data as object), passwordScheme: 'bcrypt' satisfies PasswordScheme }),
  },
  // MessageSent and MessageEdited v2 seal the text under the message's content key (crypto-shredding, src/privacy/).
  { type: 'MessageSent', fromVersion: 1, upcast: plainTextContent },
  { type: 'MessageEdited', fromVersion: 1, upcast: plainTextContent },
];

export const eventUpcaster = createUpcaster(upcasters);
