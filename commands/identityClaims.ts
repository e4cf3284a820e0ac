import { ConflictError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';

/**
 * An identity claim makes an email address or a username unique across users. Each value has its own stream
 * (`identity-<kind>-<digest>`) that registration claims before it writes the user, so of two concurrent
 * registrations with one email exactly one wins: the other's append meets a stream that already exists.
 */
export type IdentityKind = 'email' | 'username';

/** A claim whose owner never finished registering may be taken over after this long. */
export const STALE_CLAIM_MS = 60_000;

export type IdentityClaimed = Event<'IdentityClaimed', { kind: IdentityKind; ownerId: string; claimedAt: string }>;
export type IdentityReleased = Event<'IdentityReleased', { kind: IdentityKind; ownerId: string; releasedAt: string }>;
export type IdentityClaimEvent = IdentityClaimed | IdentityReleased;
export const identityClaimEventTypes = ['IdentityClaimed', 'IdentityReleased'] as const satisfies readonly IdentityClaimEvent['type'][];

export type ClaimIdentity = Command<
  'ClaimIdentity',
  {
    kind: IdentityKind;
    ownerId: string;
    /**
     * Done by the shell when the claim is stale: the current owner's registration was voided on its own stream
     * (`UserRegistrationAbandoned`), so it can never complete with this value afterwards.
     */
    currentOwnerAbandoned: boolean;
  }
>;
export type ReleaseIdentity = Command<'ReleaseIdentity', { kind: IdentityKind; ownerId: string }>;
export type IdentityClaimCommand = ClaimIdentity | ReleaseIdentity;

export interface IdentityClaimState {
  ownerId: string | null;
  claimedAt: string | null;
}

export const initialState: IdentityClaimState = { ownerId: null, claimedAt: null };

export function evolve(state: IdentityClaimState, event: IdentityClaimEvent): IdentityClaimState {
  switch (event.type) {
    case 'IdentityClaimed':
      return { ownerId: event.data.ownerId, claimedAt: event.data.claimedAt };
    case 'IdentityReleased':
      return state.ownerId === event.data.ownerId ? initialState : state;
    default:
      return assertNever(event);
  }
}

/** A claim held this long by someone else may be taken over, once its owner's registration is voided. */
export function claimIsStale(state: IdentityClaimState, now: string): boolean {
  return state.claimedAt !== null && Date.parse(now) - Date.parse(state.claimedAt) >= STALE_CLAIM_MS;
}

export function decide(command: IdentityClaimCommand, state: IdentityClaimState): Decision<IdentityClaimEvent> {
  const { now } = command.metadata;
  const { kind, ownerId } = command.data;
  switch (command.type) {
    case 'ClaimIdentity': {
      if (state.ownerId === ownerId) return [];
      if (state.ownerId !== null) {
        const abandoned = command.data.currentOwnerAbandoned && claimIsStale(state, now);
        if (!abandoned) throw new ConflictError(`${kind}_taken`, `This ${kind} is already registered`, { field: kind });
      }
      return [{ type: 'IdentityClaimed', data: { kind, ownerId, claimedAt: now } }];
    }
    case 'ReleaseIdentity':
      return state.ownerId === ownerId ? [{ type: 'IdentityReleased', data: { kind, ownerId, releasedAt: now } }] : [];
    default:
      return assertNever(command);
  }
}

export const identityClaimDecider: Decider<IdentityClaimCommand, IdentityClaimEvent, IdentityClaimState> = {
  eventTypes: identityClaimEventTypes,
  initialState,
  evolve,
  decide,
};
