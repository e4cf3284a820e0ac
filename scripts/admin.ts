/**
 * Operator tool for accounts and the deployment's figures; reaches the stores the server uses (embedded STORAGE_DIR,
 * or DATABASE_URL), beside a running server.
 *   npm run admin -- suspend <user> --reason "..."      (closes the user's sockets, refuses login and tokens)
 *   npm run admin -- unsuspend <user> --reason "..."
 *   npm run admin -- sessions <user> [--revoke]          (live tokens and sockets; --revoke logs every token out)
 *   npm run admin -- stats [--json]                      (users, messages, groups, storage, last 24 h)
 * `<user>` is a username, an email or an id. Each change is an event whose acting user is `operator:<--operator>`.
 */
import { userInfo } from 'node:os';
import { eventUpcaster } from '../commands/upcasters.ts';
import { findUser, liveTokens, revokeTokens, setSuspended, userSockets } from '../src/auth/accountAdmin.ts';
import { deploymentStats } from '../src/audit/stats.ts';
import { CommandHandler } from '../src/commandHandler.ts';
import { loadConfig } from '../src/config.ts';
import { createPool, schemaOf } from '../src/postgres/connection.ts';
import { openEventStore, openPresenceSessions, openReadStore } from '../src/stores.ts';
import { parseScriptArgs } from './lib/args.ts';

const USAGE = `Usage:
  npm run admin -- suspend <user> --reason <text> [--operator <name>]
  npm run admin -- unsuspend <user> --reason <text> [--operator <name>]
  npm run admin -- sessions <user> [--revoke] [--operator <name>] [--json]
  npm run admin -- stats [--json]
<user> is a username, an email or a user id. --operator defaults to the login name running the command.`;

process.umask(0o077);
const { values, positionals, fail } = parseScriptArgs(
  USAGE,
  {
    reason: { type: 'string' },
    operator: { type: 'string', default: safeLoginName() },
    revoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
  { positionals: true },
);
const [action, ref, ...extra] = positionals;
const needsUser = action === 'suspend' || action === 'unsuspend' || action === 'sessions';
if (!action || !(needsUser || action === 'stats')) fail(action ? `Unknown action: ${action}` : 'Name an action.');
if (needsUser && !ref) fail(`${action} needs a user (a username, an email or an id).`);
if (extra.length > 0 || (action === 'stats' && ref)) fail(`Unexpected argument: ${action === 'stats' ? ref : extra[0]}`);
if ((action === 'suspend' || action === 'unsuspend') && !values.reason?.trim())
  fail(`${action} needs --reason <text> (it is recorded in the event).`);
if (values.revoke && action !== 'sessions') fail('--revoke goes with sessions.');
if (values.reason !== undefined && action !== 'suspend' && action !== 'unsuspend') fail('--reason goes with suspend and unsuspend.');
if (!values.operator.trim()) fail('--operator needs a name.');

const config = loadConfig();
const eventStore = await openEventStore(config);
const readStore = await openReadStore(config, { checkpoints: false });
const now = new Date();
try {
  const commands = new CommandHandler(eventStore, eventUpcaster);
  if (action === 'stats') {
    const pool = config.database ? createPool(config.database) : null;
    try {
      const stats = await deploymentStats(
        {
          eventStore,
          readStore,
          storageDir: config.database || config.eventStoreConnectionString ? null : config.storageDir,
          mediaDir: config.mediaDir,
          databaseBytes:
            pool && config.database
              ? async () =>
                  Number(
                    (
                      await pool.query<{ bytes: string }>(
                        `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::text AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
                        [schemaOf(config.database!)],
                      )
                    ).rows[0]!.bytes,
                  )
              : undefined,
        },
        now,
      );
      console.log(
        values.json
          ? JSON.stringify(stats, null, 2)
          : [
              `users ${stats.users} (${stats.suspendedUsers} suspended), messages ${stats.messages}, groups ${stats.groups}, events ${stats.events}`,
              `storage: ${Object.entries(stats.storage)
                .filter(([, bytes]) => bytes !== null)
                .map(([name, bytes]) => `${name} ${bytes}`)
                .join(', ')}`,
              `since ${stats.last24h.since}: ${stats.last24h.messagesSent} messages sent, ${stats.last24h.activeUsers} active users, ${stats.last24h.logins} logins, ${stats.last24h.events} events`,
            ].join('\n'),
      );
    } finally {
      await pool?.end();
    }
  } else {
    const user = await findUser(readStore, ref!);
    if (!user) {
      console.error(`No user ${JSON.stringify(ref)} (by id, email or username).`);
      process.exitCode = 1;
    } else if (action === 'sessions') {
      const tokens = await liveTokens(commands, user._id, now);
      const revoked = values.revoke ? await revokeTokens(commands, user._id, tokens, values.operator, now) : [];
      const presenceSessions = await openPresenceSessions(config);
      const sockets = await userSockets(readStore, presenceSessions, user._id, now).finally(() => presenceSessions.close());
      if (values.json)
        console.log(
          JSON.stringify({ user: { id: user._id, username: user.username, email: user.email }, tokens, sockets, revoked }, null, 2),
        );
      else {
        console.log(`${user.username} <${user.email}> (${user._id})${user.suspended ? `, suspended since ${user.suspended.at}` : ''}`);
        console.log(
          `${tokens.length} live token(s)${tokens.map((token) => `\n  ${token.tokenId} issued ${token.issuedAt}, expires ${token.expiresAt}`).join('')}`,
        );
        console.log(
          sockets.sessions === null
            ? `sockets: ${sockets.presence.status}${sockets.presence.onlineSince ? ` since ${sockets.presence.onlineSince}` : ''} (each socket is listed with DATABASE_URL only)`
            : `${sockets.sessions.length} open socket(s)${sockets.sessions.map((s) => `\n  connection ${s.connectionId} on instance ${s.instanceId}, opened ${s.openedAt}`).join('')}`,
        );
        if (values.revoke) console.log(`Revoked ${revoked.length} token(s): their sockets close on every instance within about a second.`);
      }
    } else {
      const suspend = action === 'suspend';
      const position = await setSuspended(commands, user._id, suspend, values.reason!.trim(), values.operator.trim(), now);
      console.log(
        position === null
          ? `Nothing to do: ${user.username} was already ${suspend ? 'suspended' : 'not suspended'}.`
          : `${user.username} (${user._id}) ${suspend ? 'suspended: sockets close and tokens are refused within about a second' : 'unsuspended: may log in again'} (event at position ${position}).`,
      );
    }
  }
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
} finally {
  await readStore.close();
  await eventStore.close();
}

function safeLoginName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'operator';
  }
}
