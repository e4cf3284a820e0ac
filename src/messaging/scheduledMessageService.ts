import type { Logger } from 'pino';
import { groupDecider, groupStream } from '../../commands/groups.ts';
import type { MessageTarget } from '../../commands/messages.ts';
import {
  scheduledMessageDecider,
  scheduledMessageEventTypes,
  scheduledMessageStream,
  type ScheduledFailureReason,
  type ScheduledMessageEvent,
} from '../../commands/scheduledMessages.ts';
import { BlockedError } from '../../commands/contacts.ts';
import { ForbiddenError, NotFoundError } from '../../commands/shared/errors.ts';
import { eventOf, type CommandMetadata } from '../../commands/shared/events.ts';
import { ERASED, textOf, type SealedText } from '../../commands/shared/sealed.ts';
import { SCHEDULED_MESSAGES, type ScheduledMessageDoc } from '../../projections/scheduledMessages.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { deriveId } from '../ids.ts';
import type { Blocks } from '../people/blocks.ts';
import { isRegistered } from '../people/registered.ts';
import { eventIdFor, revealEvent, sealWithKey } from '../privacy/sealing.ts';
import { messageKeyId, type ShreddingKeys } from '../privacy/shreddingKeys.ts';
import type { Projections } from '../projection/projections.ts';
import type { Filter, ReadStore } from '../readstore/port.ts';
import { MAX_TIMER_MS } from '../timers.ts';
import type { ConversationAccess } from './access.ts';
import type { MessagingService } from './messagingService.ts';

export interface ScheduleInput {
  recipientId?: string | undefined;
  groupId?: string | undefined;
  text: string;
  sendAt: string;
  clientMessageId?: string | undefined;
}

export interface PublicScheduledMessage {
  id: string;
  messageId: string;
  conversationId: string;
  recipientId: string | null;
  groupId: string | null;
  /** Null once sent (the message holds it) or cancelled (erased). */
  text: string | null;
  sendAt: string;
  status: ScheduledMessageDoc['status'];
  reason: ScheduledFailureReason | null;
  scheduledAt: string;
  updatedAt: string;
}

const toPublic = ({ _id, _position: _p, senderId: _s, ...doc }: ScheduledMessageDoc): PublicScheduledMessage => ({ id: _id, ...doc });

/** How often each instance looks for due messages: a message goes out within this (plus a projection's lag) of its time. */
export const SCHEDULED_TICK_MS = 250;
/** Due messages one pass takes on (oldest first); the next pass takes the rest. */
const DUE_PER_TICK = 100;

export interface ScheduledMessageDeps {
  commands: CommandHandler;
  readStore: ReadStore;
  projections: Projections;
  access: ConversationAccess;
  blocks: Blocks;
  keys: ShreddingKeys;
  messaging: Pick<MessagingService, 'send'>;
  clock: () => Date;
  logger: Logger;
}

/** The client id a scheduled message is sent with, from which its message id derives. */
const scheduledClientMessageId = (scheduleId: string) => `scheduled:${scheduleId}`;

/** Why a send at its time was refused, as a reason the sender is shown; null for anything else (retried). */
function refusalOf(error: unknown): ScheduledFailureReason | null {
  if (error instanceof BlockedError) return 'blocked';
  if (error instanceof ForbiddenError) return 'not_a_member';
  if (error instanceof NotFoundError) return 'recipient_gone';
  return null;
}

/**
 * Scheduled messages: the sender's schedule, edits and cancels, and the dispatcher that sends each when its time
 * comes. The durable deadline is the schedule's stream (and its `scheduled_messages` document, `status: pending`,
 * found by `sendAt`), so it survives restarts and every instance sharing a database finds it. Sending it is idempotent:
 * the message id was fixed when it was scheduled and every command id derives from the schedule's, so two instances
 * passing at once, or a pass retried after a crash between the send and its record, append it once.
 */
export class ScheduledMessageService {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  /** Schedules this instance is dispatching now (a slow one is not taken again by the next pass). */
  private readonly inFlight = new Set<string>();

  constructor(private readonly deps: ScheduledMessageDeps) {}

  private get collection() {
    return this.deps.readStore.collection<ScheduledMessageDoc>(SCHEDULED_MESSAGES);
  }

  private async seal(messageId: string, scheduleId: string, text: string, metadata: CommandMetadata): Promise<SealedText> {
    const stream = scheduledMessageStream(scheduleId);
    return sealWithKey(this.deps.keys, messageKeyId(messageId), text, { eventId: eventIdFor(metadata, stream), stream, field: 'text' });
  }

