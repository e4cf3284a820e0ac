import { BlockedError } from './contacts.ts';
import { ConflictError, NotFoundError, ValidationError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';

/**
 * One voice or video call (`call-<callId>`): rung, answered once (the first answer wins), ended once. Timers that
 * end a call (no answer, a party gone, too long) only ask: the decider ends a call as missed only while it is still
 * ringing, so a late timer can never end a live call. Signaling (SDP, ICE) is relayed, never recorded.
 */
export const callStream = (callId: string) => `call-${callId}`;

export type CallMedia = 'audio' | 'video';
export type CallEndReason = 'hangup' | 'rejected' | 'missed' | 'cancelled' | 'busy' | 'disconnected' | 'failed' | 'max_duration';

export type CallInitiated = Event<
  'CallInitiated',
  {
    callId: string;
    callerId: string;
    invitees: string[];
    groupId: string | null;
    media: CallMedia;
    ringDeadline: string;
    at: string;
  }
>;
export type CallAnswered = Event<'CallAnswered', { callId: string; userId: string; connectionId: number; at: string }>;
/** An invitee of a group call said no (a direct call rejected simply ends: CallEnded `rejected`). */
export type CallRejected = Event<'CallRejected', { callId: string; userId: string; at: string }>;
export type CallParticipantJoined = Event<'CallParticipantJoined', { callId: string; userId: string; connectionId: number; at: string }>;
export type CallParticipantLeft = Event<'CallParticipantLeft', { callId: string; userId: string; at: string }>;
export type CallEnded = Event<
  'CallEnded',
  { callId: string; reason: CallEndReason; endedBy: string | null; durationMs: number; at: string }
>;
export type CallEvent = CallInitiated | CallAnswered | CallRejected | CallParticipantJoined | CallParticipantLeft | CallEnded;
export const callEventTypes = [
  'CallInitiated',
  'CallAnswered',
  'CallRejected',
  'CallParticipantJoined',
  'CallParticipantLeft',
  'CallEnded',
] as const satisfies readonly CallEvent['type'][];

export type InitiateCall = Command<
  'InitiateCall',
  {
    callId: string;
    callerId: string;
    invitees: string[];
    groupId: string | null;
    media: CallMedia;
    ringDeadline: string;
    /** Looked up by the shell: for a direct call, one of the two blocked the other. */
    blocked: boolean;
  }
>;
export type AnswerCall = Command<'AnswerCall', { callId: string; userId: string; connectionId: number }>;
export type RejectCall = Command<'RejectCall', { callId: string; userId: string }>;
export type JoinCall = Command<'JoinCall', { callId: string; userId: string; connectionId: number; maxParticipants: number }>;
export type LeaveCall = Command<'LeaveCall', { callId: string; userId: string }>;
/** `userId` null: the server ends it (a party gone, the maximum duration). */
export type EndCall = Command<'EndCall', { callId: string; userId: string | null; reason: CallEndReason }>;
/** The ring timer: ends the call as missed if, and only if, it is still ringing past its deadline. */
export type MissCall = Command<'MissCall', { callId: string }>;
export type CallCommand = InitiateCall | AnswerCall | RejectCall | JoinCall | LeaveCall | EndCall | MissCall;

export type CallState =
  | { status: 'none' }
  | {
      status: 'ringing' | 'active' | 'ended';
      callId: string;
      callerId: string;
      invitees: ReadonlySet<string>;
      groupId: string | null;
      ringDeadline: string;
      answeredAt: string | null;
      /** Who is in the call now (the caller and whoever answered or joined). */
      participants: ReadonlySet<string>;
      /** The device each of them took the call on (the caller's is none: they signal from any device). */
      devices: ReadonlyMap<string, number>;
      rejected: ReadonlySet<string>;
    };

export const initialState: CallState = { status: 'none' };

const with_ = (set: ReadonlySet<string>, value: string) => new Set(set).add(value);
const without = (set: ReadonlySet<string>, value: string) => {
  const next = new Set(set);
  next.delete(value);
  return next;
};

export function evolve(state: CallState, event: CallEvent): CallState {
  if (event.type === 'CallInitiated') {
    const { callId, callerId, invitees, groupId, ringDeadline } = event.data;
    return {
      status: 'ringing',
      callId,
      callerId,
      invitees: new Set(invitees),
      groupId,
      ringDeadline,
      answeredAt: null,
      participants: new Set([callerId]),
      devices: new Map(),
      rejected: new Set(),
    };
  }
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'CallAnswered':
    case 'CallParticipantJoined': {
      const { userId, connectionId, at } = event.data;
      // A group call comes alive with its first join.
      return {
        ...state,
        status: state.status === 'ringing' ? 'active' : state.status,
        answeredAt: state.answeredAt ?? at,
        participants: with_(state.participants, userId),
        devices: new Map(state.devices).set(userId, connectionId),
      };
    }
    case 'CallRejected':
      return { ...state, rejected: with_(state.rejected, event.data.userId) };
    case 'CallParticipantLeft': {
      const devices = new Map(state.devices);
      devices.delete(event.data.userId);
      return { ...state, participants: without(state.participants, event.data.userId), devices };
    }
    case 'CallEnded':
      return { ...state, status: 'ended' };
    default:
      return assertNever(event);
  }
}

