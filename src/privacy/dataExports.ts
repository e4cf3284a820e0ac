import { randomUUID } from 'node:crypto';
import { chmod, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { dataExportsDecider, dataExportsStream, type DataExportCommand } from '../../commands/dataExports.ts';
import { ConflictError, DomainError, NotFoundError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { DATA_EXPORTS, type DataExportDoc } from '../../projections/dataExports.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { deriveId } from '../ids.ts';
import type { BlobStore } from '../media/blobStore.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import { writeExportArchive } from './exportArchive.ts';

/** What a user is told of one of their exports. */
export interface DataExportView {
  id: string;
  status: 'pending' | 'ready' | 'failed';
  requestedAt: string;
  completedAt: string | null;
  sizeBytes: number | null;
  expiresAt: string | null;
}

export class ExportExpiredError extends DomainError {
  constructor() {
    super('export_expired', 410, 'This export was deleted a day after it was made; ask for a new one');
  }
}

export class ExportBusyError extends DomainError {
  constructor(retryAfterMs: number) {
    super('export_busy', 503, 'The server is making as many exports as it can queue; retry shortly', { retryAfterMs });
  }
}

export interface DataExportSettings {
  /** Exports made at once on this server, whoever asked (each user has at most one in progress). */
  maxConcurrent: number;
  /** Exports waiting for a turn; past it a request is refused with 503 `export_busy`. */
  maxQueued: number;
  /** How often made exports are checked for their expiry (files deleted when due). */
  sweepIntervalMs: number;
}

export const DEFAULT_DATA_EXPORT_SETTINGS: DataExportSettings = { maxConcurrent: 2, maxQueued: 32, sweepIntervalMs: 10 * 60_000 };

export interface DataExportsDeps {
  commands: CommandHandler;
  readStore: ReadStore;
  projections: Projections;
  blobs: BlobStore;
  logger: Logger;
  clock: () => Date;
  /** Where the ZIPs are written (`STORAGE_DIR/exports`, mode 0700; each file 0600). */
  directory: string;
  settings?: Partial<DataExportSettings>;
  /** Writes the ZIP (tests wrap it to hold an export in progress). */
  write?: typeof writeExportArchive;
}

/**
 * GDPR exports (Art. 15 and 20): a request is recorded, then the ZIP is made in the background from the read
 * collections by a shared, bounded pool (so one user's export cannot hold up everyone's), kept a day, then deleted.
 */
export class DataExports {
  private readonly settings: DataExportSettings;
  /** Exports accepted and not finished on this server: running and waiting. */
  private accepted = 0;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly jobs = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(private readonly deps: DataExportsDeps) {
    this.settings = { ...DEFAULT_DATA_EXPORT_SETTINGS, ...deps.settings };
  }

  /**
   * Makes the directory, and (`recoverInterrupted`: on the embedded stores, where this is the only server) marks
   * exports a previous run left unfinished as failed; then sweeps expired ones now and on an interval.
   */
  async start(recoverInterrupted: boolean): Promise<void> {
    await mkdir(this.deps.directory, { recursive: true, mode: 0o700 });
    await chmod(this.deps.directory, 0o700);
    if (recoverInterrupted) {
      const pending = await this.collection().find({ status: 'pending' });
      for (const doc of pending) {
        await rm(this.partPath(doc._id), { force: true });
        await this.run(doc.userId, { type: 'FailDataExport', data: { exportId: doc._id, userId: doc.userId, reason: 'interrupted' } });
      }
      if (pending.length > 0)
        this.deps.logger.info({ exports: pending.length }, 'data exports interrupted by the restart were marked failed');
    }
    await this.sweep();
    this.sweeper = setInterval(
      () => void this.sweep().catch((error: unknown) => this.deps.logger.error({ err: error }, 'expiring data exports failed')),
      this.settings.sweepIntervalMs,
    );
    this.sweeper.unref();
  }

  /** Records the request (one in progress per user: 409) and queues the export; answers at once, while it is made. */
  async request(userId: string, metadata: CommandMetadata): Promise<DataExportView> {
    if (this.accepted >= this.settings.maxConcurrent + this.settings.maxQueued) throw new ExportBusyError(30_000);
    this.accepted++;
    try {
      const exportId = randomUUID();
      const result = await this.deps.commands.handle(dataExportsDecider, dataExportsStream(userId), {
        type: 'RequestDataExport',
        data: { exportId, userId },
        metadata,
      });
      await this.deps.projections.waitFor(result.position!);
      const job = this.make(exportId, userId, metadata).finally(() => {
        this.accepted--;
        this.jobs.delete(job);
      });
      this.jobs.add(job);
      return toView((await this.collection().findOne({ _id: exportId }))!);
    } catch (error) {
      this.accepted--;
      throw error;
    }
  }

  /** The caller's export: 404 for anyone else's or an unknown one, 410 once it expired (its file deleted then). */
  async status(userId: string, exportId: string): Promise<DataExportView> {
    const doc = await this.collection().findOne({ _id: exportId });
    if (!doc || doc.userId !== userId) throw new NotFoundError('Export');
    if (doc.status === 'expired') throw new ExportExpiredError();
    if (doc.status === 'ready' && doc.expiresAt! <= this.deps.clock().toISOString()) {
      await this.expire(doc);
      throw new ExportExpiredError();
    }
    return toView(doc);
  }

  /** The ZIP of a ready export of the caller's. */
  async file(userId: string, exportId: string): Promise<{ path: string; size: number; filename: string }> {
    const view = await this.status(userId, exportId);
    if (view.status !== 'ready') throw new ConflictError('export_not_ready', `The export is ${view.status}`, { status: view.status });
    return { path: this.zipPath(exportId), size: view.sizeBytes!, filename: `letsapp-export-${view.completedAt!.slice(0, 10)}.zip` };
  }

  /** Deletes the files of exports past their time and records it. */
  async sweep(): Promise<number> {
    const due = await this.collection().find({ status: 'ready', expiresAt: { $lte: this.deps.clock().toISOString() } });
    for (const doc of due) await this.expire(doc);
    return due.length;
  }

  /** Stops the sweep and the exports being made (their partial files removed; the next start marks them failed). */
  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.abort.abort(new Error('the server is stopping'));
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.allSettled([...this.jobs]);
  }

  private async make(exportId: string, userId: string, metadata: CommandMetadata): Promise<void> {
    const signal = this.abort.signal;
    await this.slot();
    const part = this.partPath(exportId);
    try {
      signal.throwIfAborted();
      const sizeBytes = await (this.deps.write ?? writeExportArchive)(this.deps, userId, this.deps.clock(), part, signal);
      await rename(part, this.zipPath(exportId));
      await this.run(userId, { type: 'CompleteDataExport', data: { exportId, userId, sizeBytes } }, metadata, 'completed');
    } catch (error) {
      await rm(part, { force: true }).catch(() => undefined);
      if (signal.aborted) return;
      this.deps.logger.error({ err: error, exportId }, 'a data export failed');
      await this.run(userId, { type: 'FailDataExport', data: { exportId, userId, reason: 'error' } }, metadata, 'failed').catch(
        (failure: unknown) => this.deps.logger.error({ err: failure, exportId }, 'recording a failed data export failed'),
      );
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  /** Waits for one of the shared pool's places (first come, first served). */
  private async slot(): Promise<void> {
    if (this.running >= this.settings.maxConcurrent && !this.abort.signal.aborted) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running++;
  }

  private async expire(doc: DataExportDoc): Promise<void> {
    await rm(this.zipPath(doc._id), { force: true });
    await this.run(doc.userId, { type: 'ExpireDataExport', data: { exportId: doc._id, userId: doc.userId } });
  }

  /** Appends and waits until the export's document shows it. */
  private async run(
    userId: string,
    command: Omit<DataExportCommand, 'metadata'>,
    cause?: CommandMetadata,
    step: string = command.type,
  ): Promise<void> {
    const now = this.deps.clock().toISOString();
    const metadata: CommandMetadata = cause
      ? { ...cause, commandId: deriveId(cause.commandId, step), causationId: cause.commandId, now }
      : { commandId: randomUUID(), correlationId: randomUUID(), causationId: 'data-export-timer', userId: null, now };
    const result = await this.deps.commands.handle(dataExportsDecider, dataExportsStream(userId), {
      ...command,
      metadata,
    } as DataExportCommand);
    if (result.position !== null) await this.deps.projections.waitFor(result.position);
  }

  private collection() {
    return this.deps.readStore.collection<DataExportDoc>(DATA_EXPORTS);
  }

  private zipPath(exportId: string): string {
    return join(this.deps.directory, `${exportId}.zip`);
  }

  private partPath(exportId: string): string {
    return join(this.deps.directory, `${exportId}.zip.part`);
  }
}

const toView = (doc: DataExportDoc): DataExportView => ({
  id: doc._id,
  status: doc.status === 'expired' ? 'failed' : doc.status,
  requestedAt: doc.requestedAt,
  completedAt: doc.completedAt,
  sizeBytes: doc.sizeBytes,
  expiresAt: doc.expiresAt,
});