  async schedule(
    senderId: string,
    input: ScheduleInput,
    metadata: CommandMetadata,
  ): Promise<{ scheduled: PublicScheduledMessage; created: boolean }> {
    const { commands, access, blocks } = this.deps;
    const target: MessageTarget =
      input.groupId !== undefined ? { kind: 'group', groupId: input.groupId } : { kind: 'direct', recipientId: input.recipientId! };
    const conversationId = access.conversationIdOf(senderId, { with: input.recipientId, groupId: input.groupId });
    const scheduleId = deriveId('schedule', senderId, input.clientMessageId ?? metadata.commandId);
    // The id MessagingService.send gives the message of this sender and client id.
    const messageId = deriveId('message', senderId, scheduledClientMessageId(scheduleId));
    const targetReachable =
      target.kind === 'group' ? await this.isGroupMember(target.groupId, senderId) : await isRegistered(commands, target.recipientId);
    const blocked = target.kind === 'direct' && (await blocks.hasBlocked(senderId, target.recipientId));
    const result = await commands.handle(
      scheduledMessageDecider,
      scheduledMessageStream(scheduleId),
      {
        type: 'ScheduleMessage',
        data: {
          scheduleId,
          senderId,
          messageId,
          conversationId,
          target,
          text: await this.seal(messageId, scheduleId, input.text, metadata),
          sendAt: new Date(input.sendAt).toISOString(),
          targetReachable,
          blocked,
        },
        metadata,
      },
      { expectNew: true },
    );
    return { scheduled: await this.afterWrite(senderId, scheduleId, result.position), created: result.position !== null };
  }

  /** The sender's scheduled messages, soonest first. */
  async list(
    senderId: string,
    query: { status?: ScheduledMessageDoc['status'] | undefined; limit: number },
  ): Promise<PublicScheduledMessage[]> {
    const filter: Filter = { senderId };
    if (query.status !== undefined) filter.status = query.status;
    return (await this.collection.find(filter, { sort: { sendAt: 1 }, limit: query.limit })).map(toPublic);
  }

  async edit(
    senderId: string,
    scheduleId: string,
    change: { text?: string | undefined; sendAt?: string | undefined },
    metadata: CommandMetadata,
  ): Promise<PublicScheduledMessage> {
    const doc = await this.own(senderId, scheduleId);
    // Only the time changes: the text as it stands is sealed again for the new event.
    const text = change.text ?? doc.text;
    const result = await this.deps.commands.handle(scheduledMessageDecider, scheduledMessageStream(scheduleId), {
      type: 'EditScheduledMessage',
      data: {
        scheduleId,
        actorId: senderId,
        text: text === null ? undefined : await this.seal(doc.messageId, scheduleId, text, metadata),
        sendAt: change.sendAt === undefined ? undefined : new Date(change.sendAt).toISOString(),
      },
      metadata,
    });
    return this.afterWrite(senderId, scheduleId, result.position);
  }

  /** Cancels it (or dismisses a failed one) and erases its text: its content key is destroyed. */
  async cancel(senderId: string, scheduleId: string, metadata: CommandMetadata): Promise<void> {
    const doc = await this.own(senderId, scheduleId);
    const result = await this.deps.commands.handle(scheduledMessageDecider, scheduledMessageStream(scheduleId), {
      type: 'CancelScheduledMessage',
      data: { scheduleId, actorId: senderId },
      metadata,
    });
    // After the append, so a refused cancel erases nothing; the key was never used by a sent message.
    if (result.state.status === 'cancelled') await this.deps.keys.destroy(messageKeyId(doc.messageId));
    if (result.position !== null) await this.deps.projections.waitFor(result.position);
  }

  private async own(senderId: string, scheduleId: string): Promise<ScheduledMessageDoc> {
    const doc = await this.collection.findOne({ _id: scheduleId });
    if (!doc || doc.senderId !== senderId) throw new NotFoundError('Scheduled message');
    return doc;
  }

  private async afterWrite(senderId: string, scheduleId: string, position: number | null): Promise<PublicScheduledMessage> {
    await this.deps.projections.waitFor(position ?? (await this.deps.projections.headPosition()));
    return toPublic(await this.own(senderId, scheduleId));
  }