const isParty = (state: Exclude<CallState, { status: 'none' }>, userId: string) => state.callerId === userId || state.invitees.has(userId);

export function decide(command: CallCommand, state: CallState): Decision<CallEvent> {
  const at = command.metadata.now;
  if (command.type === 'InitiateCall') {
    if (state.status !== 'none') return [];
    const { blocked, ...data } = command.data;
    const invitees = [...new Set(data.invitees)].filter((id) => id !== data.callerId);
    if (invitees.length === 0) throw new ValidationError('Nobody to call');
    if (blocked) throw new BlockedError();
    return [{ type: 'CallInitiated', data: { ...data, invitees, at } }];
  }
  // Someone who is not a party learns nothing of a call, not even that it exists.
  if (state.status === 'none') throw new NotFoundError('Call');
  const { callId } = state;
  const ended = () => new ConflictError('call_ended', 'This call has ended');
  switch (command.type) {
    case 'AnswerCall': {
      const { userId, connectionId } = command.data;
      if (!state.invitees.has(userId)) throw new NotFoundError('Call');
      if (state.status === 'ended' || (state.status === 'ringing' && rangOut(state, at))) throw ended();
      if (state.status === 'active') {
        // The same device again is a retry; another device of the one who answered is a second answer.
        if (state.devices.get(userId) === connectionId) return [];
        throw new ConflictError('already_answered', 'Someone already answered this call');
      }
      return [{ type: 'CallAnswered', data: { callId, userId, connectionId, at } }];
    }
    case 'RejectCall': {
      const { userId } = command.data;
      if (!state.invitees.has(userId)) throw new NotFoundError('Call');
      if (state.status === 'ended') return [];
      // A group call others joined still rings for the rest, who may say no; one who is in it hangs up instead.
      if (state.status === 'active' && (state.groupId === null || state.participants.has(userId))) {
        throw new ConflictError('already_answered', 'This call was already answered');
      }
      if (state.rejected.has(userId)) return [];
      // A direct call said no to ends; a group call rings on for the others.
      if (state.groupId === null) return [{ type: 'CallEnded', data: { callId, reason: 'rejected', endedBy: userId, durationMs: 0, at } }];
      return [{ type: 'CallRejected', data: { callId, userId, at } }];
    }
    case 'JoinCall': {
      const { userId, connectionId, maxParticipants } = command.data;
      if (!isParty(state, userId)) throw new NotFoundError('Call');
      // A late timer must not let a call that rang out come alive.
      if (state.status === 'ended' || (state.status === 'ringing' && rangOut(state, at))) throw ended();
      if (state.groupId === null) throw new ValidationError('Answer a direct call; joining is for group calls');
      if (state.participants.has(userId)) {
        const device = state.devices.get(userId);
        // The caller (in it from any device) or the same device again: nothing to do. Another device: a second answer.
        if (device === undefined || device === connectionId) return [];
        throw new ConflictError('already_answered', 'You are already in this call on another device');
      }
      if (state.participants.size >= maxParticipants)
        throw new ConflictError('call_full', `At most ${maxParticipants} people in a group call`);
      // Even the first to join is a participant: the others keep ringing and may still join.
      return [{ type: 'CallParticipantJoined', data: { callId, userId, connectionId, at } }];
    }
    case 'LeaveCall': {
      const { userId } = command.data;
      if (!isParty(state, userId)) throw new NotFoundError('Call');
      if (state.status !== 'active' || !state.participants.has(userId)) return [];
      // The last one but one to leave ends it: a call is at least two people.
      if (state.participants.size <= 2)
        return [{ type: 'CallEnded', data: { callId, reason: 'hangup', endedBy: userId, durationMs: durationOf(state, at), at } }];
      return [{ type: 'CallParticipantLeft', data: { callId, userId, at } }];
    }
    case 'EndCall': {
      const { userId, reason } = command.data;
      if (userId !== null && !isParty(state, userId)) throw new NotFoundError('Call');
      if (state.status === 'ended') return [];
      // In a group call only the caller ends it for everyone; anyone else hanging up says no, or leaves.
      if (state.groupId !== null && userId !== null && userId !== state.callerId) {
        if (state.status === 'ringing') return state.rejected.has(userId) ? [] : [{ type: 'CallRejected', data: { callId, userId, at } }];
        if (!state.participants.has(userId)) return [];
        if (state.participants.size > 2) return [{ type: 'CallParticipantLeft', data: { callId, userId, at } }];
      }
      // Hanging up before anyone answered is cancelling (the caller) or saying no (an invitee).
      const effective: CallEndReason =
        state.status === 'ringing' && reason === 'hangup' && userId !== null
          ? userId === state.callerId
            ? 'cancelled'
            : 'rejected'
          : reason;
      return [{ type: 'CallEnded', data: { callId, reason: effective, endedBy: userId, durationMs: durationOf(state, at), at } }];
    }
    case 'MissCall':
      if (state.status !== 'ringing' || !rangOut(state, at)) return [];
      return [{ type: 'CallEnded', data: { callId, reason: 'missed', endedBy: null, durationMs: 0, at } }];
    default:
      return assertNever(command);
  }
}

