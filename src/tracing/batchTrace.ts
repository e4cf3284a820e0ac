import type { SpanContext } from '@opentelemetry/api';
import type { RecordedEvent } from '../eventstore/port.ts';

/** The attribute every LetsApp span names its correlation id with (the request's, or a socket frame's). */
export const CORRELATION_ID = 'letsapp.correlation_id';
export const BATCH_SPAN = 'projection batch';
export const PUSH_SPAN = 'push';

/** An event of a batch that was appended inside a recorded trace. */
export interface TracedEvent {
  readonly position: number;
  readonly traceparent: string;
  readonly correlationId: string;
}

/**
 * A committed projection batch as a span needs it: timed where it ran (the worker thread, perhaps), recorded by the
 * serving thread, which holds the exporter. Plain data: it crosses the worker protocol.
 */
export interface BatchTrace {
  /** Epoch milliseconds. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly events: number;
  readonly firstPosition: number;
  readonly lastPosition: number;
  readonly thread: 'worker' | 'serving';
  readonly traced: readonly TracedEvent[];
}

/** Epoch milliseconds with the monotonic clock's resolution, comparable across threads. */
export const epochMs = () => performance.timeOrigin + performance.now();

/** The batch's trace, or undefined when none of its events was traced (tracing off: nothing is built). */
export function batchTraceOf(events: readonly RecordedEvent[], startedAt: number, thread: BatchTrace['thread']): BatchTrace | undefined {
  let traced: TracedEvent[] | undefined;
  for (const event of events) {
    const { traceparent, correlationId } = event.metadata;
    if (traceparent !== undefined) (traced ??= []).push({ position: event.position, traceparent, correlationId });
  }
  if (!traced) return undefined;
  return {
    startedAt,
    endedAt: epochMs(),
    events: events.length,
    firstPosition: events[0]!.position,
    lastPosition: events[events.length - 1]!.position,
    thread,
    traced,
  };
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** W3C Trace Context, version 00. */
export const traceparentOf = (span: SpanContext) => `00-${span.traceId}-${span.spanId}-${span.traceFlags.toString(16).padStart(2, '0')}`;

export function parseTraceparent(value: string): SpanContext | null {
  const match = TRACEPARENT.exec(value);
  if (!match || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) return null;
  return { traceId: match[1]!, spanId: match[2]!, traceFlags: Number.parseInt(match[3]!, 16), isRemote: true };
}
