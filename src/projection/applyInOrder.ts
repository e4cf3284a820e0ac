import type { EventUpcaster } from '../../commands/shared/upcasting.ts';
import type { RecordedEvent } from '../eventstore/port.ts';
import type { ProjectionContext, Projector } from './projector.ts';

/**
 * Applies events event by event across projectors, in the projectors' order, so a projector that reads another's
 * collection sees it as of the event (the feed reads group membership as it was when a message was sent). Each
 * event is upcast once. `appliedUpTo` lets a projector skip events its checkpoint already covers.
 */
export async function applyInOrder(
  events: readonly RecordedEvent[],
  projectors: readonly Projector[],
  context: ProjectionContext,
  upcaster: EventUpcaster,
  appliedUpTo: (projector: Projector) => number = () => 0,
): Promise<void> {
  for (const event of events) {
    const upcast = upcaster.upcast(event);
    for (const projector of projectors) {
      if (event.position > appliedUpTo(projector) && projector.handles.has(event.type)) await projector.apply(upcast, context);
    }
  }
}
