import { CONTACTS, type ContactDoc } from '../../projections/contacts.ts';
import { CONVERSATIONS, type ConversationDoc } from '../../projections/conversations.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { Visibility } from '../../commands/users.ts';
import type { ReadStore } from '../readstore/port.ts';

/** What one viewer may see of one target's presence. */
export interface PresenceVisibility {
  online: boolean;
  lastSeen: boolean;
}

const HIDDEN: PresenceVisibility = { online: false, lastSeen: false };
const pairKey = (viewerId: string, targetId: string) => `${viewerId}>${targetId}`;

/**
 * Presence is shown only to the people who know the target: those who added them, those they added, and their
 * direct-conversation peers; never across a block, and group membership alone does not count (a presence change
 * must not fan out to every member of every group). Within that audience the target's `online` and `lastSeen`
 * settings decide (`contacts`: the people the target added), and reciprocity applies: a viewer who hides their own
 * online status or last seen sees no one else's. Computed for one viewer and many targets or the other way round,
 * with three queries whatever the count.
 */
export async function presenceVisibility(
  readStore: ReadStore,
  viewerIds: readonly string[],
  targetIds: readonly string[],
): Promise<Map<string, PresenceVisibility>> {
  const result = new Map<string, PresenceVisibility>();
  if (viewerIds.length === 0 || targetIds.length === 0) return result;
  const everyone = [...new Set([...viewerIds, ...targetIds])];
  const [users, contacts, conversations] = await Promise.all([
    readStore.collection<UserDoc>(USERS).find({ _id: { $in: everyone } }),
    readStore.collection<ContactDoc>(CONTACTS).find({ ownerId: { $in: everyone }, userId: { $in: everyone } }),
    readStore.collection<ConversationDoc>(CONVERSATIONS).find({ userId: { $in: [...viewerIds] }, peerId: { $in: [...targetIds] } }),
  ]);
  const privacy = new Map(users.map((user) => [user._id, user.privacy]));
  const contact = new Map(contacts.map((doc) => [pairKey(doc.ownerId, doc.userId), doc]));
  const peers = new Set(conversations.map((doc) => pairKey(doc.userId, doc.peerId!)));
  for (const viewerId of viewerIds) {
    for (const targetId of targetIds) {
      const key = pairKey(viewerId, targetId);
      const viewer = privacy.get(viewerId);
      const target = privacy.get(targetId);
      const viewersDoc = contact.get(key);
      const targetsDoc = contact.get(pairKey(targetId, viewerId));
      if (viewerId === targetId) {
        result.set(key, { online: true, lastSeen: true });
        continue;
      }
      if (!viewer || !target || viewersDoc?.blocked || targetsDoc?.blocked) {
        result.set(key, HIDDEN);
        continue;
      }
      const inTargetsContacts = targetsDoc?.isContact ?? false;
      const knows = inTargetsContacts || (viewersDoc?.isContact ?? false) || peers.has(key);
      const allows = (setting: Visibility) => knows && (setting === 'everyone' || (setting === 'contacts' && inTargetsContacts));
      result.set(key, {
        online: allows(target.online) && viewer.online !== 'nobody',
        lastSeen: allows(target.lastSeen) && viewer.lastSeen !== 'nobody',
      });
    }
  }
  return result;
}

export const visibilityOf = (map: Map<string, PresenceVisibility>, viewerId: string, targetId: string) =>
  map.get(pairKey(viewerId, targetId)) ?? HIDDEN;
