import type { PolicyKey, RateLimitPolicy } from '../../src/rateLimit/policies.ts';

/** What charges a policy: a REST route (`GET /api/messages`) or a client socket frame (`socket message.send`). */
export interface PolicyUser {
  policy: string | null;
  operation: string;
}

export const routeUsers = (routes: readonly { method: string; path: string; rateLimit: string | null }[]): PolicyUser[] =>
  routes.map((route) => ({ policy: route.rateLimit, operation: `${route.method.toUpperCase()} ${route.path}` }));

export const frameUsers = (frames: Readonly<Record<string, { policy: string | null }>>): PolicyUser[] =>
  Object.entries(frames).map(([type, spec]) => ({ policy: spec.policy, operation: `socket ${type}` }));

const KEYS: Record<PolicyKey, string> = {
  user: 'user',
  ip: 'address',
  account: 'account',
  'account-address': 'account+address',
  connection: 'socket',
};
const UNITS = [
  ['/s', 1],
  ['/min', 60],
  [' per 15 min', 900],
  ['/h', 3600],
  ['/day', 86_400],
] as const;

/** The refill as people say it: the first unit in which it is a whole number (`10/s`, `30/min`, `5 per 15 min`). */
export function refill(policy: RateLimitPolicy): string {
  for (const [unit, seconds] of UNITS) {
    const amount = policy.perSecond * seconds;
    if (amount >= 1 && Math.abs(amount - Math.round(amount)) < 1e-9) return `${Math.round(amount)}${unit}`;
  }
  return `${policy.perSecond}/s`;
}

/**
 * The README's rate-limit table, from the policies' own list and what charges each: one row per policy, in the
 * policies' order; policies charged by the code itself (logins, Leta's daily budget, frame floods) say so in
 * their description and list no operation.
 */
export function rateLimitTable(policies: readonly RateLimitPolicy[], users: readonly PolicyUser[]): string {
  const rows = policies.map((policy) => {
    const operations = users.filter((user) => user.policy === policy.name).map((user) => `\`${user.operation}\``);
    const chargedBy =
      operations.length === 0
        ? 'no operation declares it: charged in code, as described'
        : `${operations.length}: ${operations.join(', ')}`;
    return `| \`${policy.name}\` | ${policy.burst} | ${refill(policy)} | ${KEYS[policy.key]} | ${policy.description} | ${chargedBy} |`;
  });
  return ['| policy | burst | refill | key | what it limits | charged by |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

const BEGIN =
  '<!-- rate-limit-table: generated from src/rateLimit/policies.ts and the routes and frames that charge each ' +
  '(npx tsx scripts/rate-limit-table.ts --write); a test compares it -->';
const END = '<!-- /rate-limit-table -->';

/** The generated table as it stands in the README (null: the markers are missing). */
export function tableInReadme(readme: string): string | null {
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  return start < 0 || end < start ? null : readme.slice(start + BEGIN.length, end).trim();
}

/** The README with `table` between the markers. */
export function withTable(readme: string, table: string): string {
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${BEGIN} ... ${END} section`);
  return `${readme.slice(0, start + BEGIN.length)}\n${table}\n${readme.slice(end)}`;
}
