import type { Context } from 'koa';
import type { z } from 'zod';
import type { ErrorCode } from '../contract/errorCodes.ts';
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
  [S in keyof R & number]: R[S] extends { schema: z.ZodType }
    ? { status: S; body: z.input<R[S]['schema']> }
    : R[S] extends { contentType: string | readonly string[] }
      ? { status: S; body: string } | { status: S; handled: true }
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

/** Path and query parameters arrive as an object of named fields (documented one parameter per field). */
type ParamsSchema = z.ZodType<unknown, Record<string, unknown>>;

/**
 * One REST operation, declared once: the same entry registers the Koa handler (validation, auth, rate limit) and
 * writes its part of `/openapi.json`, so the two cannot drift.
 */
export interface Route<
  P extends ParamsSchema | undefined = ParamsSchema | undefined,
  Q extends ParamsSchema | undefined = ParamsSchema | undefined,
  B extends z.ZodType | undefined = z.ZodType | undefined,
  R extends Responses = Responses,
> {
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
  /**
   * Answered as soon as its write is durable, without first waiting for the projections to reach what was
   * acknowledged before it (every other authenticated route does): the send, whose reply is built from its event.
   */
  answersWhenDurable?: true;
  /** Error codes this operation answers with besides the ones its auth, input and rate limit imply. */
  errors: readonly ErrorCode[];
  /** May answer synchronously (a reply built from memory) or asynchronously. */
  handle(input: RouteInput<Output<P>, Output<Q>, Output<B>>): NoInfer<Reply<R>> | Promise<NoInfer<Reply<R>>>;
}

/**
 * Widened so routes of different shapes fit one table (`handle` is a method, so its input is checked bivariantly);
 * `route()` checks each one's handler against its schemas.
 */
export type AnyRoute = Route;

type Input<S> = S extends z.ZodType ? z.input<S> : undefined;

/** What a client may send to an operation and what it gets back, as JSON; `contract` is a type only, never set. */
export interface RouteContract<P, Q, B, R extends Responses> {
  params: Input<P>;
  query: Input<Q>;
  body: Input<B>;
  responses: {
    [S in keyof R & number]: R[S] extends { schema: z.ZodType }
      ? z.output<R[S]['schema']>
      : R[S] extends { contentType: unknown }
        ? Blob
        : undefined;
  };
}

/** A route as the table holds it, keeping its method and path literally and its contract for the typed client (client/). */
export type TypedRoute<M extends HttpMethod, Pa extends string, P, Q, B, R extends Responses> = AnyRoute & {
  readonly method: M;
  readonly path: Pa;
  readonly contract?: RouteContract<P, Q, B, R>;
};

export const route = <
  const M extends HttpMethod,
  const Pa extends string,
  P extends ParamsSchema | undefined = undefined,
  Q extends ParamsSchema | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  R extends Responses = Responses,
>(
  spec: Route<P, Q, B, R> & { method: M; path: Pa },
): TypedRoute<M, Pa, P, Q, B, R> => spec;

/** `/api/messages/{id}` → `/api/messages/:id` for @koa/router. */
export const koaPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

/** A reply with a JSON body; the status stays a literal so the handler is checked against that status's schema. */
export const reply = <const S extends number, B>(status: S, body: B) => ({ status, body });

export const noContent = () => ({ status: 204 as const });

/** The handler wrote the answer itself (a streamed file): only its status is checked against the table. */
export const handled = <const S extends number>(status: S) => ({ status, handled: true as const });
