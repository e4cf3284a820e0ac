import { z } from 'zod';
import { ValidationError } from '../../commands/shared/errors.ts';

/**
 * Parses untrusted input with a zod schema; a failure is a 400 that names each offending field.
 * Schemas are strict objects, so unknown fields (including `__proto__`, `constructor`) are rejected.
 */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.map(String).join('.') : null,
    code: issue.code,
    message: issue.message,
    ...(issue.code === 'unrecognized_keys' ? { keys: issue.keys } : {}),
  }));
  const first = issues[0]!;
  const where = first.field ?? (first.keys ? first.keys.join(', ') : 'body');
  throw new ValidationError(`${where}: ${first.message}`, { issues });
}

/** Text that is not blank after trimming, bounded in length before trimming (as the OpenAPI document's maxLength says). */
export const boundedText = (max: number) => z.string().max(max).trim().min(1);

// The rules below are stated on the input as sent, before any normalization: a transform's input side is all that
// /openapi.json can show of a schema, so a rule checked only after one would be missing from the document.

/** No C0 or C1 control characters (`\p{Cc}`): they hide or reorder what others read, and end passwords early in bcrypt. */
export const NO_CONTROL_CHARACTERS = /^\P{Cc}*$/u;

/** A username as typed: 3 to 30 ASCII letters, digits or underscores, spaces around it ignored; read lowercased. */
export const usernameInput = (message = 'Use 3 to 30 letters, digits or underscores') =>
  z
    .string()
    .regex(/^\s*[A-Za-z0-9_]{3,30}\s*$/, message)
    .trim()
    .toLowerCase();

/**
 * A display text: no control characters (they hide or reorder what others read), NFC, trimmed. The length is checked
 * as sent (what the document states) and again once normalized (NFC may lengthen a text, trimming may empty it).
 */
export const displayText = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .regex(NO_CONTROL_CHARACTERS, 'No control characters')
    .transform((value) => value.normalize('NFC').trim())
    .pipe(z.string().min(min).max(max));

/** An id minted by this server: a UUID. Rejects operator objects like `{"$gt": ""}` by type. */
export const id = z.uuid();

/** Path parameters of a route addressing one resource by id. */
export const idParams = z.strictObject({ id });

/**
 * An integer query parameter: decimal digits only. `z.coerce.number()` reads '' and ' ' as 0 and '0x1f' as 31, so
 * `?before=` passed as 0 although the document (type integer) calls it invalid. Numbers pass through unchanged.
 */
export const queryInteger = <S extends z.ZodType<number>>(schema: S) =>
  z.preprocess((value) => (typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value), schema);
