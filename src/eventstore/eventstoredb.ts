import {
  ANY, BACKWARDS, END, EventStoreDBClient, FORWARDS, NO_STREAM, START, StreamNotFoundError, WrongExpectedVersionError,
  excludeSystemEvents, jsonEvent, type AppendExpectedRevision, type JSONType, type ReadPosition, type ResolvedEvent,
} from '@eventstore/db-client';
import { ConcurrencyError } from '../../commands/shared/errors.ts';
import type {
  AppendResult, BatchHandler, EventMetadata, EventStore, ExpectedRevision, NewEvent, ReadAllOptions, ReadStreamOptions,
  RecordedEvent, SubscribeOptions, Subscription,
} from './port.ts';

/**
 * EventStoreDB behind the event store port. Positions are the commit positions of the transaction file
 * (exact as numbers below 2^53 bytes of log). Reads from a position are inclusive in EventStoreDB and
 * exclusive in the port, so the event at `after` itself is skipped.
 */
export class EventStoreDbEventStore implements EventStore {
  readonly kind = 'eventstoredb';

  private constructor(private readonly client: EventStoreDBClient) {}

  static async connect(connectionString: string): Promise<EventStoreDbEventStore> {
    const client = EventStoreDBClient.connectionString(connectionString);
    return new EventStoreDbEventStore(client);
  }

  async append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const expectedRevision: AppendExpectedRevision =
      expected === 'any' ? ANY : expected === 'no-stream' ? NO_STREAM : BigInt(expected);
    try {
      const result = await this.client.appendToStream(
        stream,
        events.map((event) => jsonEvent({
          id: event.metadata.eventId,
          type: event.type,
          data: event.data as JSONType,
          metadata: event.metadata as unknown as JSONType,
        })),
        { expectedRevision },
      );
      return { revision: Number(result.nextExpectedRevision), position: Number(result.position?.commit ?? 0n) };
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) {
        const actual = typeof error.actualVersion === 'bigint' ? Number(error.actualVersion) : error.actualVersion;
        throw new ConcurrencyError(stream, expected, actual);
      }
      throw error;
    }
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
      throw error;
    }
    return events;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = options.after ?? 0;
    const events: RecordedEvent[] = [];
    const read = this.client.readAll({
      direction: FORWARDS,
      fromPosition: fromPosition(after),
      // One more than asked: the event at `after` itself comes back and is dropped.
      ...(options.maxCount ? { maxCount: options.maxCount + 1 } : {}),
    });
    for await (const resolved of read) {
      const event = toRecorded(resolved);
      if (event && event.position > after) events.push(event);
      if (options.maxCount && events.length >= options.maxCount) break;
    }
    return events;
  }

  async headPosition(): Promise<number> {
    for await (const resolved of this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 100 })) {
      const event = toRecorded(resolved);
      if (event) return event.position;
    }
    return 0;
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

const fromPosition = (after: number): ReadPosition =>
  after === 0 ? START : { commit: BigInt(after), prepare: BigInt(after) };

function toRecorded(resolved: ResolvedEvent): RecordedEvent | null {
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
    metadata: event.metadata as unknown as EventMetadata,
  };
}
