import type { CheckpointStatus } from '../sqlite/checkpointer.ts';
/**
 * The event store port. Both adapters (embedded SQLite, EventStoreDB) honour the same contract, proven by
 * test/src/eventstore.contract.ts:
 * - append with optimistic concurrency on the stream revision, idempotent by event id;
 * - read a stream forwards, read everything from a global position;
 * - subscribe to everything: catch-up first, then live, each position exactly once, pull-based so a slow
 *   consumer only slows itself.
 * Revisions are 0-based per stream (as in EventStoreDB); positions are global, increasing, and > 0.
 */
export interface EventMetadata {
  readonly eventId: string;
  readonly correlationId: string;
  readonly causationId: string;
  /** The user whose command produced the event, or null (system, anonymous registration). */
  readonly userId: string | null;
  /** The user is a bot account acting with its bot token; absent for everyone else (and on events before bots). */
  readonly actorIsBot?: true;
  /** ISO-8601 time the command was accepted. */
  readonly timestamp: string;
  /** The shape version of `data`; absent means 1. Upcasters lift old versions on read. */
  readonly schemaVersion?: number;
  /**
   * The id the client gave the request (`X-Request-Id`), beside the server's `correlationId`. Absent on events of
   * requests without one and on every event stored before it was recorded.
   */
  readonly clientRequestId?: string;
  /**
   * The W3C trace context of the append, when it was traced (OTEL_EXPORTER_OTLP_ENDPOINT set and sampled): the
   * projection batch that applies the event joins that trace. Absent otherwise.
   */
  readonly traceparent?: string;
}

export interface NewEvent {
  readonly type: string;
  readonly data: unknown;
  readonly metadata: EventMetadata;
}

export interface RecordedEvent<Type extends string = string, Data = unknown> {
  readonly stream: string;
  readonly revision: number;
  readonly position: number;
  readonly type: Type;
  readonly data: Data;
  readonly metadata: EventMetadata;
}

/** An exact revision (the last event's revision), 'no-stream' for a new stream, or 'any'. */
export type ExpectedRevision = number | 'no-stream' | 'any';

export interface AppendResult {
  /** Revision of the last event now in the stream. */
  readonly revision: number;
  /** Global position of the last event appended (or found, for an idempotent retry). */
  readonly position: number;
}

export interface ReadAllOptions {
  /** Exclusive: only events with a greater position. 0 reads from the beginning. */
  readonly after?: number;
  readonly maxCount?: number;
}

export interface ReadStreamOptions {
  /** Inclusive. */
  readonly fromRevision?: number;
  readonly maxCount?: number;
}

/** Receives events in position order; the next batch is read only once the returned promise settles. */
export type BatchHandler = (events: readonly RecordedEvent[]) => Promise<void> | void;

export interface Subscription {
  /** Resolves when the subscription has stopped; rejects if the handler or the store failed. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export interface SubscribeOptions {
  /** Exclusive start position. */
  readonly after: number;
  readonly batchSize?: number;
}

/**
 * An append carries exactly one event. In EventStoreDB the events of one append share a commit position, which
 * the port's single-number position could not tell apart; every decider emits at most one event per command
 * (`Decision` in commands/shared/events.ts), and every adapter refuses anything else with this error.
 */
export function assertOneEvent(stream: string, events: readonly NewEvent[]): NewEvent {
  if (events.length !== 1) {
    throw new Error(
      `An append carries exactly one event, got ${events.length} for ${stream}: ` +
        'in EventStoreDB the events of one append share a commit position, which a single-number position cannot tell apart',
    );
  }
  return events[0]!;
}

export interface EventStore {
  readonly kind: 'embedded' | 'eventstoredb' | 'postgres';
  /** Appends one event (see `assertOneEvent`); the array shape keeps room for a (commit, prepare) position later. */
  append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult>;
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  subscribeToAll(options: SubscribeOptions, handler: BatchHandler): Subscription;
  /** The embedded store's WAL checkpointing (size, last success, consecutive failures), for /ping. */
  checkpointStatus?(): CheckpointStatus | undefined;
  /** Position of the newest event, 0 when empty. */
  headPosition(): Promise<number>;
  close(): Promise<void>;
}
