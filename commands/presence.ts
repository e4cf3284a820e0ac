import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';

/**
 * The presence of one user (`presence-<userId>`): the durable facts only. Coming online and going offline are
 * recorded once per session as the shell's tracker sees them (after its reconnect grace); idle/away flips and
 * heartbeats are ephemeral and never reach the stream. The mode is what the user chose and outlives sessions.
 */
export const presenceStream = (userId: string) => `presence-${userId}`;

export type PresenceMode = 'auto' | 'away' | 'dnd' | 'invisible';
export type OfflineReason = 'disconnect' | 'server_restart';

export type UserCameOnline = Event<'UserCameOnline', { userId: string; at: string }>;
/** `lastSeenAt` is coarse on purpose (the shell rounds it down) and never later than `at`. */
export type UserWentOffline = Event<'UserWentOffline', { userId: string; at: string; lastSeenAt: string; reason: OfflineReason }>;
export type PresenceModeSet = Event<
  'PresenceModeSet',
  {
    userId: string;
    mode: PresenceMode;
    statusText: string | null;
    expiresAt: string | null;
    at: string;
  }
>;
export type PresenceEvent = UserCameOnline | UserWentOffline | PresenceModeSet;
export const presenceEventTypes = [
  'UserCameOnline',
  'UserWentOffline',
  'PresenceModeSet',
] as const satisfies readonly PresenceEvent['type'][];

export type MarkOnline = Command<'MarkOnline', { userId: string }>;
export type MarkOffline = Command<'MarkOffline', { userId: string; lastSeenAt: string; reason: OfflineReason }>;
export type SetPresenceMode = Command<
  'SetPresenceMode',
  {
    userId: string;
    mode: PresenceMode;
    statusText: string | null;
    expiresAt: string | null;
  }
>;
export type PresenceCommand = MarkOnline | MarkOffline | SetPresenceMode;

export interface PresenceState {
  status: 'online' | 'offline';
  mode: PresenceMode;
  statusText: string | null;
  expiresAt: string | null;
  /** From the last UserWentOffline; null until the user has gone offline once. */
  lastSeenAt: string | null;
}

export const initialState: PresenceState = { status: 'offline', mode: 'auto', statusText: null, expiresAt: null, lastSeenAt: null };

export function evolve(state: PresenceState, event: PresenceEvent): PresenceState {
  switch (event.type) {
    case 'UserCameOnline':
      return { ...state, status: 'online' };
    case 'UserWentOffline':
      return { ...state, status: 'offline', lastSeenAt: event.data.lastSeenAt };
    case 'PresenceModeSet':
      return { ...state, mode: event.data.mode, statusText: event.data.statusText, expiresAt: event.data.expiresAt };
    default:
      return assertNever(event);
  }
}

/**
 * The shell's last-seen time is accepted as given, except that it can never be later than the event itself
 * (clock skew between processes, or a time that does not parse): then it is the event's own time.
 */
const notAfter = (lastSeenAt: string, at: string) => {
  const seen = Date.parse(lastSeenAt);
  return Number.isNaN(seen) || seen > Date.parse(at) ? at : lastSeenAt;
};

export function decide(command: PresenceCommand, state: PresenceState): Decision<PresenceEvent> {
  const at = command.metadata.now;
  const { userId } = command.data;
  switch (command.type) {
    case 'MarkOnline':
      return state.status === 'online' ? [] : [{ type: 'UserCameOnline', data: { userId, at } }];
    case 'MarkOffline': {
      // Never online, or already offline (a second process, a retried shutdown): nothing to record.
      if (state.status === 'offline') return [];
      const { lastSeenAt, reason } = command.data;
      return [{ type: 'UserWentOffline', data: { userId, at, lastSeenAt: notAfter(lastSeenAt, at), reason } }];
    }
    case 'SetPresenceMode': {
      const { mode, statusText, expiresAt } = command.data;
      if (mode === state.mode && statusText === state.statusText && expiresAt === state.expiresAt) return [];
      return [{ type: 'PresenceModeSet', data: { userId, mode, statusText, expiresAt, at } }];
    }
    default:
      return assertNever(command);
  }
}

export const presenceDecider: Decider<PresenceCommand, PresenceEvent, PresenceState> = {
  eventTypes: presenceEventTypes,
  initialState,
  evolve,
  decide,
};
