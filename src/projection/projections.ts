import type { CheckpointStatus } from '../sqlite/checkpointer.ts';
import type { CommittedBatch, ProjectionStall, ProjectionStatus, RebuiltAtStart } from './runner.ts';

export interface ProjectionsStatus {
  head: number;
  projectors: ProjectionStatus[];
  lag: number;
  stalled: ProjectionStall[];
  leader: boolean;
  /** With a lease (instances sharing one database): the instance that projects now, null while none holds it. */
  projectingInstance?: string | null;
  /** Present when the start found checkpoints beyond the log's head and rebuilt (`--rebuild-projections`). */
  rebuiltAtStart?: RebuiltAtStart;
}

/**
 * What the rest of the server needs of the projections, wherever they run: in this thread (`ProjectionRunner`)
 * or in a worker thread of their own (`WorkerProjections`).
 */
export interface Projections {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves once every projector that is not held has applied the event at `position` (503 after a while). */
  waitFor(position: number, timeoutMs?: number): Promise<void>;
  /** The position every projector that is not held has reached. */
  readonly position: number;
  positionOf(name: string): number;
  status(): Promise<ProjectionsStatus>;
  /** The read store's WAL checkpointing, where the projections write it. */
  readStoreStatus(): Promise<CheckpointStatus | undefined>;
  /** Each committed batch: its events (those the server reacts to) and what the projectors published. */
  onCommitted(listener: (batch: CommittedBatch) => void): () => void;
  /**
   * With a lease: each time the positions moved, whichever instance projected (this one's batches, or another's as
   * announced through the read store's notices). Lets every instance push what was projected to its own sockets.
   */
  onProgress?(listener: () => void): () => void;
  headPosition(): Promise<number>;
  /**
   * Backpressure for writers that do not wait for their own projection (socket sends): resolves at once while
   * the projections keep up, otherwise once they are within MAX_PROJECTION_LAG events of the log's head.
   * Without it acks would outrun the projection and deliveries fall seconds behind.
   */
  admit(): Promise<void>;
}

export const MAX_PROJECTION_LAG = 1_000;

/**
 * The position every projector that is not held has reached: what read-your-writes waits for. With every
 * projector held, the position the subscription has committed.
 */
export function reachedPosition(positions: Iterable<[string, number]>, held: (name: string) => boolean, committed: number): number {
  let lowest = Number.POSITIVE_INFINITY;
  for (const [name, position] of positions) if (!held(name)) lowest = Math.min(lowest, position);
  return Number.isFinite(lowest) ? lowest : committed;
}

/** `admit()` in terms of a projection's position and waiters: shared by both implementations. */
export async function admitWithin(
  projections: Pick<Projections, 'position' | 'headPosition' | 'waitFor'>,
  maxLag = MAX_PROJECTION_LAG,
): Promise<void> {
  const head = await projections.headPosition();
  if (head - projections.position <= maxLag) return;
  // A projection that does not catch up in time is reported by the write's own wait, or on /ping: let it through.
  await projections.waitFor(head - maxLag).catch(() => undefined);
}
