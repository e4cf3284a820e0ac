/**
 * Named rate-limit policies, shared by REST and the socket: one bucket per policy and key, so switching transport
 * does not reset a budget. Token buckets: `burst` requests at once, refilled at `perSecond`.
 */
export type PolicyKey =
  /** The authenticated user (all their sockets and requests). */
  | 'user'
  /** The client address (`TRUST_PROXY` decides whether `X-Forwarded-For` is believed). */
  | 'ip'
  /** The account a request targets (the email of a login), whoever sends it. */
  | 'account'
  /** The account a request targets together with the client address that sends it. */
  | 'account-address'
  /** One socket. */
  | 'connection';

export interface RateLimitPolicy {
  name: string;
  burst: number;
  perSecond: number;
  key: PolicyKey;
  description: string;
}

const policy = (name: string, burst: number, perSecond: number, key: PolicyKey, description: string): RateLimitPolicy => ({
  name,
  burst,
  perSecond,
  key,
  description,
});

/** The defaults; `RATE_LIMITS` overrides any of them (see `parseRateLimits`). */
export const DEFAULT_POLICIES = [
  policy('auth', 20, 1, 'ip', 'registration and login attempts per client address'),
  policy('login-failures', 5, 5 / 900, 'account-address', 'failed logins per account and client address: 5 per 15 minutes'),
  policy(
    'login-account',
    10,
    10 / 900,
    'account',
    'failed logins per account from every address: past it each attempt waits (1 s doubling to 16 s), never refused',
  ),
  policy('msg', 30, 10, 'user', 'sending, editing and deleting messages'),
  policy('receipts', 60, 20, 'user', 'read and delivered receipts'),
  policy('reactions', 60, 10, 'user', 'adding and taking back reactions, following and unfollowing threads'),
  policy('typing', 20, 2, 'user', 'typing notices'),
  policy('groups', 20, 1, 'user', 'creating groups and changing them or their members'),
  policy(
    'group-invites',
    10,
    30 / 3600,
    'user',
    'previewing and joining groups by invite-link token: 10 at once, 30 an hour (tokens cannot be enumerated)',
  ),
  policy('contacts', 30, 1, 'user', 'adding, renaming and removing contacts, blocking and unblocking'),
  policy('bots', 10, 30 / 3600, 'user', 'making and deleting bots and issuing or revoking their tokens: 10 at once, 30 an hour'),
  policy('search', 10, 0.5, 'user', 'user search'),
  policy('message-search', 20, 2, 'user', 'full-text message search (GET /api/search)'),
  policy(
    'profile',
    10,
    1 / 6,
    'user',
    "account settings: profile and privacy, encryption keys, removing the profile picture, Leta's personalities, history and API key",
  ),
  policy('presence', 20, 1 / 3, 'user', 'presence subscriptions, idle/active notices and mode changes'),
  policy('push', 20, 1 / 3, 'user', 'push subscriptions, the push preview setting, muting and unmuting conversations'),
  policy('webhooks', 10, 1 / 6, 'user', 'registering, changing, deleting webhooks and rotating their secrets: 10 at once, 10 a minute'),
  policy('upload', 10, 1 / 3, 'user', 'file uploads, profile pictures, file deletions'),
  policy('call', 5, 1 / 6, 'user', 'starting calls: 5 at once, 10 a minute'),
  policy('call-signal', 200, 50, 'user', 'call signaling frames (offers, answers, ICE candidates) and ringing acks'),
  policy('ai', 3, 1 / 6, 'user', 'messages to Leta: 3 at once, 10 a minute'),
  policy('ai-daily', 200, 200 / 86_400, 'user', 'messages to Leta: 200 a day (cost control)'),
  policy('read', 120, 5, 'user', 'reads: lists, pages, histories, sync'),
  policy('session', 20, 1, 'user', 'logout'),
  policy('export', 1, 1 / 3_600, 'user', 'asking for a copy of your data (GDPR export): one an hour'),
  policy('frames', 200, 50, 'connection', 'socket frames of any type, per socket; over it the socket closes with 4429'),
  policy('user-frames', 300, 100, 'user', "socket frames of any type over all of a user's sockets; over it the socket closes with 4429"),
] as const satisfies readonly RateLimitPolicy[];

export type PolicyName = (typeof DEFAULT_POLICIES)[number]['name'];

const UNIT_SECONDS = { s: 1, m: 60, h: 3600 } as const;
const SETTING = /^([a-z-]+)=(\d+),(\d+(?:\.\d+)?)\/(\d*)([smh])$/;

/**
 * `RATE_LIMITS="msg=30,10/s;login-failures=5,5/15m"`: per policy, the burst, then the refill per period
 * (`10/s`: 10 a second; `5/15m`: 5 every 15 minutes). Unknown names and malformed entries are errors.
 */
export function parseRateLimits(setting: string | undefined): RateLimitPolicy[] {
  const policies = new Map<string, RateLimitPolicy>(DEFAULT_POLICIES.map((entry) => [entry.name, { ...entry }]));
  for (const entry of (setting ?? '')
    .split(';')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const match = SETTING.exec(entry);
    if (!match) throw new Error(`RATE_LIMITS: "${entry}" is not name=burst,amount/period (e.g. msg=30,10/s)`);
    // SETTING's five groups always take part in a match; its last one is one of UNIT_SECONDS' keys.
    const [, name = '', burst = '', amount = '', count = '', unit = 's'] = match;
    const known = policies.get(name);
    if (!known) throw new Error(`RATE_LIMITS: unknown policy "${name}"; known: ${[...policies.keys()].join(', ')}`);
    const seconds = (count === '' ? 1 : Number(count)) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
    const perSecond = Number(amount) / seconds;
    if (Number(burst) < 1 || !(perSecond > 0)) throw new Error(`RATE_LIMITS: "${entry}" needs a burst and a refill above 0`);
    policies.set(name, { ...known, burst: Number(burst), perSecond });
  }
  return [...policies.values()];
}

/** The policy's window as the IETF header reports it: seconds for an empty bucket to fill again. */
export const windowSeconds = (policy: RateLimitPolicy): number => Math.ceil(policy.burst / policy.perSecond);

/**
 * A `RATE_LIMITS` value lifting the per-user and per-address policies out of the way, for load generators and tests
 * that are not about limits (a few users there stand for thousands). The socket frame budgets stay.
 */
export const liftedRateLimits = (): string =>
  DEFAULT_POLICIES.filter((entry) => entry.key !== 'connection' && entry.name !== 'user-frames')
    .map((entry) => `${entry.name}=1000000,1000000/s`)
    .join(';');
