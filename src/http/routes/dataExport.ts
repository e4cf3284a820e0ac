import { dataExportReply } from '../../contract/dataExportSchemas.ts';
import { idParams } from '../../contract/validation.ts';
import { sendBlob } from '../../media/sendBlob.ts';
import type { DataExports } from '../../privacy/dataExports.ts';
import { actorMetadata } from '../context.ts';
import { handled, reply, route } from '../routeTable.ts';

export interface DataExportRouteDeps {
  exports: DataExports;
  clock: () => Date;
}

const FORMAT =
  'One ZIP: README.txt (the format), profile.json, contacts.json, blocks.json, conversations.json (every message the caller can ' +
  'still read; none deleted for everyone or for them; erased texts read `[erased]`), calls.json, ai.json, sessions.json, ' +
  'media.json and media/<id>/<name> (the caller’s own files, byte for byte).';

/** A copy of one's own data (GDPR Art. 15 and 20), under /api/users/me/export. */
export function dataExportRoutes({ exports, clock }: DataExportRouteDeps) {
  const meta = actorMetadata(clock);
  return [
    route({
      method: 'post',
      path: '/api/users/me/export',
      operationId: 'requestDataExport',
      tag: 'privacy',
      auth: true,
      rateLimit: 'export',
      summary: 'Ask for a copy of all your data (one ZIP); it is made in the background',
      description:
        `${FORMAT} Poll GET /api/users/me/export/{id} until \`ready\`, then download it within a day. One an hour per user (policy ` +
        '`export`), one in progress at a time (409 `export_in_progress`); the server makes a few at once for everyone and queues a ' +
        'bounded number (503 `export_busy` past it). The request is recorded as an event (who, when), never what it holds.',
      responses: { 202: { description: 'Accepted: being made', schema: dataExportReply } },
      errors: ['export_in_progress', 'export_busy', 'concurrency_conflict'],
      handle: async ({ principal, ctx }) => reply(202, { export: await exports.request(principal.userId, meta(ctx)) }),
    }),
    route({
      method: 'get',
      path: '/api/users/me/export/{id}',
      operationId: 'getDataExport',
      tag: 'privacy',
      auth: true,
      rateLimit: 'read',
      summary: 'The status of one of your exports',
      description: "Anyone else's export, or an unknown id: 404. A day after it was made the file is deleted: 410 `export_expired`.",
      params: idParams,
      responses: { 200: { description: 'Its status', schema: dataExportReply } },
      errors: ['not_found', 'export_expired'],
      handle: async ({ principal, params }) => reply(200, { export: await exports.status(principal.userId, params.id) }),
    }),
    route({
      method: 'get',
      path: '/api/users/me/export/{id}/download',
      operationId: 'downloadDataExport',
      tag: 'privacy',
      auth: true,
      rateLimit: 'read',
      summary: 'Download one of your exports (application/zip), once ready',
      description: `${FORMAT} Supports \`Range\` (206, 416) to resume. Not ready yet (or failed): 409 \`export_not_ready\`; anyone else's: 404; expired: 410.`,
      params: idParams,
      responses: {
        200: { description: 'The ZIP', contentType: ['application/zip'] },
        206: { description: 'One range of it', contentType: ['application/zip'] },
        304: { description: 'Not modified' },
      },
      errors: ['not_found', 'export_not_ready', 'export_expired', 'range_not_satisfiable'],
      handle: async ({ principal, params, ctx }) => {
        const file = await exports.file(principal.userId, params.id);
        // The export never changes once made: its id is its ETag.
        await sendBlob(ctx, {
          path: file.path,
          size: file.size,
          sha256: params.id,
          mime: 'application/zip',
          filename: file.filename,
          inline: false,
        });
        return handled(ctx.status as 200);
      },
    }),
  ];
}
