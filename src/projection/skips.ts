import { projectionSkipDecider, projectionSkipStream, type ProjectionSkipEvent } from '../../commands/projectionSkips.ts';
import type { EventStore } from '../eventstore/port.ts';
import type { Projector } from './projector.ts';

/** The positions operators chose to pass over, per projector (`npm run skip-event`); read by the runner and the rebuild. */
export async function loadSkips(eventStore: EventStore, projectors: readonly Projector[]): Promise<Map<string, ReadonlySet<number>>> {
  const skips = new Map<string, ReadonlySet<number>>();
  for (const projector of projectors) {
    const events = await eventStore.readStream(projectionSkipStream(projector.name));
    const state = events.reduce((current, event) => projectionSkipDecider.evolve(current, event as unknown as ProjectionSkipEvent),
      projectionSkipDecider.initialState);
    if (state.positions.size > 0) skips.set(projector.name, state.positions);
  }
  return skips;
}

/** Whether `projector` should apply the event at `position`, given the recorded skips. */
export const notSkipped = (skips: ReadonlyMap<string, ReadonlySet<number>>) =>
  (projector: Projector, position: number): boolean => !skips.get(projector.name)?.has(position);
