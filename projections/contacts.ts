import type { ContactEvent } from '../commands/contacts.ts';
import { contactEventTypes } from '../commands/contacts.ts';
import { assertNever, eventOf } from '../commands/shared/events.ts';
import { textOf, type SealedText } from '../commands/shared/sealed.ts';
import type { AccountDeleted } from '../commands/users.ts';
import type { ProjectedDoc, Projector, Unpositioned } from '../src/projection/projector.ts';
import type { Collection } from '../src/readstore/port.ts';

/**
 * `contacts`: one document per (owner, other user) the owner added or blocked. Projectors that run after this one
 * read it as of each event: a direct message sent after a block never reaches the blocker, whatever the race.
 */
export interface ContactDoc extends ProjectedDoc {
  ownerId: string;
  userId: string;
  isContact: boolean;
  nickname: string | null;
  addedAt: string | null;
  /** The position of the ContactAdded: the list's order and cursor. */
  addedPosition: number | null;
  blocked: boolean;
  blockedAt: string | null;
}

export const CONTACTS = 'contacts';
export const contactDocId = (ownerId: string, userId: string) => `${ownerId}:${userId}`;

const blank = (ownerId: string, userId: string): Unpositioned<ContactDoc> => ({
  _id: contactDocId(ownerId, userId),
  ownerId,
  userId,
  isContact: false,
  nickname: null,
  addedAt: null,
  addedPosition: null,
  blocked: false,
  blockedAt: null,
});

/**
 * Whether either of the two has blocked the other: one read of at most two documents by id, which a projection batch
 * answers from what it holds after the first (a direct message asks three times: its document, its search entry, the feed).
 */
export async function blockedEitherWay(contacts: Collection<ContactDoc>, a: string, b: string): Promise<boolean> {
  return (await contacts.find({ _id: { $in: [contactDocId(a, b), contactDocId(b, a)] } })).some((contact) => contact.blocked);
}

/** Of `userIds`, those who blocked `userId` or whom `userId` blocked. */
export async function blockedAmong(contacts: Collection<ContactDoc>, userId: string, userIds: readonly string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const [theirs, mine] = await Promise.all([
    contacts.find({ userId, blocked: true, ownerId: { $in: [...userIds] } }),
    contacts.find({ ownerId: userId, blocked: true, userId: { $in: [...userIds] } }),
  ]);
  return new Set([...theirs.map((doc) => doc.ownerId), ...mine.map((doc) => doc.userId)]);
}

/** A nickname as the read model keeps it: in clear, or the erased marker once the owner's data key is gone. */
const nicknameOf = (nickname: SealedText | null): string | null => (nickname === null ? null : textOf(nickname));

export const contactsProjector: Projector = {
  name: CONTACTS,
  collections: {
    [CONTACTS]: [
      { key: { ownerId: 1, isContact: 1, addedPosition: 1 } },
      { key: { ownerId: 1, blocked: 1 } },
      { key: { userId: 1, blocked: 1 } },
    ],
  },
  handles: new Set([...contactEventTypes, 'AccountDeleted']),
  async apply(recorded, context) {
    // A deleted account's address book and block list go with it.
    if (recorded.type === 'AccountDeleted') {
      const { userId } = recorded.data as AccountDeleted['data'];
      return context.projectMany<ContactDoc>(CONTACTS, { ownerId: userId }, recorded, () => null);
    }
    const event = eventOf<ContactEvent>(contactEventTypes, recorded);
    const { ownerId, userId } = event.data;
    const id = contactDocId(ownerId, userId);
    // A document neither a contact nor blocked says nothing: it is removed rather than kept empty.
    const orNothing = (doc: Unpositioned<ContactDoc>) => (doc.isContact || doc.blocked ? doc : null);
    switch (event.type) {
      case 'ContactAdded':
        return context.project<ContactDoc>(CONTACTS, id, recorded, (doc) => ({
          ...(doc ?? blank(ownerId, userId)),
          isContact: true,
          nickname: nicknameOf(event.data.nickname),
          addedAt: event.data.at,
          addedPosition: recorded.position,
        }));
      case 'ContactRenamed':
        return context.project<ContactDoc>(CONTACTS, id, recorded, (doc) => doc && { ...doc, nickname: nicknameOf(event.data.nickname) });
      case 'ContactRemoved':
        return context.project<ContactDoc>(
          CONTACTS,
          id,
          recorded,
          (doc) => doc && orNothing({ ...doc, isContact: false, nickname: null, addedAt: null, addedPosition: null }),
        );
      case 'UserBlocked':
        return context.project<ContactDoc>(CONTACTS, id, recorded, (doc) => ({
          ...(doc ?? blank(ownerId, userId)),
          blocked: true,
          blockedAt: event.data.at,
        }));
      case 'UserUnblocked':
        return context.project<ContactDoc>(CONTACTS, id, recorded, (doc) => doc && orNothing({ ...doc, blocked: false, blockedAt: null }));
      default:
        return assertNever(event);
    }
  },
};
