import test from 'ava';
import { BlockedError } from '../../commands/contacts.ts';
import {
  callDecider,
  callLineDecider,
  callLineStream,
  callStream,
  type AnswerCall,
  type CallLineEvent,
  type ReleaseCallLine,
  type TakeCallLine,
  type CallEndReason,
  type CallEvent,
  type EndCall,
  type InitiateCall,
  type JoinCall,
  type LeaveCall,
  type MissCall,
  type RejectCall,
} from '../../commands/calls.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../commands/shared/errors.ts';
import { metadata, spec } from '../helpers/spec.ts';

// A call 'c' from alice, rung at t0 with a 30 s ring deadline.
const t0 = '2026-03-01T10:00:00.000Z';
const deadline = '2026-03-01T10:00:30.000Z';
const beforeDeadline = '2026-03-01T10:00:29.999Z';
const answeredAt = '2026-03-01T10:00:05.000Z';
const later = '2026-03-01T10:01:05.000Z'; // one minute after the answer
const callId = 'c';
const calls = spec(callDecider);

const meta = (now: string) => metadata({ now });
const initiate = (invitees: string[], options: { groupId?: string | null; blocked?: boolean; callerId?: string } = {}): InitiateCall => ({
  type: 'InitiateCall',
  data: {
    callId,
    callerId: options.callerId ?? 'alice',
    invitees,
    groupId: options.groupId ?? null,
    media: 'video',
    ringDeadline: deadline,
    blocked: options.blocked ?? false,
  },
  metadata: meta(t0),
});
const answer = (userId: string, now = answeredAt, connectionId = 1): AnswerCall => ({
  type: 'AnswerCall',
  data: { callId, userId, connectionId },
  metadata: meta(now),
});
const reject = (userId: string, now = answeredAt): RejectCall => ({ type: 'RejectCall', data: { callId, userId }, metadata: meta(now) });
const join = (userId: string, maxParticipants = 8, now = answeredAt): JoinCall => ({
  type: 'JoinCall',
  data: { callId, userId, connectionId: 7, maxParticipants },
  metadata: meta(now),
});
const leave = (userId: string, now = later): LeaveCall => ({ type: 'LeaveCall', data: { callId, userId }, metadata: meta(now) });
const end = (userId: string | null, reason: CallEndReason, now = later): EndCall => ({
  type: 'EndCall',
  data: { callId, userId, reason },
  metadata: meta(now),
});
const miss = (now: string): MissCall => ({ type: 'MissCall', data: { callId }, metadata: meta(now) });

const initiated = (invitees: string[], groupId: string | null = null): CallEvent => ({
  type: 'CallInitiated',
  data: { callId, callerId: 'alice', invitees, groupId, media: 'video', ringDeadline: deadline, at: t0 },
});
const answered = (userId: string, at = answeredAt, connectionId = 1): CallEvent => ({
  type: 'CallAnswered',
  data: { callId, userId, connectionId, at },
});
const rejected = (userId: string, at = answeredAt): CallEvent => ({ type: 'CallRejected', data: { callId, userId, at } });
const joined = (userId: string, at = answeredAt, connectionId = 7): CallEvent => ({
  type: 'CallParticipantJoined',
  data: { callId, userId, connectionId, at },
});
const left = (userId: string, at = later): CallEvent => ({ type: 'CallParticipantLeft', data: { callId, userId, at } });
const ended = (reason: CallEndReason, endedBy: string | null, durationMs = 0, at = later): CallEvent => ({
  type: 'CallEnded',
  data: { callId, reason, endedBy, durationMs, at },
});

const direct = [initiated(['bob'])];
const directActive = [...direct, answered('bob')];
const group = [initiated(['bob', 'carol', 'dave'], 'g')];
const groupActive = [...group, answered('bob')];
const groupOfThree = [...groupActive, joined('carol')];

test('a call lives in its own stream', (t) => {
  t.is(callStream('c'), 'call-c');
});

// --- InitiateCall ---

test('initiating a call records CallInitiated without duplicate invitees, without the caller and without the blocked flag', (t) => {
  calls
    .given([])
    .when(initiate(['bob', 'alice', 'bob']))
    .then(t, direct);
  calls
    .given([])
    .when(initiate(['bob', 'carol', 'bob', 'dave', 'alice'], { groupId: 'g' }))
    .then(t, group);
});

test('a call with nobody to call is invalid', (t) => {
  calls.given([]).when(initiate([])).thenThrows(t, ValidationError, 'validation_failed');
  calls
    .given([])
    .when(initiate(['alice', 'alice']))
    .thenThrows(t, ValidationError, 'validation_failed');
});

