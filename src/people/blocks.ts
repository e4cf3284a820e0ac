import { blockedAmong, blockedEitherWay, CONTACTS, type ContactDoc } from '../../projections/contacts.ts';
import type { ReadStore } from '../readstore/port.ts';

/**
 * Who has blocked whom, from the `contacts` collection, for the checks a block implies: direct messages, group
 * adds, typing, receipts, presence and profile details, in both directions.
 */
export class Blocks {
  constructor(private readonly readStore: ReadStore) {}

  between(a: string, b: string): Promise<boolean> {
    return blockedEitherWay(this.readStore.collection<ContactDoc>(CONTACTS), a, b);
  }

  /** Of `userIds`, those with a block either way with `userId`. */
  among(userId: string, userIds: readonly string[]): Promise<Set<string>> {
    return blockedAmong(this.readStore.collection<ContactDoc>(CONTACTS), userId, userIds);
  }

  /** Of `userIds`, those who have blocked `userId` (one direction). */
  async blockersOf(userId: string, userIds: readonly string[]): Promise<string[]> {
    if (userIds.length === 0) return [];
    return (await this.readStore.collection<ContactDoc>(CONTACTS).find({ userId, blocked: true, ownerId: { $in: [...userIds] } })).map(
      (doc) => doc.ownerId,
    );
  }

  /** Whether `ownerId` blocked `userId` (one direction). */
  async hasBlocked(ownerId: string, userId: string): Promise<boolean> {
    return (await this.readStore.collection<ContactDoc>(CONTACTS).countDocuments({ ownerId, userId, blocked: true })) > 0;
  }
}
