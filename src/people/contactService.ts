import { contactsDecider, contactsStream, type ContactCommand } from '../../commands/contacts.ts';
import { NotFoundError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { isRegistered } from './registered.ts';
import { CONTACTS, contactDocId, type ContactDoc } from '../../projections/contacts.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { CommandHandler } from '../commandHandler.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { SealedField } from '../../commands/shared/sealed.ts';
import { sealPersonal } from '../privacy/personalData.ts';
import type { ShreddingKeys } from '../privacy/shreddingKeys.ts';

export interface Contact {
  userId: string;
  username: string;
  displayName: string;
  nickname: string | null;
  addedAt: string;
}

export interface BlockedUser {
  userId: string;
  username: string;
  blockedAt: string;
}

/** Contacts and blocks: the lookups the contacts decider needs, the command, then the collection as it now stands. */
export class ContactService {
  constructor(
    private readonly commands: CommandHandler,
    private readonly readStore: ReadStore,
    private readonly projections: Projections,
    /** The owners' data keys: nicknames are sealed before they are appended. */
    private readonly keys: ShreddingKeys,
  ) {}

  /** One page of the owner's contacts in the order they were added; `cursor` is the last page's `nextCursor`. */
  async list(
    ownerId: string,
    query: { cursor?: number | undefined; limit: number },
  ): Promise<{ contacts: Contact[]; nextCursor: number | null }> {
    const docs = await this.readStore
      .collection<ContactDoc>(CONTACTS)
      .find(
        { ownerId, isContact: true, ...(query.cursor !== undefined ? { addedPosition: { $gt: query.cursor } } : {}) },
        { sort: { addedPosition: 1 }, limit: query.limit + 1 },
      );
    const page = docs.slice(0, query.limit);
    return { contacts: await this.withUsers(page), nextCursor: docs.length > query.limit ? page.at(-1)!.addedPosition : null };
  }

  /** Adds a contact by id or username; `created` is false when they were already one. */
  async add(
    ownerId: string,
    input: { userId?: string | undefined; username?: string | undefined; nickname?: string | null | undefined },
    metadata: CommandMetadata,
  ): Promise<{ contact: Contact; created: boolean }> {
    const userId = input.userId ?? (await this.readStore.collection<UserDoc>(USERS).findOne({ username: input.username! }))?._id;
    if (!userId) throw new NotFoundError('User');
    const created = await this.run(ownerId, {
      type: 'AddContact',
      data: {
        ownerId,
        userId,
        nickname: await this.sealNickname(ownerId, input.nickname ?? null, metadata),
        userExists: await isRegistered(this.commands, userId),
      },
      metadata,
    });
    return { contact: await this.get(ownerId, userId), created };
  }

  async rename(ownerId: string, userId: string, nickname: string | null, metadata: CommandMetadata): Promise<Contact> {
    // The same nickname again is no change: sealed texts never compare equal, so the clear read model is asked.
    const current = await this.readStore.collection<ContactDoc>(CONTACTS).findOne({ _id: contactDocId(ownerId, userId) });
    if (!current?.isContact || current.nickname !== nickname)
      await this.run(ownerId, {
        type: 'RenameContact',
        data: { ownerId, userId, nickname: await this.sealNickname(ownerId, nickname, metadata) },
        metadata,
      });
    return this.get(ownerId, userId);
  }

  async remove(ownerId: string, userId: string, metadata: CommandMetadata): Promise<void> {
    await this.run(ownerId, { type: 'RemoveContact', data: { ownerId, userId }, metadata });
  }

  async blocked(ownerId: string): Promise<BlockedUser[]> {
    const docs = await this.readStore.collection<ContactDoc>(CONTACTS).find({ ownerId, blocked: true }, { sort: { _id: 1 } });
    const users = await this.users(docs.map((doc) => doc.userId));
    return docs.flatMap((doc) => {
      const user = users.get(doc.userId);
      return user ? [{ userId: doc.userId, username: user.username, blockedAt: doc.blockedAt! }] : [];
    });
  }

  async block(ownerId: string, userId: string, metadata: CommandMetadata): Promise<void> {
    await this.run(ownerId, {
      type: 'BlockUser',
      data: { ownerId, userId, userExists: await isRegistered(this.commands, userId) },
      metadata,
    });
  }

  async unblock(ownerId: string, userId: string, metadata: CommandMetadata): Promise<void> {
    await this.run(ownerId, { type: 'UnblockUser', data: { ownerId, userId }, metadata });
  }

  private async get(ownerId: string, userId: string): Promise<Contact> {
    const doc = await this.readStore.collection<ContactDoc>(CONTACTS).findOne({ _id: contactDocId(ownerId, userId) });
    if (!doc?.isContact) throw new NotFoundError('Contact');
    const [contact] = await this.withUsers([doc]);
    if (!contact) throw new NotFoundError('Contact');
    return contact;
  }

  private async withUsers(docs: readonly ContactDoc[]): Promise<Contact[]> {
    const users = await this.users(docs.map((doc) => doc.userId));
    return docs.flatMap((doc) => {
      const user = users.get(doc.userId);
      return user
        ? [{ userId: doc.userId, username: user.username, displayName: user.displayName, nickname: doc.nickname, addedAt: doc.addedAt! }]
        : [];
    });
  }

  private async users(ids: readonly string[]): Promise<Map<string, UserDoc>> {
    if (ids.length === 0) return new Map();
    return new Map((await this.readStore.collection<UserDoc>(USERS).find({ _id: { $in: [...ids] } })).map((user) => [user._id, user]));
  }

  private async sealNickname(ownerId: string, nickname: string | null, metadata: CommandMetadata): Promise<SealedField | null> {
    return nickname === null
      ? null
      : sealPersonal(this.keys, ownerId, nickname, { metadata, stream: contactsStream(ownerId), field: 'nickname' });
  }

  /** Runs the command and waits until its event is readable; false when it changed nothing. */
  private async run(ownerId: string, command: ContactCommand): Promise<boolean> {
    const result = await this.commands.handle(contactsDecider, contactsStream(ownerId), command);
    if (result.position !== null) await this.projections.waitFor(result.position);
    return result.position !== null;
  }
}
