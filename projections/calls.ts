import type { CallEndReason, CallEvent, CallMedia } from '../commands/calls.ts';
import { callEventTypes } from '../commands/calls.ts';
import { assertNever, eventOf } from '../commands/shared/events.ts';
import type { ProjectedDoc, Projector } from '../src/projection/projector.ts';

export type CallOutcome = 'answered' | 'missed' | 'rejected' | 'cancelled' | 'failed';

/**
 * `calls` (seed name): each party's view of a call, for their history and missed-call counts, and for the server's
 * own checks (who may signal whom, which calls still ring).
 */
export interface CallDoc extends ProjectedDoc {
  callId: string;
  userId: string;
  direction: 'outgoing' | 'incoming';
  callerId: string;
  invitees: string[];
  /** A direct call's other party. */
  peerId: string | null;
  groupId: string | null;
  media: CallMedia;
  state: 'ringing' | 'active' | 'ended';
  outcome: CallOutcome | null;
  reason: CallEndReason | null;
  ringDeadline: string;
  startedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  /** The devices in the call (the answering one, those that joined): signaling goes only between these and the caller's. */
  connections: Array<{ userId: string; connectionId: number }>;
  participants: string[];
  /** This party was in the call at some point (the caller from the start; an invitee once they answered or joined). */
  tookPart: boolean;
  position: number;
}

export const CALLS = 'calls';
export const callDocId = (callId: string, userId: string) => `${callId}:${userId}`;

const outcomeOf = (reason: CallEndReason, answered: boolean): CallOutcome => {
  if (answered) return 'answered';
  switch (reason) {
    case 'missed':
      return 'missed';
    case 'rejected':
      return 'rejected';
    case 'cancelled':
      return 'cancelled';
    default:
      return 'failed';
  }
};

export const callsProjector: Projector = {
  // 2: each party's document records whether they took part (1 judged it by who was still in the call at its end).
  version: 2,
  name: CALLS,
  collections: {
    [CALLS]: [{ key: { userId: 1, position: -1 } }, { key: { callId: 1 } }, { key: { state: 1, ringDeadline: 1 } }],
  },
  handles: new Set(callEventTypes),
  async apply(recorded, context) {
    const event = eventOf<CallEvent>(callEventTypes, recorded);
    const { callId } = event.data;
    const everyone = (reducer: (doc: CallDoc) => CallDoc) =>
      context.projectMany<CallDoc>(CALLS, { callId }, recorded, (doc) => doc && reducer(doc));
    switch (event.type) {
      case 'CallInitiated': {
        const { callerId, invitees, groupId, media, ringDeadline, at } = event.data;
        for (const userId of [callerId, ...invitees]) {
          await context.project<CallDoc>(
            CALLS,
            callDocId(callId, userId),
            recorded,
            (doc) =>
              doc ?? {
                _id: callDocId(callId, userId),
                callId,
                userId,
                direction: userId === callerId ? 'outgoing' : 'incoming',
                callerId,
                invitees,
                peerId: groupId ? null : userId === callerId ? invitees[0]! : callerId,
                groupId,
                media,
                state: 'ringing',
                outcome: null,
                reason: null,
                ringDeadline,
                startedAt: at,
                answeredAt: null,
                endedAt: null,
                durationMs: null,
                connections: [],
                participants: [callerId],
                tookPart: userId === callerId,
                position: recorded.position,
              },
          );
        }
        return;
      }
      case 'CallAnswered':
      case 'CallParticipantJoined': {
        const { userId, connectionId, at } = event.data;
        return everyone((doc) => ({
          ...doc,
          state: 'active',
          answeredAt: doc.answeredAt ?? at,
          connections: [...doc.connections.filter((c) => c.userId !== userId), { userId, connectionId }],
          participants: doc.participants.includes(userId) ? doc.participants : [...doc.participants, userId],
          tookPart: doc.tookPart || doc.userId === userId,
        }));
      }
      case 'CallParticipantLeft': {
        const { userId } = event.data;
        return everyone((doc) => ({
          ...doc,
          connections: doc.connections.filter((c) => c.userId !== userId),
          participants: doc.participants.filter((id) => id !== userId),
        }));
      }
      // A group invitee's no is theirs alone: their history says rejected when the call ends.
      case 'CallRejected':
        return context.project<CallDoc>(
          CALLS,
          callDocId(callId, event.data.userId),
          recorded,
          (doc) => doc && { ...doc, reason: 'rejected' },
        );
      case 'CallEnded': {
        const { reason, durationMs, at } = event.data;
        return everyone((doc) => {
          const answered = doc.answeredAt !== null;
          // Whoever joined and left before the end took part all the same.
          const tookPart = answered && doc.tookPart;
          const saidNo = doc.reason === 'rejected' && !tookPart;
          // Each party's own outcome: a group call others answered was missed by whoever never joined.
          const outcome: CallOutcome = tookPart ? 'answered' : saidNo ? 'rejected' : answered ? 'missed' : outcomeOf(reason, false);
          return { ...doc, state: 'ended', reason: saidNo ? 'rejected' : reason, endedAt: at, durationMs, outcome };
        });
      }
      default:
        return assertNever(event);
    }
  },
};
