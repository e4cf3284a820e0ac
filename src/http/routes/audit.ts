import { z } from 'zod';
import { NotFoundError } from '../../../commands/shared/errors.ts';
import { eventUpcaster } from '../../../commands/upcasters.ts';
import type { Logger } from 'pino';
import { ENTITY_KINDS, entityStream } from '../../audit/entities.ts';
import { toAuditEntry } from '../../audit/entries.ts';
import { searchLog, streamAfter } from '../../audit/search.ts';
import type { Principal } from '../../auth/authenticator.ts';
import type { EventStore, RecordedEvent } from '../../eventstore/port.ts';
import { id, queryInteger } from '../../contract/validation.ts';
import { reply, route } from '../routeTable.ts';

export interface AuditRouteDeps {
  eventStore: EventStore;
  logger: Logger;
}

/** Events a search reads per request at most: the answer says where it stopped, for the next page. */
const SCAN_LIMIT = 20_000;

const entry = z
  .looseObject({
    position: z.number().int(),
    stream: z.string(),
    revision: z.number().int(),
    time: z.string(),
    type: z.string(),
    userId: z.string().nullable(),
    correlationId: z.string(),
    clientRequestId: z.string().optional(),
    causationId: z.string(),
    eventId: z.string(),
    schemaVersion: z.number().int(),
    upcastVersion: z.number().int(),
    data: z.unknown(),
  })
  .meta({ id: 'AuditEntry' });
const page = z
  .strictObject({
    events: z.array(entry),
    /** Pass as `after` for the next page; null when the log's head was reached. */
    next: z.number().int().nullable(),
  })
  .meta({ id: 'AuditPage' });
const pageQuery = z.strictObject({
  after: queryInteger(z.number().int().min(0)).default(0),
  limit: queryInteger(z.number().int().min(1).max(500)).default(100),
});

/** Auditors only (an operator's `npm run grant-auditor`); to everyone else these do not exist. Every read is logged. */
function auditorOnly(principal: Principal, logger: Logger, query: Record<string, unknown>): void {
  if (principal.user.auditor !== true) throw new NotFoundError('Route');
  logger.info({ auditor: principal.userId, query }, 'audit read');
}

/** The event history, read-only, for auditors: an entity's timeline, a user's actions, one request's events. */
export function auditRoutes({ eventStore, logger }: AuditRouteDeps) {
  const entries = (events: readonly RecordedEvent[]) => events.map((event): z.input<typeof entry> => toAuditEntry(event, eventUpcaster));

  /** Scans the log from `after` for events `keep` accepts, reading at most SCAN_LIMIT events per request, in slices. */
  async function search(after: number, limit: number, keep: (event: RecordedEvent) => boolean) {
    const { events, next } = await searchLog(eventStore, { after, limit, scanLimit: SCAN_LIMIT, keep });
    return { events: entries(events), next };
  }

  return [
    route({
      method: 'get',
      path: '/api/audit/entities/{kind}/{id}',
      operationId: 'auditEntity',
      tag: 'audit',
      auth: true,
      rateLimit: 'read',
      summary: 'Every event of one entity, in order (auditors only)',
      description: 'Password hashes are redacted; encrypted message payloads stay ciphertext; Gemini keys are never in the log.',
      params: z.strictObject({ kind: z.enum(ENTITY_KINDS), id }),
      query: pageQuery,
      responses: { 200: { description: 'A page of the timeline', schema: page } },
      errors: ['not_found'],
      handle: async ({ principal, params, query }) => {
        auditorOnly(principal, logger, { entity: params.kind, id: params.id });
        const events = await streamAfter(eventStore, entityStream(params.kind, params.id), query.after, query.limit);
        const shown = events.slice(0, query.limit);
        return reply(200, { events: entries(shown), next: events.length > query.limit ? shown.at(-1)!.position : null });
      },
    }),
    route({
      method: 'get',
      path: '/api/audit/actors/{userId}',
      operationId: 'auditActor',
      tag: 'audit',
      auth: true,
      rateLimit: 'read',
      summary: 'Everything one user did, in log order (auditors only)',
      params: z.strictObject({ userId: id }),
      query: pageQuery,
      responses: { 200: { description: 'A page; `next` to go on', schema: page } },
      errors: ['not_found'],
      handle: async ({ principal, params, query }) => {
        auditorOnly(principal, logger, { actor: params.userId, after: query.after });
        return reply(200, await search(query.after, query.limit, (event) => event.metadata.userId === params.userId));
      },
    }),
    route({
      method: 'get',
      path: '/api/audit/correlations/{correlationId}',
      operationId: 'auditCorrelation',
      tag: 'audit',
      auth: true,
      rateLimit: 'read',
      summary: 'Every event one request or socket frame caused (auditors only)',
      params: z.strictObject({ correlationId: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/) }),
      query: pageQuery,
      responses: { 200: { description: 'A page; `next` to go on', schema: page } },
      errors: ['not_found'],
      handle: async ({ principal, params, query }) => {
        auditorOnly(principal, logger, { correlation: params.correlationId, after: query.after });
        return reply(200, await search(query.after, query.limit, (event) => event.metadata.correlationId === params.correlationId));
      },
    }),
  ];
}
