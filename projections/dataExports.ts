import { dataExportEventTypes, type DataExportEvent, type DataExportStatus } from '../commands/dataExports.ts';
import { assertNever, eventOf } from '../commands/shared/events.ts';
import type { ProjectedDoc, Projector } from '../src/projection/projector.ts';

/** `data_exports`: one document per export a user asked for: its status, and when its file goes. Never its contents. */
export interface DataExportDoc extends ProjectedDoc {
  userId: string;
  status: DataExportStatus;
  requestedAt: string;
  completedAt: string | null;
  sizeBytes: number | null;
  expiresAt: string | null;
  /** Why it failed (`interrupted`: its server stopped; `error`: see the server's log). */
  failure: string | null;
}

export const DATA_EXPORTS = 'data_exports';

export const dataExportsProjector: Projector = {
  name: DATA_EXPORTS,
  collections: { [DATA_EXPORTS]: [{ key: { userId: 1, requestedAt: -1 } }, { key: { status: 1, expiresAt: 1 } }] },
  handles: new Set(dataExportEventTypes),
  async apply(recorded, context) {
    const event = eventOf<DataExportEvent>(dataExportEventTypes, recorded);
    const { exportId, userId } = event.data;
    switch (event.type) {
      case 'DataExportRequested':
        return context.project<DataExportDoc>(
          DATA_EXPORTS,
          exportId,
          recorded,
          (doc) =>
            doc ?? {
              _id: exportId,
              userId,
              status: 'pending',
              requestedAt: event.data.requestedAt,
              completedAt: null,
              sizeBytes: null,
              expiresAt: null,
              failure: null,
            },
        );
      case 'DataExportCompleted': {
        const { completedAt, sizeBytes, expiresAt } = event.data;
        return context.project<DataExportDoc>(
          DATA_EXPORTS,
          exportId,
          recorded,
          (doc) => doc && { ...doc, status: 'ready', completedAt, sizeBytes, expiresAt },
        );
      }
      case 'DataExportFailed':
        return context.project<DataExportDoc>(
          DATA_EXPORTS,
          exportId,
          recorded,
          (doc) => doc && { ...doc, status: 'failed', failure: event.data.reason },
        );
      case 'DataExportExpired':
        return context.project<DataExportDoc>(DATA_EXPORTS, exportId, recorded, (doc) => doc && { ...doc, status: 'expired' });
      default:
        return assertNever(event);
    }
  },
};
