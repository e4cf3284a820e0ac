import { z } from 'zod';

/** One export of the caller's data, as GET and POST /api/users/me/export answer it. */
export const dataExport = z
  .strictObject({
    id: z.uuid().meta({ description: 'Random (UUID v4): not guessable, and only its owner may use it' }),
    status: z.enum(['pending', 'ready', 'failed']).meta({
      description: '`pending` while it is made, `ready` to download, `failed` (ask again); an expired export answers 410',
    }),
    requestedAt: z.iso.datetime(),
    completedAt: z.iso.datetime().nullable(),
    sizeBytes: z.number().int().min(0).nullable().meta({ description: "The ZIP's size once ready" }),
    expiresAt: z.iso.datetime().nullable().meta({ description: 'Once ready: when the file is deleted (a day after it was made)' }),
  })
  .meta({ id: 'DataExport' });

export const dataExportReply = z.strictObject({ export: dataExport }).meta({ id: 'DataExportReply' });
