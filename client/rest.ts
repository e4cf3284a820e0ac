import type { ApiRoute } from '../src/http/apiContract.ts';
import { LetsAppError } from './errors.ts';

export type Method = ApiRoute['method'];
/** The paths of the operations with this method, in OpenAPI form (`/api/messages/{id}`). */
export type PathOf<M extends Method> = Extract<ApiRoute, { method: M }>['path'];
/** What the route table says an operation takes and answers. */
export type Contract<M extends Method, P extends string> = NonNullable<Extract<ApiRoute, { method: M; path: P }>['contract']>;

// Record<never, never> is `{}`: no field, and (`… extends T`) "every field of T is optional".
type Field<K extends string, T> = [T] extends [undefined]
  ? Record<never, never>
  : Record<never, never> extends T
    ? { [F in K]?: T }
    : { [F in K]: T };
/** `params`, `query` and `body`, each present when the operation has one and optional when all its fields are. */
export type RequestInput<C extends { params: unknown; query: unknown; body: unknown }> = Field<'params', C['params']> &
  Field<'query', C['query']> &
  Field<'body', C['body']>;
/** The body of any of the operation's success answers: parsed JSON, a Blob for files, undefined for 204/304. */
export type ResponseOf<C extends { responses: object }> = C['responses'][keyof C['responses']];

type InputArgs<C extends { params: unknown; query: unknown; body: unknown }> =
  Record<never, never> extends RequestInput<C> ? [input?: RequestInput<C>] : [input: RequestInput<C>];

export interface RestOptions {
  /** Where the API is: '' for the page's own origin in a browser, `http://host:port` elsewhere. */
  baseUrl: string;
  /** The bearer token to send, read at each request. */
  token: () => string | null;
  /** Told of every 401, so the app can ask the user to log in again. */
  onUnauthorized?: (error: LetsAppError) => void;
  fetch?: typeof fetch;
}

/** A path or query parameter's text: the contract's parameters are strings, numbers and booleans. */
const parameterText = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

/** `/api/messages/{id}` with `{ id: 'x' }` → `/api/messages/x`. */
export function fillPath(path: string, params: Record<string, unknown> | undefined): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined || value === null) throw new TypeError(`Missing path parameter "${name}" for ${path}`);
    return encodeURIComponent(parameterText(value));
  });
}

function queryString(query: Record<string, unknown> | undefined): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null) search.set(name, parameterText(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/**
 * REST calls typed by the server's route table: `request('post', '/api/messages', { body })` checks the method,
 * path, parameters and body against the operation and answers with its documented body. Refusals are thrown as
 * LetsAppError.
 */
export class RestClient {
  private readonly fetch: typeof fetch;

  constructor(private readonly options: RestOptions) {
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  async request<M extends Method, P extends PathOf<M>>(
    method: M,
    path: P,
    ...[input]: InputArgs<Contract<M, P>>
  ): Promise<ResponseOf<Contract<M, P>>> {
    const { params, query, body } = (input ?? {}) as { params?: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown };
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.send(`${fillPath(path, params)}${queryString(query)}`, {
      method: method.toUpperCase(),
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return (await this.read(response)) as ResponseOf<Contract<M, P>>;
  }

  /**
   * A file as the raw request body, for the two upload operations (their body is bytes, not JSON). The server sniffs
   * the type from the bytes; `filename` only names the download.
   */
  async upload<P extends '/api/media/upload' | '/api/users/profile-picture' | '/api/media/voice'>(
    path: P,
    file: Blob,
    query?: Contract<'post', P>['query'],
  ): Promise<ResponseOf<Contract<'post', P>>> {
    const response = await this.send(`${path}${queryString(query)}`, {
      // The server goes by the bytes, not the declared type; a raw body is declared as octet-stream.
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: file,
    });
    return (await this.read(response)) as ResponseOf<Contract<'post', P>>;
  }

  private async send(pathAndQuery: string, init: RequestInit & { headers: Record<string, string> }): Promise<Response> {
    const token = this.options.token();
    if (token) init.headers.authorization = `Bearer ${token}`;
    try {
      return await this.fetch(`${this.options.baseUrl}${pathAndQuery}`, init);
    } catch (cause) {
      throw new LetsAppError('network_error', `Could not reach the server: ${(cause as Error).message}`);
    }
  }

  private async read(response: Response): Promise<unknown> {
    const type = response.headers.get('content-type') ?? '';
    if (response.ok) {
      if (response.status === 204 || response.status === 304) return undefined;
      return type.includes('application/json') ? await response.json() : await response.blob();
    }
    const body: unknown = type.includes('application/json') ? await response.json().catch(() => null) : null;
    const retryAfter = Number(response.headers.get('retry-after'));
    const error = LetsAppError.fromBody(body, response.status, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : null);
    if (error.unauthorized) this.options.onUnauthorized?.(error);
    throw error;
  }
}
