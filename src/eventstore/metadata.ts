import { z } from 'zod';
import type { EventMetadata } from './port.ts';

/**
 * EventMetadata as stored, checked when it comes back from outside the process (EventStoreDB, a migration's source);
 * keys this version does not know pass through.
 */
export const storedMetadata = z.looseObject({
  eventId: z.string(),
  correlationId: z.string(),
  causationId: z.string(),
  userId: z.string().nullable(),
  actorIsBot: z.literal(true).optional(),
  timestamp: z.string(),
  schemaVersion: z.number().int().optional(),
  clientRequestId: z.string().optional(),
}) satisfies z.ZodType<EventMetadata>;