  /** Starts the passes: one now (what a restart left due), then every SCHEDULED_TICK_MS. */
  start(): void {
    const pass = () => {
      this.timer = setTimeout(
        () => {
          void this.tick()
            .catch((error: unknown) => this.deps.logger.error({ err: error }, 'scheduled messages: a pass failed'))
            .finally(() => {
              if (this.timer !== null) pass();
            });
        },
        Math.min(SCHEDULED_TICK_MS, MAX_TIMER_MS),
      );
      this.timer.unref();
    };
    pass();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** One pass: sends (or fails) every due message; how many it settled. */
  tick(): Promise<number> {
    const run = this.dispatchDue();
    this.running = run;
    return run;
  }

  private async dispatchDue(): Promise<number> {
    const now = this.deps.clock();
    const due = await this.collection.find(
      { status: 'pending', sendAt: { $lte: now.toISOString() } },
      { sort: { sendAt: 1 }, limit: DUE_PER_TICK },
    );
    let settled = 0;
    for (const doc of due) {
      if (this.inFlight.has(doc._id)) continue;
      this.inFlight.add(doc._id);
      try {
        if (await this.dispatch(doc._id, now)) settled++;
      } catch (error) {
        this.deps.logger.error({ err: error, scheduleId: doc._id }, 'scheduled messages: sending one failed; the next pass retries it');
      } finally {
        this.inFlight.delete(doc._id);
      }
    }
    return settled;
  }

  /** Sends one due message, or records why it cannot be; false if it was not (or no longer) due. */
  private async dispatch(scheduleId: string, now: Date): Promise<boolean> {
    const { commands, keys, blocks } = this.deps;
    const stream = scheduledMessageStream(scheduleId);
    // From the log, not the read model: an edit a moment ago may not be projected yet.
    const { state } = await commands.load(scheduledMessageDecider, stream);
    if (state.status !== 'pending' || Date.parse(state.sendAt) > now.getTime()) return false;
    let target: MessageTarget | null = null;
    let text: SealedText | null = null;
    for (const recorded of await commands.readStream(stream)) {
      const event = eventOf<ScheduledMessageEvent>(scheduledMessageEventTypes, recorded);
      if (event.type === 'MessageScheduled') target = event.data.target;
      if (event.type === 'MessageScheduled' || event.type === 'ScheduledMessageEdited')
        text = (eventOf<ScheduledMessageEvent>(scheduledMessageEventTypes, await revealEvent(recorded, keys)).data as { text: SealedText })
          .text;
    }
    if (!target || !text) return false;
    const { senderId } = state;
    const metadata = (step: string): CommandMetadata => ({
      commandId: deriveId(step, scheduleId),
      correlationId: scheduleId,
      causationId: scheduleId,
      userId: senderId,
      now: now.toISOString(),
    });
    const reason: ScheduledFailureReason | null =
      target.kind === 'group'
        ? (await this.isGroupMember(target.groupId, senderId))
          ? null
          : 'not_a_member'
        : !(await isRegistered(commands, target.recipientId))
          ? 'recipient_gone'
          : (await blocks.between(senderId, target.recipientId))
            ? 'blocked'
            : null;
    const plain = textOf(text);
    if (reason !== null || plain === ERASED) {
      await commands.handle(scheduledMessageDecider, stream, {
        type: 'RecordScheduledFailure',
        data: { scheduleId, reason: reason ?? 'recipient_gone' },
        metadata: metadata('scheduled-failed'),
      });
      return true;
    }
    // Sent as any message is (the same lookups, the same events): its id is the one fixed when it was scheduled, and a
    // send retried after a crash (same command id, same client id) appends nothing.
    try {
      await this.deps.messaging.send(
        senderId,
        {
          ...(target.kind === 'group' ? { groupId: target.groupId } : { recipientId: target.recipientId }),
          text: plain,
          clientMessageId: scheduledClientMessageId(scheduleId),
        },
        metadata('scheduled-send'),
      );
    } catch (error) {
      const refused = refusalOf(error);
      if (refused === null) throw error;
      await commands.handle(scheduledMessageDecider, stream, {
        type: 'RecordScheduledFailure',
        data: { scheduleId, reason: refused },
        metadata: metadata('scheduled-failed'),
      });
      return true;
    }
    await commands.handle(scheduledMessageDecider, stream, {
      type: 'RecordScheduledDelivery',
      data: { scheduleId },
      metadata: metadata('scheduled-delivered'),
    });
    return true;
  }

  private async isGroupMember(groupId: string, userId: string): Promise<boolean> {
    const { state } = await this.deps.commands.load(groupDecider, groupStream(groupId));
    return state.status === 'active' && state.members.has(userId);
  }
}
