import type { Logger } from 'pino';
import {
  callDecider,
  callLineDecider,
  callLineStream,
  callStream,
  type CallCommand,
  type CallEndReason,
  type CallMedia,
} from '../../commands/calls.ts';
import { ConflictError, DomainError, NotFoundError, ValidationError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { CALLS, callDocId, type CallDoc } from '../../projections/calls.ts';
import { GROUPS, type GroupDoc } from '../../projections/groups.ts';
import { USERS, type UserDoc } from '../../projections/users.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { deriveId, newId } from '../ids.ts';
import type { Blocks } from '../people/blocks.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import { MemoryCallGraceDeadlines, type CallGraceDeadlines } from './callGraceDeadlines.ts';
import { turnCredentials, type IceServer } from './turnCredentials.ts';

export interface CallSettings {
  ringTimeoutMs: number;
  disconnectGraceMs: number;
  maxDurationMs: number;
  meshMaxParticipants: number;
  stunUris: string[];
  turnUris: string[];
  turnSharedSecret: string | null;
  turnTtlSeconds: number;
}

/**
 * The sockets of every instance: whose a connection is, whether a user has any (here, or on any instance), and sending
 * to a connection or a user wherever their sockets are.
 */
export interface ConnectionDirectory {
  ownerOf(connectionId: number): Promise<string | null>;
  /** A socket on this instance. */
  isConnectedHere(userId: string): boolean;
  /** A socket on any instance. */
  isConnected(userId: string): Promise<boolean>;
  /** False when no instance holds the connection. */
  sendToConnection(connectionId: number, bytes: string): Promise<boolean>;
  sendToUser(userId: string, bytes: string): void;
}

export interface PublicCall {
  id: string;
  state: CallDoc['state'];
  media: CallMedia;
  callerId: string;
  invitees: string[];
  groupId: string | null;
  direction: CallDoc['direction'];
  peerId: string | null;
  outcome: CallDoc['outcome'];
  reason: CallDoc['reason'];
  ringDeadline: string;
  startedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  position: number;
}

/** A line taken for a call that never started (its initiator died in between) is free again after this long. */
const UNSTARTED_LINE_MS = 30_000;

export const toPublicCall = (doc: CallDoc): PublicCall => ({
  id: doc.callId,
  state: doc.state,
  media: doc.media,
  callerId: doc.callerId,
  invitees: doc.invitees,
  groupId: doc.groupId,
  direction: doc.direction,
  peerId: doc.peerId,
  outcome: doc.outcome,
  reason: doc.reason,
  ringDeadline: doc.ringDeadline,
  startedAt: doc.startedAt,
  answeredAt: doc.answeredAt,
  endedAt: doc.endedAt,
  durationMs: doc.durationMs,
  position: doc.position,
});

/**
 * Calls: ringing every device of every invitee, the first answer winning, signaling relayed between the chosen
 * devices only, and timers (no answer, a party gone, too long) that survive restarts because they only ask the
 * decider, which ends a call as missed only while it still rings.
 */
export class CallService {
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  /** The timers' pass in flight: a tick that comes while one runs waits for it instead of running beside it. */
  private ticking: Promise<void> | null = null;
  private readonly graceDeadlines: CallGraceDeadlines;
  /** Per user, their deadline's writes in order (a disarm never overtaken by the arm before it). */
  private readonly deadlineWrites = new Map<string, Promise<void>>();

  constructor(
    private readonly deps: {
      commands: CommandHandler;
      readStore: ReadStore;
      projections: Projections;
      blocks: Blocks;
      logger: Logger;
      clock: () => Date;
      settings: CallSettings;
      connections: ConnectionDirectory;
      /** Where the disconnect deadlines are kept (PostgreSQL with DATABASE_URL); this process's memory by default. */
      graceDeadlines?: CallGraceDeadlines;
    },
  ) {
    this.graceDeadlines = deps.graceDeadlines ?? new MemoryCallGraceDeadlines();
  }

  async initiate(
    callerId: string,
    input: { calleeId?: string | undefined; groupId?: string | undefined; media: CallMedia; clientCallId?: string | undefined },
    metadata: CommandMetadata,
  ): Promise<{ call: PublicCall; iceServers: IceServer[] }> {
    const callId = deriveId('call', callerId, input.clientCallId ?? metadata.commandId);
    const existing = await this.docOf(callId, callerId);
    if (existing) return { call: toPublicCall(existing), iceServers: this.iceServers(callerId) };
    let invitees: string[];
    let blocked = false;
    let lines: string[];
    let parties: string[];
    if (input.groupId !== undefined) {
      const group = await this.deps.readStore.collection<GroupDoc>(GROUPS).findOne({ _id: input.groupId });
      if (!group || !group.memberIds.includes(callerId)) throw new NotFoundError('Group');
      const blockedMembers = await this.deps.blocks.among(callerId, group.memberIds);
      invitees = group.memberIds.filter((id) => id !== callerId && !blockedMembers.has(id));
      lines = [`group-${input.groupId}`, `user-${callerId}`];
      parties = [callerId];
    } else {
      const calleeId = input.calleeId!;
      if (calleeId === callerId || !(await this.deps.readStore.collection<UserDoc>(USERS).findOne({ _id: calleeId })))
        throw new NotFoundError('User');
      blocked = await this.deps.blocks.between(callerId, calleeId);
      invitees = [calleeId];
      lines = [`user-${callerId}`, `user-${calleeId}`];
      parties = [callerId, calleeId];
    }
    const ringDeadline = new Date(Date.parse(metadata.now) + this.deps.settings.ringTimeoutMs).toISOString();
    // Glare (both call each other at once), a busy callee, a group that has a call: the lines decide atomically.
    const taken = await this.takeLines(callId, parties, lines.sort(), metadata);
    try {
      await this.run(callId, {
        type: 'InitiateCall',
        data: { callId, callerId, invitees, groupId: input.groupId ?? null, media: input.media, ringDeadline, blocked },
        metadata,
      });
    } catch (error) {
      await this.releaseLines(callId, taken, metadata);
      throw error;
    }
    return { call: toPublicCall(await this.require(callId, callerId)), iceServers: this.iceServers(callerId) };
  }

  /**
   * Takes each line in order (the same order for everyone, so two calls over the same lines do not each hold one
   * and wait for the other); on a busy line gives back what it took. A line whose call is over is taken over.
   */
  private async takeLines(callId: string, parties: string[], owners: readonly string[], metadata: CommandMetadata): Promise<string[]> {
    const taken: string[] = [];
    const callerId = parties[0]!;
    // A line seen busy refuses before anything is appended; only a race between two takes gives a line back.
    for (const busy of owners) {
      const { state } = await this.deps.commands.load(callLineDecider, callLineStream(busy));
      if (state.callId !== null && state.callId !== callId && !(await this.isOver(state.callId, state.takenAt, metadata.now))) {
        throw this.lineBusy(busy, state, callerId);
      }
    }
    let owner = '';
    try {
      for (owner of owners) {
        const stream = callLineStream(owner);
        const { state } = await this.deps.commands.load(callLineDecider, stream);
        const freed =
          state.callId !== null && state.callId !== callId && (await this.isOver(state.callId, state.takenAt, metadata.now))
            ? state.callId
            : null;
        await this.deps.commands.handle(callLineDecider, stream, {
          type: 'TakeCallLine',
          data: { owner, callId, parties, freed },
          metadata: { ...metadata, commandId: deriveId(metadata.commandId, 'line', owner) },
        });
        taken.push(owner);
      }
      return taken;
    } catch (error) {
      await this.releaseLines(callId, taken, metadata);
      if (!(error instanceof DomainError) || error.code !== 'call_in_progress') throw error;
      // A group's line names its call to any member (the caller is one); a person's, to the two it is between.
      throw this.lineBusy(owner, (await this.deps.commands.load(callLineDecider, callLineStream(owner))).state, callerId);
    }
  }

  /** A group's line names its call to any member (the caller is one); a person's, only to the two it is between. */
  private lineBusy(owner: string, line: { callId: string | null; parties: readonly string[] }, callerId: string): ConflictError {
    const named = owner.startsWith('group-') || line.parties.includes(callerId);
    return named && line.callId
      ? new ConflictError('call_in_progress', 'You already have a call in progress: answer or join it', { callId: line.callId })
      : new ConflictError('call_in_progress', 'Busy: already in a call');
  }

  private async releaseLines(callId: string, owners: readonly string[], metadata: CommandMetadata): Promise<void> {
    for (const owner of owners) {
      await this.deps.commands.handle(callLineDecider, callLineStream(owner), {
        type: 'ReleaseCallLine',
        data: { owner, callId },
        metadata: { ...metadata, commandId: deriveId(metadata.commandId, 'release', owner) },
      });
    }
  }

  /** Whether the call holding a line is over: ended, rung out, or never started after a while. */
  private async isOver(callId: string, takenAt: string | null, now: string): Promise<boolean> {
    const { state } = await this.deps.commands.load(callDecider, callStream(callId));
    if (state.status === 'none') return takenAt === null || Date.parse(now) - Date.parse(takenAt) >= UNSTARTED_LINE_MS;
    return state.status === 'ended' || (state.status === 'ringing' && Date.parse(now) >= Date.parse(state.ringDeadline));
  }

  async answer(userId: string, callId: string, connectionId: number, metadata: CommandMetadata): Promise<PublicCall> {
    await this.ownConnection(userId, connectionId);
    const doc = await this.require(callId, userId);
    const command: CallCommand = doc.groupId
      ? { type: 'JoinCall', data: { callId, userId, connectionId, maxParticipants: this.deps.settings.meshMaxParticipants }, metadata }
      : { type: 'AnswerCall', data: { callId, userId, connectionId }, metadata };
    await this.run(callId, command);
    return toPublicCall(await this.require(callId, userId));
  }

  async reject(userId: string, callId: string, metadata: CommandMetadata): Promise<PublicCall> {
    await this.require(callId, userId);
    await this.run(callId, { type: 'RejectCall', data: { callId, userId }, metadata });
    return toPublicCall(await this.require(callId, userId));
  }

  /**
   * Hangs up: ends a direct call (cancels one still ringing); in a group call the caller ends it for everyone and
   * anyone else leaves (the decider tells which, on the call's own state).
   */
  async end(userId: string, callId: string, reason: CallEndReason, metadata: CommandMetadata): Promise<PublicCall> {
    await this.require(callId, userId);
    await this.run(callId, { type: 'EndCall', data: { callId, userId, reason }, metadata });
    return toPublicCall(await this.require(callId, userId));
  }

  async history(userId: string, query: { before?: number | undefined; limit: number }) {
    const docs = await this.deps.readStore
      .collection<CallDoc>(CALLS)
      .find(
        { userId, ...(query.before !== undefined ? { position: { $lt: query.before } } : {}) },
        { sort: { position: -1 }, limit: query.limit + 1 },
      );
    const page = docs.slice(0, query.limit);
    return { calls: page.map(toPublicCall), hasMore: docs.length > query.limit, cursors: { before: page.at(-1)?.position ?? null } };
  }

  async get(userId: string, callId: string): Promise<PublicCall> {
    return toPublicCall(await this.require(callId, userId));
  }

  iceServers(userId: string): IceServer[] {
    return this.turn(userId).iceServers;
  }

  turn(userId: string) {
    const { stunUris, turnUris, turnSharedSecret, turnTtlSeconds } = this.deps.settings;
    return turnCredentials({
      userId,
      now: this.deps.clock(),
      ttlSeconds: turnTtlSeconds,
      stunUris,
      turnUris,
      sharedSecret: turnSharedSecret,
    });
  }

  /** A ringing device says so: the caller's devices get `call.ringing`. */
  async ack(userId: string, callId: string): Promise<void> {
    const doc = await this.require(callId, userId);
    if (doc.state !== 'ringing' || doc.direction !== 'incoming') return;
    this.deps.connections.sendToUser(doc.callerId, JSON.stringify({ type: 'call.ringing', callId, userId }));
  }

  /**
   * Relays signaling to one connection, only between the devices in an answered call: the caller's devices and the
   * answering device of a direct call, or the devices that joined a group call. Anything else is not found.
   */
  async signal(
    userId: string,
    fromConnectionId: number,
    frame: { callId: string; toConnectionId: number; kind: string; payload: unknown },
  ): Promise<void> {
    const doc = await this.require(frame.callId, userId);
    const toUserId = await this.deps.connections.ownerOf(frame.toConnectionId);
    // A group call's parties are its group's members now: whoever was removed or left the group is out of it.
    const members = doc.groupId
      ? new Set((await this.deps.readStore.collection<GroupDoc>(GROUPS).findOne({ _id: doc.groupId }))?.memberIds ?? [])
      : null;
    // The caller signals from any of their devices (they started the call over REST, from no socket in particular),
    // while they are in the call: a caller who left a group call is out of it like anyone else.
    const inCall = (id: string | null, connectionId: number) =>
      id !== null &&
      (!members || members.has(id)) &&
      (doc.connections.some((c) => c.userId === id && c.connectionId === connectionId) ||
        (id === doc.callerId && doc.participants.includes(id)));
    if (
      doc.state !== 'active' ||
      toUserId === null ||
      toUserId === userId ||
      !inCall(userId, fromConnectionId) ||
      !inCall(toUserId, frame.toConnectionId)
    ) {
      throw new NotFoundError('Call connection');
    }
    const bytes = JSON.stringify({
      type: 'call.signal',
      callId: frame.callId,
      fromUserId: userId,
      fromConnectionId,
      kind: frame.kind,
      payload: frame.payload,
    });
    if (!(await this.deps.connections.sendToConnection(frame.toConnectionId, bytes))) throw new NotFoundError('Call connection');
  }

  /**
   * A socket closed: a party of an active call with no socket left for the grace period drops out of it; one with a
   * socket on another instance when the grace ends stays in.
   */
  disconnected(userId: string): void {
    if (this.deps.connections.isConnectedHere(userId) || this.graceTimers.has(userId)) return;
    // Kept as state too, so the deadline outlives this process: the next start, or another instance, finds it.
    const dueAt = new Date(this.deps.clock().getTime() + this.deps.settings.disconnectGraceMs);
    this.writeDeadline(userId, () => this.graceDeadlines.arm(userId, dueAt));
    const timer = setTimeout(() => {
      this.graceTimers.delete(userId);
      if (this.deps.connections.isConnectedHere(userId)) return;
      this.own(
        (this.deadlineWrites.get(userId) ?? Promise.resolve())
          .then(() => this.graceDeadlines.claim(userId, this.deps.clock()))
          .then(async (due) => (due && !(await this.deps.connections.isConnected(userId)) ? this.dropOut(userId) : undefined)),
      );
    }, this.deps.settings.disconnectGraceMs);
    timer.unref();
    this.graceTimers.set(userId, timer);
  }

  connected(userId: string): void {
    const timer = this.graceTimers.get(userId);
    if (timer) clearTimeout(timer);
    this.graceTimers.delete(userId);
    this.writeDeadline(userId, () => this.graceDeadlines.disarm(userId));
  }

  /** Resolves once the deadline writes started so far are done (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.deadlineWrites.values()]);
  }

  private writeDeadline(userId: string, write: () => Promise<void>): void {
    const next = (this.deadlineWrites.get(userId) ?? Promise.resolve())
      .then(write)
      .catch((error: unknown) => this.deps.logger.error({ err: error, userId }, 'call deadline write failed'));
    this.deadlineWrites.set(userId, next);
    void next.finally(() => {
      if (this.deadlineWrites.get(userId) === next) this.deadlineWrites.delete(userId);
    });
  }

  /**
   * The timers' one pass (every second, and at startup): calls still ringing past their deadline are missed, calls
   * over the maximum duration end, and after a restart active calls whose parties have no socket get the grace.
   */
  tick(startup = false): Promise<void> {
    if (this.ticking) return this.ticking;
    const pass = this.timerPass(startup).finally(() => {
      this.ticking = null;
    });
    this.ticking = pass;
    return pass;
  }

  private async timerPass(startup: boolean): Promise<void> {
    const now = this.deps.clock();
    const calls = this.deps.readStore.collection<CallDoc>(CALLS);
    const due = await calls.find({ state: 'ringing', ringDeadline: { $lte: now.toISOString() } });
    for (const callId of new Set(due.map((doc) => doc.callId))) await this.system(callId, { type: 'MissCall', data: { callId } }, now);
    const longest = new Date(now.getTime() - this.deps.settings.maxDurationMs).toISOString();
    const active = await calls.find({ state: 'active' });
    for (const doc of active) {
      if (doc.answeredAt && doc.answeredAt <= longest)
        await this.system(doc.callId, { type: 'EndCall', data: { callId: doc.callId, userId: null, reason: 'max_duration' } }, now);
      else if (startup && doc.participants.includes(doc.userId)) this.disconnected(doc.userId);
    }
    // Deadlines armed before a restart or by another instance: each fires once, wherever it is taken.
    for (const userId of await this.graceDeadlines.takeDue(now)) {
      if (!(await this.deps.connections.isConnected(userId))) await this.dropOut(userId);
    }
  }

  stop(): void {
    for (const timer of this.graceTimers.values()) clearTimeout(timer);
    this.graceTimers.clear();
  }

  private async dropOut(userId: string): Promise<void> {
    const active = await this.deps.readStore.collection<CallDoc>(CALLS).find({ userId, state: 'active' });
    for (const doc of active) {
      if (!doc.participants.includes(userId)) continue;
      const command: CallCommand =
        doc.groupId && doc.participants.length > 2
          ? { type: 'LeaveCall', data: { callId: doc.callId, userId }, metadata: this.systemMetadata(this.deps.clock()) }
          : {
              type: 'EndCall',
              data: { callId: doc.callId, userId: null, reason: 'disconnected' },
              metadata: this.systemMetadata(this.deps.clock()),
            };
      await this.run(doc.callId, command);
    }
  }

  private async ownConnection(userId: string, connectionId: number): Promise<void> {
    if ((await this.deps.connections.ownerOf(connectionId)) !== userId) {
      throw new ValidationError('connectionId: one of your open sockets (its id is in the welcome frame)', { field: 'connectionId' });
    }
  }

  private async system(callId: string, command: Omit<CallCommand, 'metadata'>, now: Date): Promise<void> {
    await this.run(callId, { ...command, metadata: this.systemMetadata(now) } as CallCommand);
  }

  private systemMetadata(now: Date): CommandMetadata {
    const correlationId = `call-timer:${newId()}`;
    return { commandId: newId(), correlationId, causationId: correlationId, userId: null, now: now.toISOString() };
  }

  private own(promise: Promise<unknown>): void {
    promise.catch((error: unknown) => this.deps.logger.error({ err: error }, 'call timer failed'));
  }

  private docOf(callId: string, userId: string): Promise<CallDoc | null> {
    return this.deps.readStore.collection<CallDoc>(CALLS).findOne({ _id: callDocId(callId, userId) });
  }

  /** The caller's or invitee's view of the call; a member who has since left the group is no longer a party. */
  private async require(callId: string, userId: string): Promise<CallDoc> {
    const doc = await this.docOf(callId, userId);
    if (!doc) throw new NotFoundError('Call');
    if (doc.groupId && doc.state !== 'ended') {
      const group = await this.deps.readStore.collection<GroupDoc>(GROUPS).findOne({ _id: doc.groupId });
      if (!group?.memberIds.includes(userId)) throw new NotFoundError('Call');
    }
    return doc;
  }

  private async run(callId: string, command: CallCommand): Promise<void> {
    const result = await this.deps.commands.handle(callDecider, callStream(callId), command);
    if (result.position !== null) await this.deps.projections.waitFor(result.position);
  }
}
