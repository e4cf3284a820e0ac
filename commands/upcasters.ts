import { createUpcaster, type Upcaster } from './shared/upcasting.ts';
import type { PasswordScheme } from './users.ts';

/** v1 message content held its text in clear: as v2 it is `{ plain }`, readable as it always was (never rewritten). */
const plainTextContent = (data: unknown): unknown => {
  const event = data as { content?: { kind?: string; text?: unknown } };
  if (event.content?.kind !== 'text' || typeof event.content.text !== 'string') return data;
  return { ...event, content: { ...event.content, text: { plain: event.content.text } } };
};

/** Personal fields written in clear before they were sealed (issue 26): as `{ plain }`, readable as they always were. */
const plainFields =
  (fields: readonly string[]) =>
  (data: unknown): unknown => {
    const event = { ...(data as Record<string, unknown>) };
    for (const field of fields) if (typeof event[field] === 'string') event[field] = { plain: event[field] };
    return event;
  };
const plainProfileChanges = (data: unknown): unknown => {
  const event = data as { changes?: Record<string, unknown> };
  return event.changes ? { ...event, changes: plainFields(['displayName', 'about'])(event.changes) } : data;
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
  // UserRegistered v3, ProfileUpdated v2, ContactAdded/ContactRenamed v2 seal personal fields under the user's data key.
  { type: 'UserRegistered', fromVersion: 2, upcast: plainFields(['email', 'username', 'displayName']) },
  { type: 'ProfileUpdated', fromVersion: 1, upcast: plainProfileChanges },
  { type: 'ContactAdded', fromVersion: 1, upcast: plainFields(['nickname']) },
  { type: 'ContactRenamed', fromVersion: 1, upcast: plainFields(['nickname']) },
  // AiPromptSubmitted and AiReplyCompleted v2 seal Leta's conversation under the user's data key.
  { type: 'AiPromptSubmitted', fromVersion: 1, upcast: plainFields(['text']) },
  { type: 'AiReplyCompleted', fromVersion: 1, upcast: plainFields(['text']) },
];

export const eventUpcaster = createUpcaster(upcasters);
