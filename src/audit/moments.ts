import type { RecordedEvent } from '../eventstore/port.ts';

/**
 * A point in the history as an auditor names it: a global position or an ISO-8601 time (compared with the time
 * each event's command was accepted, `metadata.timestamp`). Pure.
 */
export type Moment = { readonly kind: 'position'; readonly position: number } | { readonly kind: 'time'; readonly time: string };

/** Both ends inclusive; either may be absent. */
export interface Range {
  readonly from?: Moment | undefined;
  readonly to?: Moment | undefined;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** A position (digits) or an ISO time (normalized to UTC); null for anything else. */
export function parseMoment(text: string): Moment | null {
  if (/^\d+$/.test(text)) {
    const position = Number(text);
    return Number.isSafeInteger(position) ? { kind: 'position', position } : null;
  }
  const ms = ISO_DATE.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isFinite(ms) ? { kind: 'time', time: new Date(ms).toISOString() } : null;
}

const timeOf = (event: RecordedEvent) => Date.parse(event.metadata.timestamp);

/** Whether the event is at or after `moment`. */
export function atOrAfter(event: RecordedEvent, moment: Moment): boolean {
  return moment.kind === 'position' ? event.position >= moment.position : timeOf(event) >= Date.parse(moment.time);
}

/** Whether the event is at or before `moment`. */
export function atOrBefore(event: RecordedEvent, moment: Moment): boolean {
  return moment.kind === 'position' ? event.position <= moment.position : timeOf(event) <= Date.parse(moment.time);
}

export const inRange = (event: RecordedEvent, range: Range): boolean =>
  (!range.from || atOrAfter(event, range.from)) && (!range.to || atOrBefore(event, range.to));

/** Where a scan of the range starts reading (exclusive, as `readAll({ after })`). Times cannot narrow it: the log is in position order. */
export const scanStart = (range: Range): number => (range.from?.kind === 'position' ? Math.max(0, range.from.position - 1) : 0);

/** Where a scan of the range can stop (inclusive), given the head: a position bound, else the head. */
export const scanEnd = (range: Range, head: number): number => (range.to?.kind === 'position' ? Math.min(head, range.to.position) : head);

/** How a moment is written back in output. */
export const describeMoment = (moment: Moment): string => (moment.kind === 'position' ? `position ${moment.position}` : moment.time);
