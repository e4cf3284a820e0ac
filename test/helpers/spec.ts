import type { ExecutionContext } from 'ava';
import type { Command, CommandMetadata, Decider, Event } from '../../commands/shared/events.ts';

export const metadata = (overrides: Partial<CommandMetadata> = {}): CommandMetadata => ({
  commandId: 'command-1',
  correlationId: 'correlation-1',
  causationId: 'causation-1',
  userId: 'user-1',
  now: '2026-01-01T00:00:00.000Z',
  ...overrides,
});

/**
 * Decider specifications: given past events, when a command, then new events or a typed error.
 *   spec(decider).given([...]).when(command).then([...])
 */
export function spec<C extends Command, E extends Event, S>(decider: Decider<C, E, S>) {
  return {
    given(events: readonly E[]) {
      const state = events.reduce(decider.evolve, decider.initialState);
      return {
        when(command: C) {
          const run = () => decider.decide(command, state);
          return {
            then(t: ExecutionContext, expected: readonly E[]) {
              t.deepEqual(run(), expected);
            },
            thenThrows(t: ExecutionContext, type: new (...args: any[]) => Error, code?: string) {
              const error = t.throws(run, { instanceOf: type });
              if (code !== undefined) t.is(Reflect.get(error ?? {}, 'code'), code);
            },
          };
        },
      };
    },
  };
}
