import { disappearingDecider, disappearingStream, DISAPPEARING_TIMERS, type DisappearingTimer } from '../../commands/disappearing.ts';
import { groupDecider, groupStream } from '../../commands/groups.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { CONVERSATION_TIMERS, type ConversationTimerDoc } from '../../projections/disappearing.ts';
import type { CommandHandler } from '../commandHandler.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import { isRegistered } from '../people/registered.ts';
import type { ConversationAccess, ConversationName } from './access.ts';

export interface ConversationTimer {
  conversationId: string;
  timer: DisappearingTimer;
  /** How long a message sent now stays, or null when off. */
  seconds: number | null;
  changedBy: string | null;
  changedAt: string | null;
}

/**
 * Disappearing messages, the setting: either participant of a direct conversation, or a group's admins, choose how
 * long messages sent from then on stay. The send reads it from the write side (a change is in force at once).
 */
export class DisappearingService {
  constructor(
    private readonly commands: CommandHandler,
    private readonly readStore: ReadStore,
    private readonly projections: Projections,
    private readonly access: ConversationAccess,
  ) {}

  async set(actorId: string, name: ConversationName, timer: DisappearingTimer, metadata: CommandMetadata): Promise<ConversationTimer> {
    const conversationId = this.access.conversationIdOf(actorId, name);
    let actorIsParticipant: boolean;
    let actorMayChange: boolean;
    if (name.groupId !== undefined) {
      const { state } = await this.commands.load(groupDecider, groupStream(name.groupId));
      const role = state.status === 'active' ? state.members.get(actorId) : undefined;
      actorIsParticipant = role !== undefined;
      actorMayChange = role === 'owner' || role === 'admin';
    } else {
      // A direct conversation exists with any other registered user, from its first message or setting on.
      actorIsParticipant = name.with !== actorId && (await isRegistered(this.commands, name.with!));
      actorMayChange = true;
    }
    const result = await this.commands.handle(disappearingDecider, disappearingStream(conversationId), {
      type: 'SetDisappearingTimer',
      data: { conversationId, actorId, timer, actorIsParticipant, actorMayChange },
      metadata,
    });
    if (result.position !== null) await this.projections.waitFor(result.position);
    return this.get(actorId, name);
  }

  async get(actorId: string, name: ConversationName): Promise<ConversationTimer> {
    const conversationId = this.access.conversationIdOf(actorId, name);
    await this.access.assertCanRead(actorId, conversationId);
    const doc = await this.readStore.collection<ConversationTimerDoc>(CONVERSATION_TIMERS).findOne({ _id: conversationId });
    return doc
      ? { conversationId, timer: doc.timer, seconds: doc.seconds, changedBy: doc.changedBy, changedAt: doc.changedAt }
      : { conversationId, timer: 'off', seconds: null, changedBy: null, changedAt: null };
  }

  /** The timer a message sent to the conversation now gets, in seconds (null: kept for good). */
  async secondsFor(conversationId: string): Promise<number | null> {
    const { state } = await this.commands.load(disappearingDecider, disappearingStream(conversationId));
    return DISAPPEARING_TIMERS[state.timer];
  }
}
