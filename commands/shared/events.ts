/**
 * What every command and event carries besides its payload. Time, ids and the acting user arrive from the
 * shell in the command metadata so deciders stay pure and replayable.
 */
export interface CommandMetadata {
  /** Unique per command; event ids derive from it so a retried command appends nothing new. */
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  /** The authenticated user acting, or null for anonymous commands such as registration. */
  readonly userId: string | null;
  /** Set when `userId` is a bot account acting with its bot token (POST /api/bots); absent otherwise. */
  readonly actorIsBot?: true;
  /** ISO-8601 time the command was accepted. */
  readonly now: string;
  /** The id the client gave its request (`X-Request-Id`), if any: recorded, never trusted as the correlation id. */
  readonly clientRequestId?: string;
}

export interface Command<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: CommandMetadata;
}

export interface Event<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
}

/**
 * What a command decides: nothing, or exactly one event. One event per command is a rule of the event store
 * port (in EventStoreDB the events of one append share a commit position, which would not give each event a
 * position of its own), and this type makes every decider keep it by construction.
 */
export type Decision<E extends Event> = readonly [] | readonly [E];

/** A decider: pure functions over one aggregate's stream. */
export interface Decider<C extends Command, E extends Event, S> {
  /** Every event type the aggregate's stream may hold: a stored event is read back as `E` by its type name. */
  readonly eventTypes: readonly E['type'][];
  readonly initialState: S;
  readonly evolve: (state: S, event: E) => S;
  readonly decide: (command: C, state: S) => Decision<E>;
}

/** Compile-time proof that a switch handled every case. */
export function assertNever(value: never): never {
  throw new Error(`Unhandled case: ${JSON.stringify(value)}`);
}

/**
 * Narrows a stored event to one of an aggregate's events by its type name. The name fixes the shape of `data`:
 * only deciders append events, and older shapes are upcast on read.
 */
export function isEventOf<E extends Event>(types: EventTypes<E>, event: Event): event is E {
  return types instanceof Set ? (types as ReadonlySet<string>).has(event.type) : (types as readonly string[]).includes(event.type);
}

/** An aggregate's event type names (`userEventTypes`), or a set of some of them. */
export type EventTypes<E extends Event> = ReadonlySet<E['type']> | readonly E['type'][];

/** The event as one of an aggregate's events; a type outside `types` is a wiring error (a projector's `handles`). */
export function eventOf<E extends Event>(types: EventTypes<E>, event: Event): E {
  if (isEventOf<E>(types, event)) return event;
  throw new Error(`Unexpected event type ${event.type}: expected one of ${[...types].join(', ')}`);
}
