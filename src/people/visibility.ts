import type { Visibility } from '../../commands/users.ts';
import { CONTACTS, contactDocId, type ContactDoc } from '../../projections/contacts.ts';
import type { ReadStore } from '../readstore/port.ts';

/** How a viewer stands to a target user: what decides which of the target's details they see. */
export interface Relationship {
  self: boolean;
  /** The target added the viewer as a contact: "contacts" visibility is the target's choice of people. */
  inTargetsContacts: boolean;
  /** The viewer added the target. */
  viewerAddedTarget: boolean;
  /** The viewer blocked the target. */
  viewerBlocked: boolean;
  /** Either blocked the other: every detail is hidden both ways. */
  blocked: boolean;
}

export async function relationship(readStore: ReadStore, viewerId: string, targetId: string): Promise<Relationship> {
  if (viewerId === targetId) return { self: true, inTargetsContacts: true, viewerAddedTarget: false, viewerBlocked: false, blocked: false };
  const docs = await readStore
    .collection<ContactDoc>(CONTACTS)
    .find({ _id: { $in: [contactDocId(viewerId, targetId), contactDocId(targetId, viewerId)] } });
  const viewers = docs.find((doc) => doc.ownerId === viewerId);
  const targets = docs.find((doc) => doc.ownerId === targetId);
  return {
    self: false,
    inTargetsContacts: targets?.isContact ?? false,
    viewerAddedTarget: viewers?.isContact ?? false,
    viewerBlocked: viewers?.blocked ?? false,
    blocked: (viewers?.blocked ?? false) || (targets?.blocked ?? false),
  };
}

/** Whether a detail the target shows to `visibility` reaches this viewer. */
export function sees(visibility: Visibility, rel: Relationship): boolean {
  if (rel.self) return true;
  if (rel.blocked) return false;
  return visibility === 'everyone' || (visibility === 'contacts' && rel.inTargetsContacts);
}