test('a call between two people when one blocked the other is refused as blocked', (t) => {
  calls
    .given([])
    .when(initiate(['bob'], { blocked: true }))
    .thenThrows(t, BlockedError, 'blocked');
});

test('a second InitiateCall on the same stream records nothing (a retry, or a colliding id)', (t) => {
  calls
    .given(direct)
    .when(initiate(['bob']))
    .then(t, []);
  calls
    .given(direct)
    .when(initiate(['zoe'], { callerId: 'mallory' }))
    .then(t, []);
  calls
    .given([...directActive, ended('hangup', 'bob', 60_000)])
    .when(initiate(['bob']))
    .then(t, []);
});

test('any other command on a call that does not exist is not found', (t) => {
  calls.given([]).when(answer('bob')).thenThrows(t, NotFoundError, 'not_found');
  calls.given([]).when(reject('bob')).thenThrows(t, NotFoundError, 'not_found');
  calls.given([]).when(join('bob')).thenThrows(t, NotFoundError, 'not_found');
  calls.given([]).when(leave('bob')).thenThrows(t, NotFoundError, 'not_found');
  calls.given([]).when(end('alice', 'hangup')).thenThrows(t, NotFoundError, 'not_found');
  calls.given([]).when(miss(deadline)).thenThrows(t, NotFoundError, 'not_found');
});

// --- AnswerCall ---

test('an invitee answering a ringing call records CallAnswered with their connection', (t) => {
  calls
    .given(direct)
    .when(answer('bob', answeredAt, 42))
    .then(t, [answered('bob', answeredAt, 42)]);
  calls
    .given(direct)
    .when(answer('bob', beforeDeadline))
    .then(t, [answered('bob', beforeDeadline)]);
  calls
    .given(group)
    .when(answer('carol'))
    .then(t, [answered('carol')]);
});

test('the first answer wins: a second invitee answering is a conflict, the same device again records nothing', (t) => {
  calls.given(groupActive).when(answer('carol')).thenThrows(t, ConflictError, 'already_answered');
  calls
    .given(groupActive)
    .when(answer('bob', later, 1))
    .then(t, []);
  calls
    .given(directActive)
    .when(answer('bob', later, 1))
    .then(t, []);
});

test('a second answer from another device of the callee is a conflict: one device takes the call', (t) => {
  calls
    .given(directActive)
    .when(answer('bob', later, 2))
    .thenThrows(t, ConflictError, 'already_answered');
  calls
    .given([...group, joined('carol', answeredAt, 7)])
    .when({ ...join('carol'), data: { ...join('carol').data, connectionId: 8 } })
    .thenThrows(t, ConflictError, 'already_answered');
});

test('answering at or after the ring deadline of a still-ringing call is too late', (t) => {
  calls.given(direct).when(answer('bob', deadline)).thenThrows(t, ConflictError, 'call_ended');
  calls.given(direct).when(answer('bob', later)).thenThrows(t, ConflictError, 'call_ended');
});

test('answering an ended call is too late', (t) => {
  calls
    .given([...direct, ended('cancelled', 'alice', 0, answeredAt)])
    .when(answer('bob', beforeDeadline))
    .thenThrows(t, ConflictError, 'call_ended');
  calls
    .given([...directActive, ended('hangup', 'bob', 60_000)])
    .when(answer('bob', later))
    .thenThrows(t, ConflictError, 'call_ended');
});

test('only an invitee answers: the caller and strangers are told the call does not exist', (t) => {
  calls.given(direct).when(answer('mallory')).thenThrows(t, NotFoundError, 'not_found');
  calls.given(direct).when(answer('alice')).thenThrows(t, NotFoundError, 'not_found');
  // A stranger learns nothing, not even that the call ended.
  calls
    .given([...direct, ended('missed', null, 0, deadline)])
    .when(answer('mallory', later))
    .thenThrows(t, NotFoundError, 'not_found');
});

// --- RejectCall ---

test('rejecting a direct call ends it as rejected', (t) => {
  calls
    .given(direct)
    .when(reject('bob'))
    .then(t, [ended('rejected', 'bob', 0, answeredAt)]);
});

test('rejecting a group call records CallRejected and it rings on; rejecting twice records nothing', (t) => {
  calls
    .given(group)
    .when(reject('bob'))
    .then(t, [rejected('bob')]);
  calls
    .given([...group, rejected('bob')])
    .when(reject('bob'))
    .then(t, []);
  calls
    .given([...group, rejected('bob')])
    .when(reject('carol'))
    .then(t, [rejected('carol')]);
  calls
    .given([...group, rejected('bob')])
    .when(answer('carol'))
    .then(t, [answered('carol')]);
});

