import { LRUCache } from 'lru-cache';
import { eventOf, type Command, type Decider, type Event } from '../commands/shared/events.ts';
import { approximateSize } from './approximateSize.ts';
import { ConcurrencyError } from '../commands/shared/errors.ts';
import type { EventUpcaster } from '../commands/shared/upcasting.ts';
import type { AppendResult, EventStore, ExpectedRevision, NewEvent, RecordedEvent } from './eventstore/port.ts';
import { deriveId } from './ids.ts';
import { Tracing } from './tracing/tracing.ts';
import { CORRELATION_ID } from './tracing/batchTrace.ts';

export interface HandleResult<S, E> {
  readonly state: S;
  /** The events this command appended (empty when the decider found nothing to do). */
  readonly events: readonly E[];
  /** Revision of the stream after the command. */
  readonly revision: number;
  /** Global position of the last appended event, or null when nothing was appended. */
  readonly position: number | null;
}

interface CachedState {
  state: unknown;
  revision: number;
}

const MAX_ATTEMPTS = 8;
/** Folded states kept in memory, by their approximate size. */
export const DEFAULT_STATE_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * The shell around a decider: load the stream (from a cache of folded states bounded by bytes, reading only what
 * is newer), decide, append with the expected revision, and on a concurrency conflict drop the cache and retry.
 * Neither a refusal nor "nothing to do" decided on a cached state is final: it is decided again on a fresh load.
 */
/** Told of each append (metrics): the events of a durable one and how long it took, or that one failed. */
export interface AppendObserver {
  appended(events: ReadonlyArray<{ type: string; data: unknown }>, seconds: number): void;
  appendFailed(outcome: 'conflict' | 'error'): void;
}

export class CommandHandler {
  private readonly cache: LRUCache<string, CachedState>;
  private acknowledged = 0;
  /** What the log held at start-up (`acknowledge`): every category's writes may reach that far. */
  private acknowledgedAtStart = 0;
  /** Per stream category (the stream name up to its first `-`): the newest position appended to one of its streams. */
  private readonly acknowledgedByCategory = new Map<string, number>();
  private observer: AppendObserver | null = null;

  constructor(
    private readonly eventStore: EventStore,
    private readonly upcaster: EventUpcaster,
    maxCacheBytes = DEFAULT_STATE_CACHE_BYTES,
    private readonly tracing: Tracing = Tracing.off,
  ) {
    this.cache = new LRUCache<string, CachedState>({
      maxSize: maxCacheBytes,
      sizeCalculation: (entry, stream) => Math.max(1, approximateSize(entry.state) + stream.length * 2 + 16),
    });
  }

  /**
   * The newest position this handler appended (or was told of with `acknowledge`): a read that must see every
   * write acknowledged before it waits for the projections to reach it, without asking the store for its head.
   */
  get acknowledgedPosition(): number {
    return this.acknowledged;
  }

  /**
   * The newest position this handler appended to a stream of `category` (`user` for `user-<id>`), or the log's
   * head at start-up: a read that needs only that category's writes (a token check needs the user's) waits for less.
   */
  acknowledgedPositionOf(category: string): number {
    return Math.max(this.acknowledgedByCategory.get(category) ?? 0, this.acknowledgedAtStart);
  }

  observeAppends(observer: AppendObserver): void {
    this.observer = observer;
  }

  /** What the log held at start-up: acknowledged to someone before a restart, perhaps not projected yet. */
  acknowledge(position: number): void {
    this.acknowledged = Math.max(this.acknowledged, position);
    this.acknowledgedAtStart = Math.max(this.acknowledgedAtStart, position);
  }

  /** Bytes the cached states hold (approximately). */
  get cachedBytes(): number {
    return this.cache.calculatedSize;
  }

  async load<C extends Command, E extends Event, S>(decider: Decider<C, E, S>, stream: string): Promise<CachedState & { state: S }> {
    const cached = this.cache.get(stream) as (CachedState & { state: S }) | undefined;
    let state = cached ? cached.state : decider.initialState;
    let revision = cached ? cached.revision : -1;
    const newer = await this.eventStore.readStream(stream, { fromRevision: revision + 1 });
    for (const recorded of newer) {
      state = decider.evolve(state, eventOf<E>(decider.eventTypes, this.upcaster.upcast(recorded)));
      revision = recorded.revision;
    }
    const loaded = { state, revision };
    this.remember(stream, loaded);
    return loaded;
  }

  /** A stream's events in their latest shape, for audit-style reads such as a message's edit history. */
  async readStream(stream: string): Promise<RecordedEvent[]> {
    return (await this.eventStore.readStream(stream)).map((event) => this.upcaster.upcast(event));
  }

  /** The state as cached, possibly behind the stream (for facts that never revert, such as a registration). */
  cached<C extends Command, E extends Event, S>(_decider: Decider<C, E, S>, stream: string): (CachedState & { state: S }) | undefined {
    return this.cache.get(stream) as (CachedState & { state: S }) | undefined;
  }

