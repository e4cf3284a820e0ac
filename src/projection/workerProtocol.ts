import type { RecordedEvent } from '../eventstore/port.ts';
import type { BatchTrace } from '../tracing/batchTrace.ts';
import type { CheckpointStatus } from '../sqlite/checkpointer.ts';
import type { ProjectionsStatus } from './projections.ts';
import type { Publication } from './projector.ts';
import type { BatchTiming, ProjectionProgress } from './runner.ts';

/** Messages from the serving thread to the projection worker. */
export type ToWorker =
  /** The serving thread committed appends: read them. */
  { type: 'wake' } | { type: 'status'; id: number } | { type: 'stop' };

/** Messages from the projection worker to the serving thread. */
export type FromWorker =
  | { type: 'ready'; progress: ProjectionProgress }
  | {
      type: 'committed';
      progress: ProjectionProgress;
      publications: Publication[];
      events: RecordedEvent[];
      trace?: BatchTrace | undefined;
      timing?: BatchTiming | undefined;
    }
  | { type: 'status'; id: number; status?: ProjectionsStatus; storage?: CheckpointStatus | undefined; error?: string }
  | { type: 'failed'; error: string }
  | { type: 'stopped' };
