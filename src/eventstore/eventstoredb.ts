import {
  ANY,
  BACKWARDS,
  CancelledError,
  DeadlineExceededError,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  NotLeaderError,
  START,
  StreamDeletedError,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError as EventStoreUnavailableError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type CurrentRevision,
  type Direction,
  type JSONType,
  type Position,
  type ReadPosition,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { ConcurrencyError, UnavailableError } from '../../commands/shared/errors.ts';
import type {
  AppendResult,
  BatchHandler,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
} from './port.ts';
import { assertOneEvent } from './port.ts';
import { storedMetadata } from './metadata.ts';

/** What the adapter uses of the client; tests hand in a fake with the same behaviour. */
export type EventStoreDbClient = Pick<EventStoreDBClient, 'appendToStream' | 'readStream' | 'readAll' | 'subscribeToAll' | 'dispose'>;

/** Events asked for per request when paging through $all. */
export const PAGE_SIZE = 1_024;

/**
 * EventStoreDB behind the event store port. Positions are the commit positions of the transaction file
 * (exact as numbers below 2^53 bytes of log). The events of one append share a commit position, so an append
 * carries exactly one event (every decider emits at most one per command): then an event's commit and prepare
 * positions are equal, and one number names it. Reads from a position are inclusive in EventStoreDB and
 * exclusive in the port, so the event at `after` itself is skipped. System events (`$`-types) and non-JSON
 * events are not the port's: reads step over them.
 */
export class EventStoreDbEventStore implements EventStore {
  readonly kind = 'eventstoredb';

  private constructor(private readonly client: EventStoreDbClient) {}

  /** Connects lazily (the client dials on first use); a malformed connection string rejects, it does not throw. */
  static connect(connectionString: string): Promise<EventStoreDbEventStore> {
    return Promise.resolve(connectionString).then((parsed) => EventStoreDbEventStore.over(EventStoreDBClient.connectionString(parsed)));
  }

  static over(client: EventStoreDbClient): EventStoreDbEventStore {
    return new EventStoreDbEventStore(client);
  }

  async append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const event = assertOneEvent(stream, events);
    const expectedRevision: AppendExpectedRevision = expected === 'any' ? ANY : expected === 'no-stream' ? NO_STREAM : BigInt(expected);
    try {
      const result = await this.client.appendToStream(
        stream,
        jsonEvent({
          id: event.metadata.eventId,
          type: event.type,
          data: event.data as JSONType,
          metadata: { ...event.metadata },
        }),
        { expectedRevision },
      );
      // With throwOnAppendFailure=false in the connection string the client answers a wrong expected revision so.
      if (!result.success) throw new ConcurrencyError(stream, expected, actualRevision(result.nextExpectedRevision));
      const revision = Number(result.nextExpectedRevision);
      const position = result.position ? Number(result.position.commit) : await this.positionOf(stream, revision);
      return { revision, position };
    } catch (error) {
      throw fromEventStoreError(error, stream, expected);
    }
  }

  /**
   * The position of a stored event, for an acknowledgement that carried none. Servers before 22.6 do not return
   * positions on stream reads: the head is then an upper bound, safe for read-your-writes waits.
   */
  private async positionOf(stream: string, revision: number): Promise<number> {
    for await (const resolved of this.client.readStream(stream, { direction: FORWARDS, fromRevision: BigInt(revision), maxCount: 1 })) {
      const commit = resolved.event?.position?.commit;
      if (commit !== undefined) return Number(commit);
    }
    return this.headPosition();
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const events: RecordedEvent[] = [];
    try {
      const read = this.client.readStream(stream, {
        direction: FORWARDS,
        fromRevision: options.fromRevision ? BigInt(options.fromRevision) : START,
        ...(options.maxCount ? { maxCount: options.maxCount } : {}),
      });
      for await (const resolved of read) {
        const event = toRecorded(resolved);
        if (event) events.push(event);
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw fromEventStoreError(error, stream);
    }
    return events;
  }

  /**
   * Pages forwards through $all until `maxCount` of the port's events are found or the log ends: a page of
   * system events only is stepped over, never taken for the end (the rebuild stops at an empty answer). The
   * client has no server-side filter on reads of $all (only on subscriptions), so filtering happens here.
   */
  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = options.after ?? 0;
    // As on the embedded store (SQL LIMIT): 0 reads nothing, a negative count or none reads to the end.
    const wanted = options.maxCount === undefined || options.maxCount < 0 ? Number.POSITIVE_INFINITY : options.maxCount;
    const events: RecordedEvent[] = [];
    if (wanted === 0) return events;
    try {
      for await (const resolved of this.scanAll(FORWARDS, fromPosition(after), () => Math.min(wanted - events.length, PAGE_SIZE))) {
        const event = toRecorded(resolved);
        if (event && event.position > after) events.push(event);
        if (events.length >= wanted) break;
      }
    } catch (error) {
      throw fromEventStoreError(error, '$all');
    }
    return events;
  }

  /**
   * Scans backwards from the end to the newest of the port's events; 0 when there is none. Asked on every send (the
   * projections' backpressure), so the first request reads the newest record or two only (usually one of ours);
   * pages of PAGE_SIZE follow only past system events.
   */
  async headPosition(): Promise<number> {
    let pages = 0;
    try {
      for await (const resolved of this.scanAll(BACKWARDS, END, () => (pages++ === 0 ? 1 : PAGE_SIZE))) {
        const event = toRecorded(resolved);
        if (event) return event.position;
      }
    } catch (error) {
      throw fromEventStoreError(error, '$all');
    }
    return 0;
  }

  /**
   * Every record of $all from `from` in `direction`, once each, read a page at a time (each page is read to its
   * end before it is handed out, so stopping early leaves no read open). A read from a position includes the
   * record at it, so each next page starts at the last record seen and that record is skipped. A page shorter
   * than asked is the end of the log.
   */
  private async *scanAll(direction: Direction, from: ReadPosition, pageSize: () => number): AsyncGenerator<AllStreamResolvedEvent> {
    let start = from;
    let last: Position | undefined;
    const isNew = (position: Position) =>
      !last || (direction === FORWARDS ? comparePositions(position, last) > 0 : comparePositions(position, last) < 0);
    for (;;) {
      // One more than wanted: the first record of a page may be the last one of the page before.
      const ask = pageSize() + 1;
      const page: AllStreamResolvedEvent[] = [];
      for await (const resolved of this.client.readAll({ direction, fromPosition: start, maxCount: ask })) page.push(resolved);
      let progressed = false;
      for (const resolved of page) {
        const position = positionOf(resolved);
        if (!position || !isNew(position)) continue;
        last = position;
        progressed = true;
        yield resolved;
      }
      if (page.length < ask || !progressed || !last) return;
      start = last;
    }
  }

  subscribeToAll({ after }: SubscribeOptions, handler: BatchHandler): Subscription {
    // Resumes from the last event actually handled, never from a checkpoint notice.
    const subscription = this.client.subscribeToAll({ fromPosition: fromPosition(after), filter: excludeSystemEvents() });
    const done = (async () => {
      for await (const resolved of subscription) {
        const event = toRecorded(resolved);
        if (!event || event.position <= after) continue;
        // Iterating pauses the stream while the handler runs, so a slow consumer only slows itself.
        await handler([event]);
      }
    })();
    return {
      done,
      stop: async () => {
        await subscription.unsubscribe();
        await done.catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }
}

/** The port's position as EventStoreDB's: one-event appends have equal commit and prepare positions. */
export const fromPosition = (after: number): ReadPosition => (after === 0 ? START : { commit: BigInt(after), prepare: BigInt(after) });

/** $all is ordered by commit, then prepare position. */
export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

function positionOf(resolved: AllStreamResolvedEvent): Position | undefined {
  if (resolved.event?.position) return resolved.event.position;
  return resolved.commitPosition === undefined ? undefined : { commit: resolved.commitPosition, prepare: resolved.commitPosition };
}

/** The stream's revision as the port reports it: a number, or 'no-stream' (the client says 'no_stream' or -1). */
function actualRevision(current: CurrentRevision): number | 'no-stream' {
  return typeof current === 'bigint' && current >= 0n ? Number(current) : 'no-stream';
}

/** The discovery loop's own Error when no node answered gossip (Client/discovery.js of the client). */
const DISCOVERY_FAILED = /^Failed to discover after \d+ attempts\.$/;

/** gRPC status codes of a raw ServiceError the client did not convert: DEADLINE_EXCEEDED and UNAVAILABLE. */
const UNAVAILABLE_STATUS = new Set([4, 14]);

/**
 * The port's error for an EventStoreDB client failure: a wrong expected revision is our ConcurrencyError; a
 * server that cannot be reached or cannot serve now (unavailable, deadline exceeded, cancelled by the server,
 * aborted, not the leader, discovery failed) or a deleted stream is UnavailableError (503), with the client's
 * error as its `cause`. Anything else is returned unchanged.
 */
export function fromEventStoreError(error: unknown, stream: string, expected: ExpectedRevision = 'any'): unknown {
  if (error instanceof WrongExpectedVersionError) return new ConcurrencyError(stream, expected, actualRevision(error.actualVersion));
  if (error instanceof StreamDeletedError) {
    return Object.assign(new UnavailableError(`Stream ${stream} is deleted in the event store`, { stream }), { cause: error });
  }
  if (
    error instanceof EventStoreUnavailableError ||
    error instanceof DeadlineExceededError ||
    error instanceof CancelledError ||
    error instanceof TimeoutError ||
    error instanceof NotLeaderError ||
    isUnavailableServiceError(error) ||
    (error instanceof Error && DISCOVERY_FAILED.test(error.message))
  ) {
    return Object.assign(new UnavailableError('The event store cannot be reached; try again shortly'), { cause: error });
  }
  return error;
}

function isUnavailableServiceError(error: unknown): boolean {
  const { code, details } = (error ?? {}) as { code?: unknown; details?: unknown };
  return error instanceof Error && typeof code === 'number' && typeof details === 'string' && UNAVAILABLE_STATUS.has(code);
}

function toRecorded(resolved: ResolvedEvent | AllStreamResolvedEvent): RecordedEvent | null {
  const event = resolved.event;
  if (!event || event.type.startsWith('$') || !event.isJson) return null;
  const position = event.position?.commit ?? resolved.commitPosition;
  if (position === undefined) return null;
  return {
    stream: event.streamId,
    revision: Number(event.revision),
    position: Number(position),
    type: event.type,
    data: event.data,
    metadata: storedMetadata.parse(event.metadata),
  };
}
