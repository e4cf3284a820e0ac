import type { Context } from 'koa';
import type { z } from 'zod';
import type { ErrorCode } from '../api/errorCodes.ts';
import type { Principal } from '../auth/authenticator.ts';
import type { PolicyName } from '../rateLimit/policies.ts';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** A documented success answer: JSON with `schema`, text of another content type (or of one of several), or no body. */
export interface SuccessResponse {
  description: string;
  schema?: z.ZodType;
  contentType?: string | readonly string[];
}

type Responses = Record<number, SuccessResponse>;

/** What a handler answers: one of its documented statuses, with a body of that status's schema. */
export type Reply<R extends Responses> = {
  [S in keyof R & number]: R[S] extends { schema: z.ZodType } ? { status: S; body: z.input<R[S]['schema']> }
    : R[S] extends { contentType: string | readonly string[] } ? { status: S; body: string } | { status: S; handled: true }
      : { status: S };
}[keyof R & number];

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The caller, on routes with `auth: true` (on `bearer-or-media-token` routes: null when no bearer was sent). */
  principal: Principal;
  ctx: Context;
}

type Output<S> = S extends z.ZodType ? z.output<S> : Record<string, never>;

/**
 * One REST operation, declared once: the same entry registers the Koa handler (validation, auth, rate limit) and
 * writes its part of `/openapi.json`, so the two cannot drift.
 */
export interface Route<P extends z.ZodType | undefined = z.ZodType | undefined, Q extends z.ZodType | undefined = z.ZodType | undefined,
  B extends z.ZodType | undefined = z.ZodType | undefined, R extends Responses = Responses> {
  method: HttpMethod;
  /** OpenAPI form: `/api/messages/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** Requires a bearer token (401 otherwise); `bearer-or-media-token`: a bearer if sent, else the handler checks `?token=`. */
  auth: boolean | 'bearer-or-media-token';
  /** A body that is not JSON (a file upload): its content types, documented as binary; the handler reads the stream. */
  rawBody?: { contentTypes: readonly string[]; description: string };
  /** The policy charged before the input is even read; keyed by the policy's key (user, address). */
  rateLimit: PolicyName | null;
  params?: P;
  query?: Q;
  body?: B;
  responses: R;
  /** Error codes this operation answers with besides the ones its auth, input and rate limit imply. */
  errors: readonly ErrorCode[];
  handle(input: RouteInput<Output<P>, Output<Q>, Output<B>>): Promise<NoInfer<Reply<R>>>;
}

/** Erased so routes of different shapes fit one table; `route()` checks each one's handler against its schemas. */
export type AnyRoute = Route<any, any, any, any>;

export const route = <P extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined, R extends Responses = Responses>(spec: Route<P, Q, B, R>): AnyRoute => spec;

/** `/api/messages/{id}` → `/api/messages/:id` for @koa/router. */
export const koaPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

/** A reply with a JSON body; the status stays a literal so the handler is checked against that status's schema. */
export const reply = <const S extends number, B>(status: S, body: B) => ({ status, body });

export const noContent = () => ({ status: 204 as const });

/** The handler wrote the answer itself (a streamed file): only its status is checked against the table. */
export const handled = <const S extends number>(status: S) => ({ status, handled: true as const });