test('rejecting a direct call already answered, or a group call one is in, is a conflict; rejecting an ended call records nothing', (t) => {
  calls.given(directActive).when(reject('bob')).thenThrows(t, ConflictError, 'already_answered');
  calls.given(groupActive).when(reject('bob')).thenThrows(t, ConflictError, 'already_answered');
  calls
    .given([...direct, ended('rejected', 'bob', 0, answeredAt)])
    .when(reject('bob', later))
    .then(t, []);
  calls
    .given([...group, ended('missed', null, 0, deadline)])
    .when(reject('carol', later))
    .then(t, []);
});

test('only an invitee rejects', (t) => {
  calls.given(direct).when(reject('alice')).thenThrows(t, NotFoundError, 'not_found');
  calls.given(group).when(reject('mallory')).thenThrows(t, NotFoundError, 'not_found');
});

// --- JoinCall ---

test('joining a group call is always CallParticipantJoined: the first join makes it live, and the others may still join or say no', (t) => {
  calls
    .given(group)
    .when(join('carol'))
    .then(t, [joined('carol')]);
  calls
    .given([...group, joined('carol')])
    .when(join('bob'))
    .then(t, [joined('bob')]);
  calls
    .given([...group, joined('carol')])
    .when(reject('bob'))
    .then(t, [rejected('bob')]);
  calls
    .given([...group, joined('carol')])
    .when(reject('carol'))
    .thenThrows(t, ConflictError, 'already_answered');
  // The first join starts the clock, and the caller and the one who joined make a call of two.
  calls
    .given([...group, joined('carol')])
    .when(leave('carol'))
    .then(t, [ended('hangup', 'carol', 60_000)]);
  calls
    .given([...group, joined('carol')])
    .when(miss(later))
    .then(t, []);
  calls
    .given(groupActive)
    .when(join('carol'))
    .then(t, [joined('carol')]);
  // Someone who rejected while it rang may still join later.
  calls
    .given([...group, rejected('dave'), answered('bob')])
    .when(join('dave'))
    .then(t, [joined('dave')]);
  // Someone who left may come back.
  calls
    .given([...groupOfThree, left('carol', later)])
    .when(join('carol', 8, later))
    .then(t, [joined('carol', later)]);
});

test('joining a call one is already in, from the same device (or as the caller), records nothing', (t) => {
  calls
    .given([...group, joined('bob')])
    .when(join('bob'))
    .then(t, []);
  calls.given(groupActive).when(join('alice')).then(t, []);
});

test('a group call holds at most maxParticipants people', (t) => {
  // alice + bob + carol = 3
  calls.given(groupOfThree).when(join('dave', 3)).thenThrows(t, ConflictError, 'call_full');
  calls
    .given(groupOfThree)
    .when(join('dave', 4))
    .then(t, [joined('dave')]);
  calls.given(groupActive).when(join('carol', 2)).thenThrows(t, ConflictError, 'call_full');
});

test('joining is for group calls only, parties only, and not after the end', (t) => {
  calls.given(direct).when(join('bob')).thenThrows(t, ValidationError, 'validation_failed');
  calls.given(directActive).when(join('bob')).thenThrows(t, ValidationError, 'validation_failed');
  calls.given(group).when(join('mallory')).thenThrows(t, NotFoundError, 'not_found');
  calls
    .given([...groupActive, ended('hangup', 'alice', 60_000)])
    .when(join('carol', 8, later))
    .thenThrows(t, ConflictError, 'call_ended');
});

// --- LeaveCall ---

test('leaving a two-person call ends it as a hangup, lasting from the answer to now', (t) => {
  calls
    .given(directActive)
    .when(leave('bob'))
    .then(t, [ended('hangup', 'bob', 60_000)]);
  calls
    .given(groupActive)
    .when(leave('alice'))
    .then(t, [ended('hangup', 'alice', 60_000)]);
  calls
    .given([...groupOfThree, left('alice')])
    .when(leave('carol'))
    .then(t, [ended('hangup', 'carol', 60_000)]);
});

test('leaving a call of three or more records CallParticipantLeft and it goes on', (t) => {
  calls
    .given(groupOfThree)
    .when(leave('alice'))
    .then(t, [left('alice')]);
  calls
    .given(groupOfThree)
    .when(leave('carol'))
    .then(t, [left('carol')]);
});

