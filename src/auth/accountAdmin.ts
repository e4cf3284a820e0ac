import { eventOf, type CommandMetadata } from '../../commands/shared/events.ts';
import { userDecider, userEventTypes, userStream, type UserEvent } from '../../commands/users.ts';
import { PRESENCE, type PresenceDoc } from '../../projections/presence.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { newId } from '../ids.ts';
import type { PresenceSession, PresenceSessions } from '../presence/presenceSessions.ts';
import type { ReadStore } from '../readstore/port.ts';

/** An operator's command (`npm run admin`): its acting user is `operator:<name>`, never a user of the app. */
export function operatorMetadata(operator: string, tool: string, now: Date): CommandMetadata {
  const correlationId = `operator:${tool}:${newId()}`;
  return { commandId: newId(), correlationId, causationId: correlationId, userId: `operator:${operator}`, now: now.toISOString() };
}

/** A user named by id, email or username (emails and usernames are stored lowercased); null when none matches. */
export async function findUser(readStore: ReadStore, ref: string): Promise<UserDoc | null> {
  const users = readStore.collection<UserDoc>(USERS);
  const lower = ref.trim().toLowerCase();
  return (
    (await users.findOne({ _id: ref.trim() })) ??
    (await users.findOne({ email: lower })) ??
    (await users.findOne({ username: ref.trim() })) ??
    (await users.findOne({ username: lower }))
  );
}

/**
 * Suspends or lifts a suspension: one event on the user's stream. The running servers see it within their
 * subscription's poll (about a second for another process's append): they close the user's sockets on every instance
 * and refuse the user's tokens (on the write side when the users projection is behind) and logins.
 * Returns the event's position, or null when there was nothing to do.
 */
export async function setSuspended(
  commands: CommandHandler,
  userId: string,
  suspend: boolean,
  reason: string,
  operator: string,
  now: Date,
): Promise<number | null> {
  const metadata = operatorMetadata(operator, suspend ? 'suspend' : 'unsuspend', now);
  const data = { userId, reason, operator };
  const result = suspend
    ? await commands.handle(userDecider, userStream(userId), { type: 'SuspendUser', data, metadata })
    : await commands.handle(userDecider, userStream(userId), { type: 'UnsuspendUser', data, metadata });
  return result.position;
}

export interface LiveToken {
  tokenId: string;
  issuedAt: string;
  expiresAt: string;
}

/** The user's tokens that could still be presented: issued (a login), not expired, not revoked (a logout). */
export async function liveTokens(commands: CommandHandler, userId: string, now: Date): Promise<LiveToken[]> {
  const tokens = new Map<string, LiveToken>();
  for (const recorded of await commands.readStream(userStream(userId))) {
    const event = eventOf<UserEvent>(userEventTypes, recorded);
    if (event.type === 'UserLoggedIn') {
      const { tokenId, loggedInAt, expiresAt } = event.data;
      tokens.set(tokenId, { tokenId, issuedAt: loggedInAt, expiresAt });
    } else if (event.type === 'UserLoggedOut') tokens.delete(event.data.tokenId);
  }
  return [...tokens.values()].filter((token) => Date.parse(token.expiresAt) > now.getTime());
}

export interface UserSockets {
  /** Each open socket, from the cluster's directory (PostgreSQL's presence sessions); null on the embedded stores, whose server keeps it in its memory. */
  sessions: PresenceSession[] | null;
  /** What the presence read model says: online since when, or offline. */
  presence: { status: 'online' | 'offline'; onlineSince: string | null };
}

export async function userSockets(
  readStore: ReadStore,
  presenceSessions: PresenceSessions,
  userId: string,
  now: Date,
): Promise<UserSockets> {
  const doc = await readStore.collection<PresenceDoc>(PRESENCE).findOne({ _id: userId });
  const sessions =
    presenceSessions.kind === 'postgres'
      ? (await presenceSessions.list()).filter((session) => session.userId === userId && Date.parse(session.expiresAt) > now.getTime())
      : null;
  return { sessions, presence: { status: doc?.status ?? 'offline', onlineSince: doc?.onlineSince ?? null } };
}

/**
 * Revokes each live token as a logout of it would (`UserLoggedOut`): the servers close the sockets opened with them,
 * on every instance, and refuse the tokens from then on. Returns the revoked token ids.
 */
export async function revokeTokens(
  commands: CommandHandler,
  userId: string,
  tokens: readonly LiveToken[],
  operator: string,
  now: Date,
): Promise<string[]> {
  const revoked: string[] = [];
  for (const token of tokens) {
    const result = await commands.handle(userDecider, userStream(userId), {
      type: 'LogUserOut',
      data: { userId, token: { tokenId: token.tokenId, expiresAt: token.expiresAt } },
      metadata: operatorMetadata(operator, 'revoke-sessions', now),
    });
    if (result.position !== null) revoked.push(token.tokenId);
  }
  return revoked;
}