/** Compared as instants, not as text: `…:30Z` and `…:30.500Z` are not ordered by their characters. */
const rangOut = (state: Exclude<CallState, { status: 'none' }>, at: string) => Date.parse(at) >= Date.parse(state.ringDeadline);

const durationOf = (state: Exclude<CallState, { status: 'none' }>, at: string) =>
  state.status === 'active' && state.answeredAt ? Math.max(0, Date.parse(at) - Date.parse(state.answeredAt)) : 0;

export const callDecider: Decider<CallCommand, CallEvent, CallState> = { eventTypes: callEventTypes, initialState, evolve, decide };

/**
 * A call line (`callLine-<owner>`: one per person, `user-<id>`, and one per group, `group-<id>`) is held by at most
 * one call at a time. Initiating a call takes the lines of everyone it involves, one after another in a fixed order,
 * each an append at the expected revision: of two calls at once involving one person or one group, exactly one
 * rings, and the other is `call_in_progress`. A line needs no release when its call ends: the shell looks the
 * holder up and says when it is over (`freed`). A call that fails to start gives back what it took.
 */
export const callLineStream = (owner: string) => `callLine-${owner}`;

/** `parties`: the people the call is between (a group call: its caller), to whom a busy line may name the call. */
export type CallLineTaken = Event<'CallLineTaken', { owner: string; callId: string; parties: string[]; at: string }>;
export type CallLineReleased = Event<'CallLineReleased', { owner: string; callId: string; at: string }>;
export type CallLineEvent = CallLineTaken | CallLineReleased;
export const callLineEventTypes = ['CallLineTaken', 'CallLineReleased'] as const satisfies readonly CallLineEvent['type'][];

export type TakeCallLine = Command<
  'TakeCallLine',
  {
    owner: string;
    callId: string;
    parties: string[];
    /** Looked up by the shell: the call it found holding the line is over (ended, rang out, or never started). */
    freed: string | null;
  }
>;
export type ReleaseCallLine = Command<'ReleaseCallLine', { owner: string; callId: string }>;
export type CallLineCommand = TakeCallLine | ReleaseCallLine;

export interface CallLineState {
  callId: string | null;
  parties: readonly string[];
  takenAt: string | null;
}

export const initialLineState: CallLineState = { callId: null, parties: [], takenAt: null };

export function evolveLine(state: CallLineState, event: CallLineEvent): CallLineState {
  switch (event.type) {
    case 'CallLineTaken':
      return { callId: event.data.callId, parties: event.data.parties, takenAt: event.data.at };
    case 'CallLineReleased':
      return state.callId === event.data.callId ? initialLineState : state;
    default:
      return assertNever(event);
  }
}

export function decideLine(command: CallLineCommand, state: CallLineState): Decision<CallLineEvent> {
  const at = command.metadata.now;
  const { owner, callId } = command.data;
  switch (command.type) {
    case 'TakeCallLine': {
      if (state.callId === callId) return [];
      if (state.callId !== null && state.callId !== command.data.freed) {
        throw new ConflictError('call_in_progress', 'Already in a call', { callId: state.callId });
      }
      return [{ type: 'CallLineTaken', data: { owner, callId, parties: command.data.parties, at } }];
    }
    case 'ReleaseCallLine':
      return state.callId === callId ? [{ type: 'CallLineReleased', data: { owner, callId, at } }] : [];
    default:
      return assertNever(command);
  }
}

export const callLineDecider: Decider<CallLineCommand, CallLineEvent, CallLineState> = {
  eventTypes: callLineEventTypes,
  initialState: initialLineState,
  evolve: evolveLine,
  decide: decideLine,
};
