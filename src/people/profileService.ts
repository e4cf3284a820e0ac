import { NotFoundError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import {
  userDecider,
  userStream,
  type AiPreferences,
  type PrivacySettings,
  type ProfileChanges,
  type UserCommand,
} from '../../commands/users.ts';
import { USERS, type PublishedKey, type UserDoc } from '../../projections/users.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { deriveId } from '../ids.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { Blocks } from './blocks.ts';
import { sealPersonal } from '../privacy/personalData.ts';
import type { ShreddingKeys } from '../privacy/shreddingKeys.ts';
import { relationship, sees } from './visibility.ts';

/** A user's own profile, all of it. */
export interface OwnProfile {
  id: string;
  username: string;
  email: string;
  displayName: string;
  about: string;
  privacy: PrivacySettings;
  ai: AiPreferences;
  avatarMediaId: string | null;
  /** Public keys for end-to-end encryption, oldest first: the last not retired is the one to encrypt to. */
  encryptionKeys: PublishedKey[];
  createdAt: string;
  isBot: boolean;
  /** On a bot account: its owner. */
  bot?: { ownerId: string };
}

/** Another user, as the viewer may see them: `about` is null when their settings or a block hide it. */
export interface UserProfile {
  id: string;
  username: string;
  displayName: string;
  about: string | null;
  /** The profile picture (GET /api/media/{id}?size=), null when none or hidden. */
  avatarMediaId: string | null;
  /** Public, like any public key: encrypt to the last not retired; older ones open older messages. */
  encryptionKeys: PublishedKey[];
  createdAt: string;
  /** The viewer has them as a contact. */
  isContact: boolean;
  /** The viewer has blocked them. */
  blocked: boolean;
  isBot: boolean;
  /** On a bot account: its owner. */
  bot?: { ownerId: string };
}

/** A bot account's marks, on every profile: `isBot`, and its owner. */
const botMarks = (doc: UserDoc): { isBot: boolean; bot?: { ownerId: string } } =>
  doc.bot ? { isBot: true, bot: { ownerId: doc.bot.ownerId } } : { isBot: false };

const SEARCH_LIMIT = 20;

export const toOwnProfile = (doc: UserDoc): OwnProfile => ({
  id: doc._id,
  username: doc.username,
  email: doc.email,
  displayName: doc.displayName,
  about: doc.about,
  privacy: doc.privacy,
  ai: doc.ai,
  avatarMediaId: doc.avatarMediaId,
  encryptionKeys: doc.encryptionKeys ?? [],
  createdAt: doc.createdAt,
  ...botMarks(doc),
});

/** Profiles and privacy settings: one event per change, joined where they are read, never copied elsewhere. */
export class ProfileService {
  constructor(
    private readonly commands: CommandHandler,
    private readonly readStore: ReadStore,
    private readonly projections: Projections,
    private readonly blocks: Blocks,
    /** The users' data keys: the display name and about text are sealed before they are appended. */
    private readonly keys: ShreddingKeys,
  ) {}

  async own(userId: string): Promise<OwnProfile> {
    return toOwnProfile(await this.require(userId));
  }

  /** Applies profile changes and privacy changes (one event each, none when nothing changes). */
  async update(
    userId: string,
    input: { displayName?: string | undefined; about?: string | undefined; ai?: AiPreferences | undefined } & {
      privacy?: Partial<PrivacySettings> | undefined;
    },
    metadata: CommandMetadata,
  ): Promise<OwnProfile> {
    const { privacy, displayName, about, ai } = input;
    // Privacy first: a new about text set together with a narrower audience never reaches the wider one.
    if (privacy)
      await this.run(userId, {
        type: 'ChangePrivacySettings',
        data: { userId, privacy },
        metadata: { ...metadata, commandId: deriveId(metadata.commandId, 'privacy') },
      });
    // Sealed texts never compare equal: the ones that did not change are left out here, against the clear read model.
    const current = await this.require(userId);
    const stream = userStream(userId);
    const seal = (text: string | undefined, was: string, field: string) =>
      text === undefined || text === was ? undefined : sealPersonal(this.keys, userId, text, { metadata, stream, field });
    const changes: ProfileChanges = {
      displayName: await seal(displayName, current.displayName, 'changes.displayName'),
      about: await seal(about, current.about, 'changes.about'),
      ai,
    };
    if (Object.values(changes).some((value) => value !== undefined)) {
      await this.run(userId, { type: 'UpdateProfile', data: { userId, changes }, metadata });
    }
    return this.own(userId);
  }

  async setAvatar(userId: string, mediaId: string, metadata: CommandMetadata): Promise<OwnProfile> {
    await this.run(userId, {
      type: 'SetAvatar',
      data: { userId, mediaId },
      metadata: { ...metadata, commandId: deriveId(metadata.commandId, 'avatar') },
    });
    return this.own(userId);
  }

  async removeAvatar(userId: string, metadata: CommandMetadata): Promise<void> {
    await this.run(userId, { type: 'RemoveAvatar', data: { userId }, metadata });
  }

  /** Stops others encrypting to one of the user's keys; it stays listed for the messages already encrypted with it. */
  async retireKey(userId: string, keyId: string, metadata: CommandMetadata): Promise<OwnProfile> {
    await this.run(userId, { type: 'RetireEncryptionKey', data: { userId, keyId }, metadata });
    return this.own(userId);
  }

  /** Publishes a public key for end-to-end encryption; the same key under the same id again changes nothing. */
  async publishKey(userId: string, key: { keyId: string; publicKey: string }, metadata: CommandMetadata): Promise<OwnProfile> {
    await this.run(userId, { type: 'PublishEncryptionKey', data: { userId, ...key }, metadata });
    return this.own(userId);
  }

  async view(viewerId: string, targetId: string): Promise<UserProfile> {
    const target = await this.readStore.collection<UserDoc>(USERS).findOne({ _id: targetId });
    if (!target) throw new NotFoundError('User');
    const rel = await relationship(this.readStore, viewerId, targetId);
    return {
      id: target._id,
      username: target.username,
      displayName: target.displayName,
      createdAt: target.createdAt,
      about: sees(target.privacy.about, rel) ? target.about : null,
      avatarMediaId: sees(target.privacy.avatar, rel) ? target.avatarMediaId : null,
      encryptionKeys: target.encryptionKeys ?? [],
      isContact: rel.viewerAddedTarget,
      blocked: rel.viewerBlocked,
      ...botMarks(target),
    };
  }

  /** Users whose username starts with `prefix` (never by email: no way to learn who has an account by address). */
  async search(viewerId: string, prefix: string): Promise<Array<{ id: string; username: string; displayName: string; isBot: boolean }>> {
    const found = await this.readStore
      .collection<UserDoc>(USERS)
      .find({ username: { $gte: prefix, $lt: `${prefix}\uffff` } }, { sort: { username: 1 }, limit: SEARCH_LIMIT + 1 });
    const others = found.filter((user) => user._id !== viewerId);
    const blocked = await this.blocks.among(
      viewerId,
      others.map((user) => user._id),
    );
    return others
      .filter((user) => !blocked.has(user._id))
      .slice(0, SEARCH_LIMIT)
      .map((user) => ({ id: user._id, username: user.username, displayName: user.displayName, isBot: user.bot !== undefined }));
  }

  private async run(userId: string, command: UserCommand): Promise<void> {
    const result = await this.commands.handle(userDecider, userStream(userId), command);
    if (result.position !== null) await this.projections.waitFor(result.position);
  }

  private async require(userId: string): Promise<UserDoc> {
    const doc = await this.readStore.collection<UserDoc>(USERS).findOne({ _id: userId });
    if (!doc) throw new NotFoundError('User');
    return doc;
  }
}
