import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';

/**
 * An operator's decision to pass over one event in one projector, because the projector cannot apply it (a
 * bug, bad data) and the rest of the read model must not wait for a fix. Recorded as an event
 * (`projection-skips-<projector>`) so the skip is part of the audited history, not a silent edit of a checkpoint.
 */
export const projectionSkipStream = (projector: string) => `projection-skips-${projector}`;

export type ProjectionEventSkipped = Event<
  'ProjectionEventSkipped',
  {
    projector: string;
    position: number;
    eventId: string;
    eventType: string;
    reason: string;
    skippedAt: string;
  }
>;
export type ProjectionSkipEvent = ProjectionEventSkipped;
export const projectionSkipEventTypes = ['ProjectionEventSkipped'] as const satisfies readonly ProjectionSkipEvent['type'][];

export type SkipProjectionEvent = Command<
  'SkipProjectionEvent',
  {
    projector: string;
    position: number;
    eventId: string;
    eventType: string;
    reason: string;
  }
>;
export type ProjectionSkipCommand = SkipProjectionEvent;

export interface ProjectionSkipState {
  /** Skipped positions of this projector. */
  positions: ReadonlySet<number>;
}

export const initialState: ProjectionSkipState = { positions: new Set() };

export function evolve(state: ProjectionSkipState, event: ProjectionSkipEvent): ProjectionSkipState {
  switch (event.type) {
    case 'ProjectionEventSkipped':
      return { positions: new Set([...state.positions, event.data.position]) };
    default:
      return assertNever(event.type);
  }
}

export function decide(command: ProjectionSkipCommand, state: ProjectionSkipState): Decision<ProjectionSkipEvent> {
  switch (command.type) {
    case 'SkipProjectionEvent': {
      if (state.positions.has(command.data.position)) return [];
      return [{ type: 'ProjectionEventSkipped', data: { ...command.data, skippedAt: command.metadata.now } }];
    }
    default:
      return assertNever(command.type);
  }
}

export const projectionSkipDecider: Decider<ProjectionSkipCommand, ProjectionSkipEvent, ProjectionSkipState> = {
  eventTypes: projectionSkipEventTypes,
  initialState,
  evolve,
  decide,
};