test('leaving records nothing unless one is in an active call', (t) => {
  calls.given(group).when(leave('alice')).then(t, []);
  calls.given(groupActive).when(leave('carol')).then(t, []);
  calls
    .given([...groupOfThree, left('carol')])
    .when(leave('carol'))
    .then(t, []);
  calls
    .given([...directActive, ended('hangup', 'bob', 60_000)])
    .when(leave('alice'))
    .then(t, []);
  calls.given(directActive).when(leave('mallory')).thenThrows(t, NotFoundError, 'not_found');
});

// --- EndCall ---

test('ending is idempotent: a second end records nothing', (t) => {
  calls
    .given(directActive)
    .when(end('alice', 'hangup'))
    .then(t, [ended('hangup', 'alice', 60_000)]);
  calls
    .given([...directActive, ended('hangup', 'alice', 60_000)])
    .when(end('alice', 'hangup'))
    .then(t, []);
  calls
    .given([...directActive, ended('hangup', 'alice', 60_000)])
    .when(end('bob', 'hangup'))
    .then(t, []);
  calls
    .given([...directActive, ended('hangup', 'alice', 60_000)])
    .when(end(null, 'max_duration'))
    .then(t, []);
});

test('hanging up a ringing call is cancelling for the caller and saying no for an invitee', (t) => {
  calls
    .given(direct)
    .when(end('alice', 'hangup', answeredAt))
    .then(t, [ended('cancelled', 'alice', 0, answeredAt)]);
  calls
    .given(direct)
    .when(end('bob', 'hangup', answeredAt))
    .then(t, [ended('rejected', 'bob', 0, answeredAt)]);
  // Any other reason is kept as given.
  calls
    .given(direct)
    .when(end('bob', 'busy', answeredAt))
    .then(t, [ended('busy', 'bob', 0, answeredAt)]);
});

test('the duration runs from the answer to now, and is zero for a call never answered', (t) => {
  calls
    .given(directActive)
    .when(end('bob', 'hangup', '2026-03-01T10:00:05.250Z'))
    .then(t, [ended('hangup', 'bob', 250, '2026-03-01T10:00:05.250Z')]);
  calls
    .given(directActive)
    .when(end('bob', 'hangup', '2026-03-01T11:00:05.000Z'))
    .then(t, [ended('hangup', 'bob', 3_600_000, '2026-03-01T11:00:05.000Z')]);
  // A clock that went backwards never gives a negative duration.
  calls
    .given(directActive)
    .when(end('bob', 'hangup', t0))
    .then(t, [ended('hangup', 'bob', 0, t0)]);
  calls
    .given(direct)
    .when(end('alice', 'hangup', beforeDeadline))
    .then(t, [ended('cancelled', 'alice', 0, beforeDeadline)]);
});

test('the server ends a call with no user (a party gone, the maximum duration)', (t) => {
  calls
    .given(directActive)
    .when(end(null, 'disconnected'))
    .then(t, [ended('disconnected', null, 60_000)]);
  calls
    .given(groupOfThree)
    .when(end(null, 'max_duration'))
    .then(t, [ended('max_duration', null, 60_000)]);
  calls
    .given(direct)
    .when(end(null, 'failed', answeredAt))
    .then(t, [ended('failed', null, 0, answeredAt)]);
});

test('only a party ends a call', (t) => {
  calls.given(directActive).when(end('mallory', 'hangup')).thenThrows(t, NotFoundError, 'not_found');
  calls
    .given([...directActive, ended('hangup', 'alice', 60_000)])
    .when(end('mallory', 'hangup'))
    .thenThrows(t, NotFoundError, 'not_found');
});

// --- MissCall (the ring timer) ---

test('the ring timer ends a call as missed only while it still rings, at or past its deadline', (t) => {
  calls
    .given(direct)
    .when(miss(deadline))
    .then(t, [ended('missed', null, 0, deadline)]);
  calls
    .given(group)
    .when(miss(later))
    .then(t, [ended('missed', null, 0, later)]);
  calls
    .given([...group, rejected('bob')])
    .when(miss(later))
    .then(t, [ended('missed', null, 0, later)]);
});

test('the ring timer never ends a call before its deadline', (t) => {
  calls.given(direct).when(miss(beforeDeadline)).then(t, []);
  calls.given(direct).when(miss(t0)).then(t, []);
});

test('a late ring timer never ends a live call, nor one already ended', (t) => {
  calls.given(directActive).when(miss(later)).then(t, []);
  calls.given(groupOfThree).when(miss(later)).then(t, []);
  calls
    .given([...direct, ended('rejected', 'bob', 0, answeredAt)])
    .when(miss(later))
    .then(t, []);
  calls
    .given([...directActive, ended('hangup', 'bob', 60_000)])
    .when(miss(later))
    .then(t, []);
});

