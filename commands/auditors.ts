import { NotFoundError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';

/**
 * Who may read the event history over REST (`auditors`, one stream): an operator grants and revokes it with
 * `npm run grant-auditor`, and each grant is itself an event, so it is audited like everything else.
 */
export const AUDITORS_STREAM = 'auditors';

export type AuditorGranted = Event<'AuditorGranted', { userId: string; at: string }>;
export type AuditorRevoked = Event<'AuditorRevoked', { userId: string; at: string }>;
export type AuditorEvent = AuditorGranted | AuditorRevoked;
export const auditorEventTypes = ['AuditorGranted', 'AuditorRevoked'] as const satisfies readonly AuditorEvent['type'][];

/** `userExists` is looked up by the shell. */
export type GrantAuditor = Command<'GrantAuditor', { userId: string; userExists: boolean }>;
export type RevokeAuditor = Command<'RevokeAuditor', { userId: string }>;
export type AuditorCommand = GrantAuditor | RevokeAuditor;

export interface AuditorState {
  auditors: ReadonlySet<string>;
}

export const initialState: AuditorState = { auditors: new Set() };

export function evolve(state: AuditorState, event: AuditorEvent): AuditorState {
  const auditors = new Set(state.auditors);
  switch (event.type) {
    case 'AuditorGranted':
      auditors.add(event.data.userId);
      break;
    case 'AuditorRevoked':
      auditors.delete(event.data.userId);
      break;
    default:
      return assertNever(event);
  }
  return { auditors };
}

export function decide(command: AuditorCommand, state: AuditorState): Decision<AuditorEvent> {
  const at = command.metadata.now;
  const { userId } = command.data;
  switch (command.type) {
    case 'GrantAuditor':
      if (!command.data.userExists) throw new NotFoundError('User', { userId });
      return state.auditors.has(userId) ? [] : [{ type: 'AuditorGranted', data: { userId, at } }];
    case 'RevokeAuditor':
      return state.auditors.has(userId) ? [{ type: 'AuditorRevoked', data: { userId, at } }] : [];
    default:
      return assertNever(command);
  }
}

export const auditorDecider: Decider<AuditorCommand, AuditorEvent, AuditorState> = {
  eventTypes: auditorEventTypes,
  initialState,
  evolve,
  decide,
};
