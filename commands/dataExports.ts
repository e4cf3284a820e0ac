import { ConflictError, NotFoundError } from './shared/errors.ts';
import { assertNever, type Command, type Decider, type Decision, type Event } from './shared/events.ts';

/**
 * One user's copies of their own data (GDPR Art. 15 and 20), `dataExports-<userId>`: when each was asked for, made,
 * failed or expired. The events say that an export happened (who, when, how big), never what it held.
 */
export const dataExportsStream = (userId: string) => `dataExports-${userId}`;

/** A made export can be downloaded for this long; then its file is deleted. */
export const DATA_EXPORT_TTL_MS = 24 * 3_600_000;
/** An export still in progress after this long was lost (its server stopped): a new one may be asked for. */
export const DATA_EXPORT_STALL_MS = 3_600_000;

export type DataExportFailureReason = 'interrupted' | 'error';

export type DataExportRequested = Event<'DataExportRequested', { exportId: string; userId: string; requestedAt: string }>;
export type DataExportCompleted = Event<
  'DataExportCompleted',
  { exportId: string; userId: string; completedAt: string; sizeBytes: number; expiresAt: string }
>;
export type DataExportFailed = Event<
  'DataExportFailed',
  { exportId: string; userId: string; failedAt: string; reason: DataExportFailureReason }
>;
export type DataExportExpired = Event<'DataExportExpired', { exportId: string; userId: string; expiredAt: string }>;
export type DataExportEvent = DataExportRequested | DataExportCompleted | DataExportFailed | DataExportExpired;
export const dataExportEventTypes = [
  'DataExportRequested',
  'DataExportCompleted',
  'DataExportFailed',
  'DataExportExpired',
] as const satisfies readonly DataExportEvent['type'][];

/** `exportId` is chosen by the shell (random, unguessable). */
export type RequestDataExport = Command<'RequestDataExport', { exportId: string; userId: string }>;
export type CompleteDataExport = Command<'CompleteDataExport', { exportId: string; userId: string; sizeBytes: number }>;
export type FailDataExport = Command<'FailDataExport', { exportId: string; userId: string; reason: DataExportFailureReason }>;
export type ExpireDataExport = Command<'ExpireDataExport', { exportId: string; userId: string }>;
export type DataExportCommand = RequestDataExport | CompleteDataExport | FailDataExport | ExpireDataExport;

export type DataExportStatus = 'pending' | 'ready' | 'failed' | 'expired';

export interface DataExportsState {
  /** Export id → its status and when it was asked for. */
  exports: ReadonlyMap<string, { status: DataExportStatus; requestedAt: string }>;
  /** The export being made, if any. */
  inProgress: string | null;
}

export const initialState: DataExportsState = { exports: new Map(), inProgress: null };

export function evolve(state: DataExportsState, event: DataExportEvent): DataExportsState {
  const { exportId } = event.data;
  const exports = new Map(state.exports);
  const previous = exports.get(exportId);
  switch (event.type) {
    case 'DataExportRequested':
      exports.set(exportId, { status: 'pending', requestedAt: event.data.requestedAt });
      return { exports, inProgress: exportId };
    case 'DataExportCompleted':
    case 'DataExportFailed':
    case 'DataExportExpired': {
      const status = event.type === 'DataExportCompleted' ? 'ready' : event.type === 'DataExportFailed' ? 'failed' : 'expired';
      if (previous) exports.set(exportId, { ...previous, status });
      return { exports, inProgress: state.inProgress === exportId ? null : state.inProgress };
    }
    default:
      return assertNever(event);
  }
}

export function decide(command: DataExportCommand, state: DataExportsState): Decision<DataExportEvent> {
  const now = command.metadata.now;
  const { exportId, userId } = command.data;
  const known = state.exports.get(exportId);
  switch (command.type) {
    case 'RequestDataExport': {
      if (known) return [];
      const current = state.inProgress ? state.exports.get(state.inProgress) : undefined;
      if (current && Date.parse(now) - Date.parse(current.requestedAt) < DATA_EXPORT_STALL_MS) {
        throw new ConflictError('export_in_progress', 'An export of your data is already being made', { exportId: state.inProgress });
      }
      return [{ type: 'DataExportRequested', data: { exportId, userId, requestedAt: now } }];
    }
    case 'CompleteDataExport': {
      if (!known) throw new NotFoundError('Export', { exportId });
      if (known.status !== 'pending') return [];
      const expiresAt = new Date(Date.parse(now) + DATA_EXPORT_TTL_MS).toISOString();
      return [{ type: 'DataExportCompleted', data: { exportId, userId, completedAt: now, sizeBytes: command.data.sizeBytes, expiresAt } }];
    }
    case 'FailDataExport':
      if (!known) throw new NotFoundError('Export', { exportId });
      return known.status === 'pending'
        ? [{ type: 'DataExportFailed', data: { exportId, userId, failedAt: now, reason: command.data.reason } }]
        : [];
    case 'ExpireDataExport':
      if (!known) throw new NotFoundError('Export', { exportId });
      return known.status === 'ready' ? [{ type: 'DataExportExpired', data: { exportId, userId, expiredAt: now } }] : [];
    default:
      return assertNever(command);
  }
}

export const dataExportsDecider: Decider<DataExportCommand, DataExportEvent, DataExportsState> = {
  eventTypes: dataExportEventTypes,
  initialState,
  evolve,
  decide,
};
