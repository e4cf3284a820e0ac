import test from 'ava';
import type { DataExportEvent } from '../../commands/dataExports.ts';
import { projectors } from '../../projections/index.ts';
import { documents, freshReadStoreFor, incrementalThenRebuilt, projectAll, recorded } from '../helpers/projection.ts';

const at = '2026-01-01T00:00:00.000Z';
const day = '2026-01-02T00:00:00.000Z';

test('data_exports: one document per export through pending, ready, expired or failed; twice changes nothing; rebuild equals incremental', async (t) => {
  const events: DataExportEvent[] = [
    { type: 'DataExportRequested', data: { exportId: 'e1', userId: 'u', requestedAt: at } },
    { type: 'DataExportCompleted', data: { exportId: 'e1', userId: 'u', completedAt: at, sizeBytes: 42, expiresAt: day } },
    { type: 'DataExportRequested', data: { exportId: 'e2', userId: 'u', requestedAt: at } },
    { type: 'DataExportFailed', data: { exportId: 'e2', userId: 'u', failedAt: at, reason: 'interrupted' } },
    { type: 'DataExportRequested', data: { exportId: 'e3', userId: 'v', requestedAt: at } },
    { type: 'DataExportExpired', data: { exportId: 'e1', userId: 'u', expiredAt: day } },
  ];
  const history = events.map((event) => recorded(event));
  const store = await freshReadStoreFor(projectors);
  await projectAll(store, projectors, history);
  await projectAll(store, projectors, history);
  t.deepEqual(
    (await documents(store, 'data_exports')).map((doc: any) => [
      doc._id,
      doc.userId,
      doc.status,
      doc.sizeBytes,
      doc.expiresAt,
      doc.failure,
    ]),
    [
      ['e1', 'u', 'expired', 42, day, null],
      ['e2', 'u', 'failed', null, null, 'interrupted'],
      ['e3', 'v', 'pending', null, null, null],
    ],
  );
  const { incremental, rebuilt } = await incrementalThenRebuilt(projectors, events, ['data_exports']);
  t.deepEqual(rebuilt, incremental);
});
