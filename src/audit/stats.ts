import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GROUPS } from '../../projections/groups.ts';
import { GROUP_MESSAGES, MESSAGES } from '../../projections/messageDocs.ts';
import { USERS } from '../../projections/users.ts';
import type { EventStore, RecordedEvent } from '../eventstore/port.ts';
import type { ReadStore } from '../readstore/port.ts';

export interface DeploymentStats {
  /** Registered users (the users read model), of whom suspended. */
  users: number;
  suspendedUsers: number;
  /** Messages kept, direct and group (deleted-for-everyone ones included: their record stays). */
  messages: number;
  groups: number;
  /** Events in the log (its head position on the embedded store, where positions have no gaps). */
  events: number;
  storage: { eventLogBytes: number | null; readStoreBytes: number | null; databaseBytes: number | null; mediaBytes: number };
  /**
   * What happened since `since` (24 h before now), read from the event log: messages sent (edits and deletions not
   * counted), users who logged in or did anything, logins (a registration's first session included).
   */
  last24h: { since: string; messagesSent: number; activeUsers: number; logins: number; events: number };
}

export interface StatsSources {
  eventStore: EventStore;
  readStore: ReadStore;
  /** Embedded stores: the STORAGE_DIR whose SQLite files (with their WALs) are measured. */
  storageDir: string | null;
  mediaDir: string;
  /** PostgreSQL: the size of the database, asked of the server. */
  databaseBytes?: () => Promise<number>;
}

const DAY_MS = 24 * 3_600_000;

/** Users, messages, groups, storage and the last 24 hours' activity of one deployment, for `npm run admin -- stats`. */
export async function deploymentStats(sources: StatsSources, now: Date): Promise<DeploymentStats> {
  const { eventStore, readStore } = sources;
  const count = (name: string, filter = {}) => readStore.collection(name).countDocuments(filter);
  const since = new Date(now.getTime() - DAY_MS).toISOString();
  const [users, suspendedUsers, direct, inGroups, groups, head] = await Promise.all([
    count(USERS),
    count(USERS, { 'suspended.at': { $exists: true } }),
    count(MESSAGES),
    count(GROUP_MESSAGES),
    count(GROUPS),
    eventStore.headPosition(),
  ]);
  const files = sources.storageDir ? await sqliteBytes(sources.storageDir) : null;
  return {
    users,
    suspendedUsers,
    messages: direct + inGroups,
    groups,
    events: head,
    storage: {
      eventLogBytes: files?.events ?? null,
      readStoreBytes: files?.read ?? null,
      databaseBytes: sources.databaseBytes ? await sources.databaseBytes() : null,
      mediaBytes: await directoryBytes(sources.mediaDir),
    },
    last24h: { since, ...(await activitySince(eventStore, since, head)) },
  };
}

/**
 * Reads only the tail of the log: the first event at or after `since` is found by bisecting positions (timestamps
 * grow with positions, as commands are stamped when accepted), so the cost follows the day's events, not the log's size.
 */
async function activitySince(eventStore: EventStore, since: string, head: number) {
  const firstAfter = async (position: number): Promise<RecordedEvent | null> =>
    (await eventStore.readAll({ after: position, maxCount: 1 }))[0] ?? null;
  let low = 0;
  let high = head;
  // Every event at or before `low` is older than `since`; every older one is at or before `high`.
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    const event = await firstAfter(middle);
    if (event && event.metadata.timestamp < since) low = event.position;
    else high = middle;
  }
  let messagesSent = 0;
  let logins = 0;
  let events = 0;
  const active = new Set<string>();
  for (let after = low; ;) {
    const batch = await eventStore.readAll({ after, maxCount: 1_000 });
    if (batch.length === 0) break;
    for (const event of batch) {
      if (event.metadata.timestamp < since) continue;
      events++;
      if (event.type === 'MessageSent') messagesSent++;
      // A login is anonymous (no acting user): its user is in the event.
      if (event.type === 'UserLoggedIn') {
        logins++;
        active.add((event.data as { userId: string }).userId);
      }
      // Operators act as `operator:<name>`: not users of the app.
      const { userId } = event.metadata;
      if (userId && !userId.startsWith('operator:')) active.add(userId);
    }
    after = batch[batch.length - 1]!.position;
  }
  return { messagesSent, activeUsers: active.size, logins, events };
}

async function sqliteBytes(storageDir: string): Promise<{ events: number; read: number }> {
  const size = async (file: string) => (await stat(join(storageDir, file)).catch(() => null))?.size ?? 0;
  const of = async (name: string) =>
    (await Promise.all(['', '-wal', '-shm'].map((suffix) => size(`${name}${suffix}`)))).reduce((a, b) => a + b, 0);
  return { events: await of('events.sqlite'), read: await of('read.sqlite') };
}

async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name)).catch(() => null))?.size ?? 0;
  }
  return total;
}
