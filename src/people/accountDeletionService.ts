import { groupDecider, groupStream, type GroupState } from '../../commands/groups.ts';
import { messageDecider, messageStream } from '../../commands/messages.ts';
import { isSealed } from '../../commands/shared/sealed.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { userDecider, userStream, type DeletedMessages, type UserRegistered } from '../../commands/users.ts';
import { GROUPS, type GroupDoc } from '../../projections/groups.ts';
import { GROUP_MESSAGES, MESSAGES, type MessageDoc } from '../../projections/messageDocs.ts';
import { MEDIA_FILES, type MediaDoc } from '../../projections/mediaFiles.ts';
import { ACCOUNT_DELETIONS, botEmail, USERS, type AccountDeletionDoc, type UserDoc } from '../../projections/users.ts';
import type { BotCreated } from '../../commands/bots.ts';
import type { AiService } from '../ai/aiService.ts';
import type { AuthService } from '../auth/authService.ts';
import type { PasswordHasher } from '../auth/passwords.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { deriveId } from '../ids.ts';
import type { Logger } from 'pino';
import type { MediaService } from '../media/mediaService.ts';
import { revealEvent } from '../privacy/sealing.ts';
import { messageKeyId, userKeyId, type ShreddingKeys } from '../privacy/shreddingKeys.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import { MAX_TIMER_MS } from '../timers.ts';
import { NotFoundError } from '../../commands/shared/errors.ts';
import { AiBusyError } from '../../commands/ai.ts';

export interface AccountDeletionDeps {
  commands: CommandHandler;
  readStore: ReadStore;
  projections: Projections;
  keys: ShreddingKeys;
  passwords: PasswordHasher;
  auth: AuthService;
  media: MediaService;
  ai: AiService;
  logger: Logger;
  clock: () => Date;
  /** The confirmation window (ACCOUNT_DELETION_GRACE_HOURS): 0 deletes at once. */
  graceMs: number;
  /** Checks for due deletions at least this often (a deadline set by another instance is found by the next check). */
  sweepIntervalMs?: number;
}

export type DeletionOutcome = { status: 'deleted' } | { status: 'scheduled'; deleteAfter: string };

/**
 * Deleting an account (DELETE /api/users/me). The order makes a crash safe: the AccountDeleted is appended first (from
 * then on the account is gone for every reader: no document, no token, no login), then the erasing follows (claims
 * released, media, Leta's history and key, the messages' keys when erased, the user's data key last), then AccountErased.
 * A deletion between the two is in `account_deletions` as `deleting` and is finished again at start and by the sweeper:
 * every step is idempotent, and nothing personal is served meanwhile (the read models dropped it at the AccountDeleted).
 */
