import type { GroupDoc } from '../../projections/groups.ts';
import { GROUPS } from '../../projections/groups.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { ReadStore } from '../readstore/port.ts';

/**
 * The one rule of who may register (and keep receiving) a webhook for a group: one of its admins (the owner
 * included), or a bot account that is a member (a bot is added to a group to hear it). A webhook whose owner stops
 * qualifying (demoted, removed, left) stops delivering; this is asked at registration, when the webhook is re-enabled,
 * when an event is planned and before each attempt.
 */
export function mayWatchGroup(group: Pick<GroupDoc, 'members'> | null, userId: string, isBot: boolean): boolean {
  const member = group?.members.find((entry) => entry.userId === userId);
  if (!member) return false;
  return member.role === 'owner' || member.role === 'admin' || isBot;
}

/** mayWatchGroup with the group and the user read from the read store. */
export async function userMayWatchGroup(readStore: ReadStore, groupId: string, userId: string): Promise<boolean> {
  const group = await readStore.collection<GroupDoc>(GROUPS).findOne({ _id: groupId });
  if (!group) return false;
  return mayWatchGroup(group, userId, await isBotAccount(readStore, userId));
}

export async function isBotAccount(readStore: ReadStore, userId: string): Promise<boolean> {
  const user = await readStore.collection<UserDoc>(USERS).findOne({ _id: userId });
  return user?.bot !== undefined;
}
