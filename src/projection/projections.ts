import type { CheckpointStatus } from '../sqlite/checkpointer.ts';
import type { CommittedBatch, ProjectionStall, ProjectionStatus } from './runner.ts';

export interface ProjectionsStatus {
  head: number;
  projectors: ProjectionStatus[];
  lag: number;
  stalled: ProjectionStall[];
  leader: boolean;
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
  headPosition(): Promise<number>;
}
