import test from 'ava';
import {
  dataExportsDecider,
  DATA_EXPORT_STALL_MS,
  DATA_EXPORT_TTL_MS,
  type DataExportCommand,
  type DataExportEvent,
} from '../../commands/dataExports.ts';
import { ConflictError, NotFoundError } from '../../commands/shared/errors.ts';
import { metadata, spec } from '../helpers/spec.ts';

const at = '2026-01-01T00:00:00.000Z';
const later = (ms: number) => new Date(Date.parse(at) + ms).toISOString();
const exports = spec(dataExportsDecider);
type Call = {
  [T in DataExportCommand['type']]: { type: T; data: Omit<Extract<DataExportCommand, { type: T }>['data'], 'userId'> };
}[DataExportCommand['type']];
const command = ({ type, data }: Call, now = at): DataExportCommand =>
  ({ type, data: { userId: 'me', ...data }, metadata: metadata({ now }) }) as DataExportCommand;
const requested = (exportId: string, requestedAt = at): DataExportEvent => ({
  type: 'DataExportRequested',
  data: { exportId, userId: 'me', requestedAt },
});
const completed = (exportId: string): DataExportEvent => ({
  type: 'DataExportCompleted',
  data: { exportId, userId: 'me', completedAt: at, sizeBytes: 10, expiresAt: later(DATA_EXPORT_TTL_MS) },
});

test('asking for an export records DataExportRequested; asking again with the same id records nothing', (t) => {
  exports
    .given([])
    .when(command({ type: 'RequestDataExport', data: { exportId: 'e1' } }))
    .then(t, [requested('e1')]);
  exports
    .given([requested('e1')])
    .when(command({ type: 'RequestDataExport', data: { exportId: 'e1' } }))
    .then(t, []);
});

test('one export in progress per user: a second is refused until the first is made, failed, or stalled for an hour', (t) => {
  exports
    .given([requested('e1')])
    .when(command({ type: 'RequestDataExport', data: { exportId: 'e2' } }))
    .thenThrows(t, ConflictError, 'export_in_progress');
  exports
    .given([requested('e1'), completed('e1')])
    .when(command({ type: 'RequestDataExport', data: { exportId: 'e2' } }))
    .then(t, [requested('e2')]);
  exports
    .given([requested('e1'), { type: 'DataExportFailed', data: { exportId: 'e1', userId: 'me', failedAt: at, reason: 'error' } }])
    .when(command({ type: 'RequestDataExport', data: { exportId: 'e2' } }))
    .then(t, [requested('e2')]);
  exports
    .given([requested('e1')])
    .when(command({ type: 'RequestDataExport', data: { exportId: 'e2' } }, later(DATA_EXPORT_STALL_MS)))
    .then(t, [requested('e2', later(DATA_EXPORT_STALL_MS))]);
});

test('a made export expires a day after it was made; completing, failing or expiring twice records nothing', (t) => {
  exports
    .given([requested('e1')])
    .when(command({ type: 'CompleteDataExport', data: { exportId: 'e1', sizeBytes: 10 } }))
    .then(t, [completed('e1')]);
  exports
    .given([requested('e1'), completed('e1')])
    .when(command({ type: 'CompleteDataExport', data: { exportId: 'e1', sizeBytes: 10 } }))
    .then(t, []);
  exports
    .given([requested('e1'), completed('e1')])
    .when(command({ type: 'FailDataExport', data: { exportId: 'e1', reason: 'error' } }))
    .then(t, []);
  const expired: DataExportEvent = { type: 'DataExportExpired', data: { exportId: 'e1', userId: 'me', expiredAt: at } };
  exports
    .given([requested('e1'), completed('e1')])
    .when(command({ type: 'ExpireDataExport', data: { exportId: 'e1' } }))
    .then(t, [expired]);
  exports
    .given([requested('e1'), completed('e1'), expired])
    .when(command({ type: 'ExpireDataExport', data: { exportId: 'e1' } }))
    .then(t, []);
  exports
    .given([requested('e1')])
    .when(command({ type: 'ExpireDataExport', data: { exportId: 'e1' } }))
    .then(t, []);
});

test('an unknown export cannot be completed, failed or expired', (t) => {
  exports
    .given([])
    .when(command({ type: 'CompleteDataExport', data: { exportId: 'x', sizeBytes: 1 } }))
    .thenThrows(t, NotFoundError);
  exports
    .given([])
    .when(command({ type: 'FailDataExport', data: { exportId: 'x', reason: 'error' } }))
    .thenThrows(t, NotFoundError);
  exports
    .given([])
    .when(command({ type: 'ExpireDataExport', data: { exportId: 'x' } }))
    .thenThrows(t, NotFoundError);
});
