/**
 * Every error code the API answers with, its HTTP status and what it means: the OpenAPI document's error schema
 * enumerates these, and each route lists the ones it can return.
 */
export const ERROR_CODES = {
  validation_failed: { status: 400, description: 'The input does not match the schema; `details.issues` names each field' },
  bad_request: { status: 400, description: 'Malformed HTTP' },
  missing_token: { status: 401, description: 'No bearer token' },
  invalid_token: { status: 401, description: 'The token is malformed, signed with another key, or its user is unknown' },
  token_expired: { status: 401, description: 'The token expired: log in again' },
  token_revoked: { status: 401, description: 'The token was revoked by a logout' },
  unauthorized: { status: 401, description: 'Authentication required' },
  invalid_credentials: { status: 401, description: 'Unknown email or wrong password (not told apart)' },
  forbidden: { status: 403, description: 'Authenticated, but not allowed to do this' },
  blocked: { status: 403, description: 'One of the two users has blocked the other' },
  quota_exceeded: { status: 403, description: 'The storage quota is used up; `details` has the usage and the limits' },
  not_found: { status: 404, description: 'No such resource, or not one the caller may see' },
  method_not_allowed: { status: 405, description: 'The path exists, the method does not' },
  too_many_connections: { status: 409, description: 'Socket only: the user has the maximum number of sockets open' },
  email_taken: { status: 409, description: 'The email is registered' },
  username_taken: { status: 409, description: 'The username is registered' },
  registration_abandoned: { status: 409, description: 'This registration lost its email or username while unfinished; register again' },
  user_exists: { status: 409, description: 'The user is already registered' },
  contacts_limit: { status: 409, description: 'The user has the maximum number of contacts (5,000)' },
  blocks_limit: { status: 409, description: 'The user has blocked the maximum number of users (1,000)' },
  presence_disabled: { status: 409, description: 'Presence is turned off on this server' },
  group_exists: { status: 409, description: 'The group already exists' },
  group_full: { status: 409, description: 'The group has its maximum number of members' },
  owner_role: { status: 409, description: 'The owner keeps the owner role: transfer ownership instead' },
  owner_cannot_leave: { status: 409, description: 'The owner must transfer ownership before leaving' },
  message_exists: { status: 409, description: 'A different message already uses this id' },
  message_deleted: { status: 409, description: 'The message was deleted for everyone' },
  concurrency_conflict: { status: 409, description: 'The stream changed concurrently too many times; retry' },
  duplicate_event_id: { status: 409, description: 'The event ids were used by a different write' },
  duplicate_key: { status: 409, description: 'A unique read-store key is taken' },
  payload_too_large: { status: 413, description: 'The body is over `BODY_LIMIT_BYTES`, or a file over the limit of its sniffed type' },
  unsupported_media_type: { status: 415, description: 'JSON was expected, or a file\'s bytes are of a type not accepted (SVG, HTML, HEIC, ...)' },
  extension_mismatch: { status: 415, description: 'The filename\'s extension is of another kind than the file\'s bytes' },
  image_too_large: { status: 422, description: 'The image has more pixels than allowed (40 megapixels)' },
  invalid_image: { status: 422, description: 'The image cannot be decoded' },
  invalid_attachment: { status: 422, description: 'An attachment is not a live file of the sender\'s' },
  media_exists: { status: 409, description: 'Another user\'s file has this id' },
  range_not_satisfiable: { status: 416, description: 'The Range asks for bytes past the end of the file' },
  headers_too_large: { status: 431, description: 'Request headers or URL too large' },
  rate_limited: { status: 429, description: 'Over a rate-limit policy: `details.policy` and `details.retryAfterMs` say which and when' },
  internal_error: { status: 500, description: 'A bug; logged with the request id' },
  unavailable: { status: 503, description: 'A store is locked, closed or lagging; the request may be retried' },
  busy: { status: 503, description: 'Image processing is at capacity; retry after `Retry-After`' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const errorCodes = Object.keys(ERROR_CODES) as ErrorCode[];