  /**
   * Loads, decides, appends with the expected revision, and retries on a conflict. `expectNew`: the stream is
   * almost always new (a message's, whose id the command derives), so the first attempt decides on the initial
   * state without reading it; if it exists after all (a retried send), the append's `no-stream` conflict makes
   * the next attempt read it, and a refusal on the assumed state is decided again on the stored one.
   */
  handle<C extends Command, E extends Event, S>(
    decider: Decider<C, E, S>,
    stream: string,
    command: C,
    options: { expectNew?: boolean } = {},
  ): Promise<HandleResult<S, E>> {
    if (!this.tracing.enabled) return this.decideAndAppend(decider, stream, command, options);
    const { metadata } = command;
    return this.tracing.span(
      `decide ${command.type}`,
      {
        [CORRELATION_ID]: metadata.correlationId,
        'letsapp.command_id': metadata.commandId,
        'letsapp.stream': stream,
      },
      async (span) => {
        const result = await this.decideAndAppend(decider, stream, command, options);
        span?.setAttribute('letsapp.events_appended', result.events.length);
        return result;
      },
    );
  }

  private async decideAndAppend<C extends Command, E extends Event, S>(
    decider: Decider<C, E, S>,
    stream: string,
    command: C,
    options: { expectNew?: boolean },
  ): Promise<HandleResult<S, E>> {
    for (let attempt = 1; ; attempt++) {
      // A cached state may be stale if another process wrote the stream; the expected revision catches that,
      // and the retry reads the stream afresh.
      const cached = this.cache.get(stream) as (CachedState & { state: S }) | undefined;
      const assumed = !cached && options.expectNew && attempt === 1 ? { state: decider.initialState, revision: -1 } : undefined;
      let { state, revision } = cached ?? assumed ?? (await this.load(decider, stream));
      let events: readonly E[];
      try {
        events = decider.decide(command, state);
      } catch (error) {
        // Refused on a state that may be behind the store: the assumed new stream may exist after all (a retry,
        // which the decider answers from what is stored), and a cached state may miss what another instance wrote
        // (a member it added). A refusal is final only when decided on what the store holds now.
        if (!assumed && !cached) throw error;
        ({ state, revision } = await this.load(decider, stream));
        events = decider.decide(command, state);
      }
      // "Nothing to do" on a cached state may be stale (another instance wrote the stream, and no append will
      // catch it): decide again on what the store holds now.
      if (events.length === 0 && cached) {
        ({ state, revision } = await this.load(decider, stream));
        events = decider.decide(command, state);
      }
      if (events.length === 0) return { state, events, revision, position: null };
      const { metadata } = command;
      const toAppend: NewEvent[] = events.map((event, index) => ({
        type: event.type,
        data: event.data,
        metadata: {
          eventId: deriveId(metadata.commandId, stream, String(index)),
          correlationId: metadata.correlationId,
          causationId: metadata.commandId,
          userId: metadata.userId,
          ...(metadata.actorIsBot ? { actorIsBot: true as const } : {}),
          timestamp: metadata.now,
          schemaVersion: this.upcaster.latestVersion(event.type),
          ...(metadata.clientRequestId === undefined ? {} : { clientRequestId: metadata.clientRequestId }),
        },
      }));
      const started = performance.now();
      try {
        const result = await this.append(stream, toAppend, revision === -1 ? 'no-stream' : revision, metadata.correlationId);
        this.observer?.appended(toAppend, (performance.now() - started) / 1000);
        this.acknowledged = Math.max(this.acknowledged, result.position);
        const category = categoryOf(stream);
        this.acknowledgedByCategory.set(category, Math.max(this.acknowledgedByCategory.get(category) ?? 0, result.position));
        const next = events.reduce(decider.evolve, state);
        // An idempotent retry returns the original revision, which may be behind what we folded: re-read then.
        if (result.revision === revision + events.length) this.remember(stream, { state: next, revision: result.revision });
        else this.cache.delete(stream);
        return { state: next, events, revision: result.revision, position: result.position };
      } catch (error) {
        this.cache.delete(stream);
        this.observer?.appendFailed(error instanceof ConcurrencyError ? 'conflict' : 'error');
        if (!(error instanceof ConcurrencyError) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  /** Traced: in an `append` span whose context the events carry, so their projection batch joins the trace. */
  private append(stream: string, events: NewEvent[], expected: ExpectedRevision, correlationId: string): Promise<AppendResult> {
    if (!this.tracing.enabled) return this.eventStore.append(stream, events, expected);
    return this.tracing.span(
      'append',
      { [CORRELATION_ID]: correlationId, 'letsapp.stream': stream, 'letsapp.events': events.length },
      () => {
        const traceparent = this.tracing.activeTraceparent();
        const traced =
          traceparent === undefined ? events : events.map((event) => ({ ...event, metadata: { ...event.metadata, traceparent } }));
        return this.eventStore.append(stream, traced, expected);
      },
    );
  }

  private remember(stream: string, entry: CachedState): void {
    this.cache.set(stream, entry);
  }
}

/** A stream's category: its name up to the first `-` (`user` for `user-<id>`, `message` for `message-<id>`). */
const categoryOf = (stream: string): string => {
  const dash = stream.indexOf('-');
  return dash === -1 ? stream : stream.slice(0, dash);
};