test('a group call that rang out cannot be joined, even before the timer ended it', (t) => {
  calls
    .given([initiated(['bob', 'carol'], 'g')])
    .when(join('bob', 8, '2026-03-01T10:00:30.500Z'))
    .thenThrows(t, ConflictError, 'call_ended');
});

test('in a group call only the caller ends it for everyone: an invitee hanging up says no, or leaves', (t) => {
  calls
    .given([initiated(['bob', 'carol'], 'g')])
    .when(end('bob', 'hangup', answeredAt))
    .then(t, [rejected('bob')]);
  calls
    .given([initiated(['bob', 'carol', 'dave'], 'g'), answered('bob')])
    .when(end('dave', 'hangup'))
    .then(t, []);
  calls
    .given([initiated(['bob', 'carol'], 'g'), answered('bob'), joined('carol')])
    .when(end('carol', 'hangup'))
    .then(t, [left('carol')]);
  calls
    .given([initiated(['bob', 'carol'], 'g'), answered('bob'), joined('carol')])
    .when(end('alice', 'hangup'))
    .then(t, [ended('hangup', 'alice', 60_000)]);
});

test('deadlines are compared as instants, whatever their textual form', (t) => {
  const noMillis: CallEvent = {
    type: 'CallInitiated',
    data: { callId, callerId: 'alice', invitees: ['bob'], groupId: null, media: 'video', ringDeadline: '2026-03-01T10:00:30Z', at: t0 },
  };
  calls.given([noMillis]).when(answer('bob', '2026-03-01T10:00:30.500Z')).thenThrows(t, ConflictError, 'call_ended');
  calls
    .given([noMillis])
    .when(miss('2026-03-01T10:00:30.500Z'))
    .then(t, [ended('missed', null, 0, '2026-03-01T10:00:30.500Z')]);
});

// --- Call lines: of two calls at once involving one person (or one group), exactly one rings ---

const lines = spec(callLineDecider);
const owner = 'user-bob';
const take = (holder: string, freed: string | null = null): TakeCallLine => ({
  type: 'TakeCallLine',
  data: { owner, callId: holder, parties: ['alice', 'bob'], freed },
  metadata: meta(t0),
});
const release = (holder: string): ReleaseCallLine => ({ type: 'ReleaseCallLine', data: { owner, callId: holder }, metadata: meta(t0) });
const taken = (holder: string): CallLineEvent => ({
  type: 'CallLineTaken',
  data: { owner, callId: holder, parties: ['alice', 'bob'], at: t0 },
});
const released = (holder: string): CallLineEvent => ({ type: 'CallLineReleased', data: { owner, callId: holder, at: t0 } });

test('each person and each group has one call line, in its own stream', (t) => {
  t.is(callLineStream('user-bob'), 'callLine-user-bob');
});

test('a free line is taken by a call; the same call taking it again records nothing', (t) => {
  lines
    .given([])
    .when(take('c1'))
    .then(t, [taken('c1')]);
  lines
    .given([taken('c1')])
    .when(take('c1'))
    .then(t, []);
  lines
    .given([taken('c1'), released('c1')])
    .when(take('c2'))
    .then(t, [taken('c2')]);
});

test('a line held by a call still live refuses another call as call_in_progress, naming the call that holds it', (t) => {
  lines
    .given([taken('c1')])
    .when(take('c2'))
    .thenThrows(t, ConflictError, 'call_in_progress');
  // The shell found some other call over, not the one that holds the line now (it changed meanwhile).
  lines
    .given([taken('c1')])
    .when(take('c2', 'c0'))
    .thenThrows(t, ConflictError, 'call_in_progress');
  const error = t.throws(() => callLineDecider.decide(take('c2'), callLineDecider.evolve(callLineDecider.initialState, taken('c1'))));
  t.deepEqual((error as ConflictError).details, { callId: 'c1' });
});

test('a line whose call the shell found over is taken by the next call', (t) => {
  lines
    .given([taken('c1')])
    .when(take('c2', 'c1'))
    .then(t, [taken('c2')]);
});

test('only the call that holds a line releases it (a call that failed to start gives back what it took)', (t) => {
  lines
    .given([taken('c1')])
    .when(release('c1'))
    .then(t, [released('c1')]);
  lines
    .given([taken('c1')])
    .when(release('c2'))
    .then(t, []);
  lines.given([]).when(release('c1')).then(t, []);
  lines
    .given([taken('c1'), released('c1')])
    .when(release('c1'))
    .then(t, []);
});
