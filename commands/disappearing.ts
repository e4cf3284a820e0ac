import { ForbiddenError, NotFoundError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';

/**
 * Disappearing messages: one setting per conversation (`disappearing-<conversationId>`), kept apart from the
 * conversation's messages so a change never contends with sends. A message records its own expiry when it is sent
 * (MessageSent.expiresAt), so a change applies to later messages only.
 */
export const disappearingStream = (conversationId: string) => `disappearing-${conversationId}`;

/** The timers a conversation may have, and how long each keeps a message (null: for good). */
export const DISAPPEARING_TIMERS = { off: null, '24h': 86_400, '7d': 604_800, '90d': 7_776_000 } as const;
export type DisappearingTimer = keyof typeof DISAPPEARING_TIMERS;
export const disappearingTimerNames = Object.keys(DISAPPEARING_TIMERS) as [DisappearingTimer, ...DisappearingTimer[]];

export type DisappearingTimerChanged = Event<
  'DisappearingTimerChanged',
  { conversationId: string; timer: DisappearingTimer; seconds: number | null; changedBy: string; changedAt: string }
>;
export type DisappearingEvent = DisappearingTimerChanged;
export const disappearingEventTypes = ['DisappearingTimerChanged'] as const satisfies readonly DisappearingEvent['type'][];

export type SetDisappearingTimer = Command<
  'SetDisappearingTimer',
  {
    conversationId: string;
    actorId: string;
    timer: DisappearingTimer;
    /** Looked up by the shell: the actor may read the conversation (a participant, a current group member). */
    actorIsParticipant: boolean;
    /** Looked up by the shell: either participant of a direct conversation; a group's owner or an admin. */
    actorMayChange: boolean;
  }
>;
export type DisappearingCommand = SetDisappearingTimer;

export interface DisappearingState {
  timer: DisappearingTimer;
}

export const initialState: DisappearingState = { timer: 'off' };

export function evolve(state: DisappearingState, event: DisappearingEvent): DisappearingState {
  switch (event.type) {
    case 'DisappearingTimerChanged':
      return { timer: event.data.timer };
    default:
      return assertNever(event.type);
  }
}

export function decide(command: DisappearingCommand, state: DisappearingState): Decision<DisappearingEvent> {
  switch (command.type) {
    case 'SetDisappearingTimer': {
      const { conversationId, actorId, timer, actorIsParticipant, actorMayChange } = command.data;
      if (!actorIsParticipant) throw new NotFoundError('Conversation');
      // A group member who is not an admin: the admins decide how long the group's messages stay.
      if (!actorMayChange) throw new ForbiddenError("Only the group's admins can change disappearing messages");
      if (timer === state.timer) return [];
      return [
        {
          type: 'DisappearingTimerChanged',
          data: { conversationId, timer, seconds: DISAPPEARING_TIMERS[timer], changedBy: actorId, changedAt: command.metadata.now },
        },
      ];
    }
    default:
      return assertNever(command.type);
  }
}

export const disappearingDecider: Decider<DisappearingCommand, DisappearingEvent, DisappearingState> = {
  eventTypes: disappearingEventTypes,
  initialState,
  evolve,
  decide,
};
