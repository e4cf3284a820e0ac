import type { EventUpcaster } from '../../commands/shared/upcasting.ts';
import type { RecordedEvent } from '../eventstore/port.ts';
import { WriteBackFailed, type BatchContext } from './context.ts';
import type { Projector } from './projector.ts';

/** A projector threw on an event: names both, so the runner can hold that projector there and report it. */
export class ProjectorFailed extends Error {
  constructor(
    readonly projector: string,
    readonly event: RecordedEvent,
    readonly reason: unknown,
  ) {
    super(
      `Projector ${projector} failed on ${event.type} at position ${event.position}: ${reason instanceof Error ? reason.message : String(reason)}`,
    );
    this.name = 'ProjectorFailed';
  }
}

/**
 * Applies events event by event across projectors, in the projectors' order, so a projector that reads another's
 * collection sees it as of the event (the feed reads group membership as it was when a message was sent). Each
 * event is upcast once. `shouldApply` lets the runner skip what a projector's checkpoint covers and what it holds.
 * The batch's changes are written back at the end (see createProjectionContext), in the caller's transaction.
 */
export async function applyInOrder(
  events: readonly RecordedEvent[],
  projectors: readonly Projector[],
  context: BatchContext,
  upcaster: EventUpcaster,
  shouldApply: (projector: Projector, event: RecordedEvent) => boolean = () => true,
  /** Given, each projector's time spent applying is added up in it, in seconds (the batch's metrics). */
  timings?: Map<string, number>,
): Promise<void> {
  for (const event of events) {
    const upcast = upcaster.upcast(event);
    for (const projector of projectors) {
      if (!projector.handles.has(event.type) || !shouldApply(projector, event)) continue;
      context.attribute(projector.name, event);
      const started = timings ? performance.now() : 0;
      try {
        await projector.apply(upcast, context);
        if (timings) timings.set(projector.name, (timings.get(projector.name) ?? 0) + (performance.now() - started) / 1000);
      } catch (error) {
        // A read that wrote back another projector's change and failed: that projector's failure.
        throw writeBackFailure(error) ?? new ProjectorFailed(projector.name, event, error);
      }
    }
  }
  try {
    await context.flush();
  } catch (error) {
    throw writeBackFailure(error) ?? error;
  }
}

/** A change that could not be written back is the failure of the projector and event that made it. */
const writeBackFailure = (error: unknown): ProjectorFailed | null =>
  error instanceof WriteBackFailed ? new ProjectorFailed(error.projector, error.event, error.reason) : null;
