import type { GroupDoc } from '../../projections/groups.ts';

/**
 * The one rule of who may register (and keep receiving) a webhook for a group: one of its admins (the owner
 * included). A webhook whose owner stops being an admin, or leaves, stops delivering; this is asked at registration,
 * when the webhook is re-enabled, when an event is planned and before each attempt.
 *
 * Bot accounts (being built alongside): a bot that is a member will be allowed here too, and only here.
 */
export function mayWatchGroup(group: Pick<GroupDoc, 'members'> | null, userId: string): boolean {
  if (!group) return false;
  return group.members.some((member) => member.userId === userId && (member.role === 'owner' || member.role === 'admin'));
}
