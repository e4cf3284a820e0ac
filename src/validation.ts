import { z } from 'zod';
import { ValidationError } from '../commands/shared/errors.ts';

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