export class AccountDeletionService {
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly deps: AccountDeletionDeps) {}

  /** With the password: deletes now, or schedules the deletion when there is a confirmation window. */
  async request(
    userId: string,
    password: string,
    messages: DeletedMessages,
    client: string,
    metadata: CommandMetadata,
  ): Promise<DeletionOutcome> {
    const user = await this.deps.readStore.collection<UserDoc>(USERS).findOne({ _id: userId });
    const passwordVerified =
      user !== null && (await this.deps.passwords.verify(password, { hash: user.passwordHash, scheme: user.passwordScheme }, client));
    if (this.deps.graceMs === 0) {
      await this.deps.commands.handle(userDecider, userStream(userId), {
        type: 'DeleteAccount',
        data: { userId, passwordVerified, messages },
        metadata,
      });
      await this.finish(userId, metadata);
      return { status: 'deleted' };
    }
    const deleteAfter = new Date(Date.parse(metadata.now) + this.deps.graceMs).toISOString();
    const result = await this.deps.commands.handle(userDecider, userStream(userId), {
      type: 'ScheduleAccountDeletion',
      data: { userId, passwordVerified, messages, deleteAfter },
      metadata,
    });
    if (result.position !== null) await this.deps.projections.waitFor(result.position);
    this.arm();
    const state = result.state;
    return {
      status: 'scheduled',
      deleteAfter: state.status === 'registered' ? (state.deletionScheduled?.deleteAfter ?? deleteAfter) : deleteAfter,
    };
  }

  /**
   * Deletes now, without a password or a window: a bot account, by its owner (src/auth/botService.ts checked that).
   * Its messages stay with the people who received them.
   */
  async deleteBot(botId: string, metadata: CommandMetadata): Promise<void> {
    await this.deps.commands.handle(userDecider, userStream(botId), {
      type: 'DeleteAccount',
      data: { userId: botId, passwordVerified: true, messages: 'keep' },
      metadata,
    });
    await this.finish(botId, metadata);
  }

  /** Calls off a scheduled deletion (nothing when none is scheduled). */
  async cancel(userId: string, metadata: CommandMetadata): Promise<void> {
    const result = await this.deps.commands.handle(userDecider, userStream(userId), {
      type: 'CancelAccountDeletion',
      data: { userId, by: 'request' },
      metadata,
    });
    if (result.position !== null) await this.deps.projections.waitFor(result.position);
  }

  /** Finishes deletions left half-done by a crash, and deletes the scheduled ones that are due; then keeps checking. */
  async start(): Promise<void> {
    await this.sweep();
    this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.sweeping;
  }

  /** Runs the due deletions and the unfinished ones. */
  sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const now = this.deps.clock().toISOString();
    const pending = await this.deps.readStore
      .collection<AccountDeletionDoc>(ACCOUNT_DELETIONS)
      .find({ deleteAfter: { $lte: now } }, { sort: { deleteAfter: 1 }, limit: 100 });
    for (const doc of pending) {
      if (this.stopped) return;
      const metadata: CommandMetadata = {
        commandId: deriveId('account-deletion', doc._id, doc.status, doc.deleteAfter),
        correlationId: deriveId('account-deletion', doc._id),
        causationId: deriveId('account-deletion', doc._id),
        userId: doc._id,
        now,
      };
      try {
        if (doc.status === 'scheduled')
          await this.deps.commands.handle(userDecider, userStream(doc._id), {
            type: 'DeleteScheduledAccount',
            data: { userId: doc._id },
            metadata,
          });
        await this.finish(doc._id, metadata);
      } catch (error) {
        this.deps.logger.error({ err: error, userId: doc._id }, 'an account deletion could not be finished; retried on the next check');
      }
    }
  }

  /** Checks again at the next scheduled deadline, and at least every sweepIntervalMs. */
  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.min(this.deps.sweepIntervalMs ?? 60_000, MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.sweep().finally(() => this.arm());
    }, delay);
    this.timer.unref();
  }

  /**
   * Everything after the AccountDeleted, each step idempotent: run again after a crash, it completes what is missing.
   * Nothing when the account is not deleted (a scheduled deletion that was cancelled).
   */
  private async finish(userId: string, metadata: CommandMetadata): Promise<void> {
    const { commands, keys } = this.deps;
    const stream = userStream(userId);
    const { state } = await commands.load(userDecider, stream);
    if (state.status !== 'deleted' || state.erased) return;
    const step = (name: string, ...parts: string[]): CommandMetadata => ({
      ...metadata,
      commandId: deriveId(metadata.commandId, 'erase', name, ...parts),
    });

    // The email and username, opened from the registration while the data key still exists: their claims are released.
    const history = await commands.readStream(stream);
    const registration = history.find((event) => event.type === 'UserRegistered');
    // A bot's claims: its username, and the stand-in email that keeps anyone from registering with it.
    const botCreated = history.find((event) => event.type === 'BotCreated');
    if (botCreated) {
      const { username } = (await revealEvent(botCreated, keys)).data as BotCreated['data'];
      if (!isSealed(username) && typeof username !== 'string')
        await this.deps.auth.releaseIdentities(userId, { email: botEmail(userId), username: username.plain }, step('claims'));
    }
    if (registration) {
      const { data } = await revealEvent(registration, keys);
      const { email, username } = data as UserRegistered['data'];
      if (!isSealed(email) && !isSealed(username) && typeof email !== 'string' && typeof username !== 'string')
        await this.deps.auth.releaseIdentities(userId, { email: email.plain, username: username.plain }, step('claims'));
    }

    if (state.messages === 'erase') {
      for (const collection of [MESSAGES, GROUP_MESSAGES]) {
        // A scan by sender (no index: deletions are rare), a page at a time.
        const sent = await this.deps.readStore.collection<MessageDoc>(collection).find({ senderId: userId });
        for (const message of sent) {
          const messageId = message._id;
          await commands.handle(messageDecider, messageStream(messageId), {
            type: 'DeleteMessage',
            data: { messageId, actorId: userId, scope: 'everyone', actorIsParticipant: true },
            metadata: step('message', messageId),
          });
          await keys.destroy(messageKeyId(messageId));
        }
      }
    }

    // Out of every group, through the group decider as the user themself (so the members get group.updated).
    const groups = await this.deps.readStore.collection<GroupDoc>(GROUPS).find({ memberIds: userId });
    for (const group of groups) await this.leaveGroup(userId, group._id, step);

    // Their bots go with them: a bot acts for its owner, and nobody would be left to manage it. A bot whose own erasing
    // a crash cut short is no longer listed here, but is `deleting` in account_deletions: the sweeper finishes it.
    const bots = await this.deps.readStore.collection<UserDoc>(USERS).find({ 'bot.ownerId': userId });
    for (const bot of bots) await this.deleteBot(bot._id, step('bot', bot._id));

    const media = await this.deps.readStore.collection<MediaDoc>(MEDIA_FILES).find({ ownerId: userId, state: 'live' });
    for (const file of media) {
      try {
        await this.deps.media.delete(userId, file._id, step('media', file._id));
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
      }
    }
    // Leta's history and the user's own Gemini key (a reply still being written is failed at the next start).
    try {
      await this.deps.ai.clearHistory(userId, step('ai-history'));
    } catch (error) {
      if (!(error instanceof AiBusyError)) throw error;
    }
    await this.deps.ai.removeKey(userId, step('ai-key'));

    // Last, the data key: every personal field the log holds of them is unreadable from here on.
    await keys.destroy(userKeyId(userId));
    const result = await commands.handle(userDecider, stream, { type: 'RecordAccountErased', data: { userId }, metadata: step('erased') });
    if (result.position !== null) await this.deps.projections.waitFor(result.position);
  }

  /**
   * An owner first hands the group over (an owner cannot leave): to the longest-standing admin, else the longest-standing
   * member. An owner alone in the group stays its only member (nobody is left to see it). Each step is idempotent.
   */
  private async leaveGroup(userId: string, groupId: string, step: (name: string, ...parts: string[]) => CommandMetadata): Promise<void> {
    const { commands } = this.deps;
    const stream = groupStream(groupId);
    const { state } = await commands.load(groupDecider, stream);
    if (state.status !== 'active' || !state.members.has(userId)) return;
    if (state.ownerId === userId) {
      const successor = successorOf(state, userId);
      if (successor === null) return;
      await commands.handle(groupDecider, stream, {
        type: 'TransferOwnership',
        data: { groupId, actorId: userId, toUserId: successor },
        metadata: step('group-owner', groupId),
      });
    }
    await commands.handle(groupDecider, stream, {
      type: 'RemoveMember',
      data: { groupId, actorId: userId, userId },
      metadata: step('group-leave', groupId),
    });
  }
}

/** Who takes over a group from a departing owner: the longest-standing admin, else the longest-standing member (the state keeps join order). */
export function successorOf(state: Extract<GroupState, { status: 'active' }>, ownerId: string): string | null {
  const others = [...state.members].filter(([memberId]) => memberId !== ownerId);
  return (others.find(([, role]) => role === 'admin') ?? others[0])?.[0] ?? null;
}
