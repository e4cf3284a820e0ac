import type { EventUpcaster } from '../../commands/shared/upcasting.ts';
import type { EventMetadata, RecordedEvent } from '../eventstore/port.ts';
import { redactSecrets } from './redact.ts';

/**
 * What an audit view shows of one event, and what an export line holds. Pure: secrets are redacted here, so
 * nothing built from an entry can show them.
 */
// A type, not an interface: a plain object type is what the route's loose zod schema (an index signature) accepts.
export type AuditEntry = {
  position: number;
  stream: string;
  revision: number;
  /** When the command was accepted (`metadata.timestamp`). */
  time: string;
  type: string;
  /** The acting user; null for the system or an anonymous registration. */
  userId: string | null;
  correlationId: string;
  /** The client's own request id, when it gave one (events stored before it was recorded have none). */
  clientRequestId?: string;
  causationId: string;
  eventId: string;
  /** The version the event was stored with (1 when the metadata names none). */
  schemaVersion: number;
  /** The version of `data`: the latest shape, after upcasting. */
  upcastVersion: number;
  /** Upcast to the latest shape, as handlers and projectors see it. */
  data: unknown;
  /** With `--raw`: the data exactly as stored (version `schemaVersion`). */
  raw?: unknown;
};

export function toAuditEntry(event: RecordedEvent, upcaster: EventUpcaster, options: { raw?: boolean } = {}): AuditEntry {
  const upcast = upcaster.upcast(event);
  const { metadata } = event;
  return {
    position: event.position,
    stream: event.stream,
    revision: event.revision,
    time: metadata.timestamp,
    type: event.type,
    userId: metadata.userId,
    correlationId: metadata.correlationId,
    ...(metadata.clientRequestId === undefined ? {} : { clientRequestId: metadata.clientRequestId }),
    causationId: metadata.causationId,
    eventId: metadata.eventId,
    schemaVersion: metadata.schemaVersion ?? 1,
    upcastVersion: upcast.metadata.schemaVersion ?? 1,
    data: redactSecrets(upcast.data),
    ...(options.raw ? { raw: redactSecrets(event.data) } : {}),
  };
}

/** One line of `audit export`: the event as stored (not upcast), secrets redacted. */
export interface ExportRecord {
  position: number;
  stream: string;
  revision: number;
  type: string;
  data: unknown;
  metadata: EventMetadata;
}

export const toExportRecord = (event: RecordedEvent): ExportRecord => ({
  position: event.position,
  stream: event.stream,
  revision: event.revision,
  type: event.type,
  data: redactSecrets(event.data),
  metadata: event.metadata,
});
