import { projectionSkipDecider, projectionSkipStream, type ProjectionSkipEvent } from '../../commands/projectionSkips.ts';
import { eventOf } from '../../commands/shared/events.ts';
import type { EventStore, RecordedEvent } from '../eventstore/port.ts';
import type { ReadStore } from '../readstore/port.ts';
import { CHECKPOINTS, type Projector } from './projector.ts';

/** The positions operators chose to pass over, per projector (`npm run skip-event`); read by the runner and the rebuild. */
export async function loadSkips(eventStore: EventStore, projectors: readonly Projector[]): Promise<Map<string, ReadonlySet<number>>> {
  const skips = new Map<string, ReadonlySet<number>>();
  for (const projector of projectors) {
    const events = await eventStore.readStream(projectionSkipStream(projector.name));
    const state = events.reduce(
      (current, event) => projectionSkipDecider.evolve(current, eventOf<ProjectionSkipEvent>(projectionSkipDecider.eventTypes, event)),
      projectionSkipDecider.initialState,
    );
    if (state.positions.size > 0) skips.set(projector.name, state.positions);
  }
  return skips;
}

/** Whether `projector` should apply the event at `position`, given the recorded skips. */
export const notSkipped =
  (skips: ReadonlyMap<string, ReadonlySet<number>>) =>
  (projector: Projector, position: number): boolean =>
    !skips.get(projector.name)?.has(position);

/** Where a projector stands relative to a position an operator wants it to skip. */
export interface HoldCheck {
  /** Its checkpoint: the last position it applied (null: none yet). */
  checkpoint: number | null;
  /** The event it would apply next (null: it is at the log's head). */
  next: RecordedEvent | null;
  /** Held there: the event at `position` is the next one it would apply, as a held projector's checkpoint stops just before it. */
  held: boolean;
}

/**
 * Whether `projector` stands at `position`: the runner keeps a held projector's checkpoint at the event before the
 * one it is held at, so that event is the next one after its checkpoint. A skip anywhere else would drop an event
 * the projector applies fine (and a rebuild would then delete what it made).
 */
export async function holdCheck(eventStore: EventStore, readStore: ReadStore, projector: string, position: number): Promise<HoldCheck> {
  const stored = await readStore.collection<{ _id: string; position: number }>(CHECKPOINTS).findOne({ _id: projector });
  const checkpoint = stored?.position ?? null;
  const [next] = await eventStore.readAll({ after: checkpoint ?? 0, maxCount: 1 });
  return { checkpoint, next: next ?? null, held: next?.position === position };
}
