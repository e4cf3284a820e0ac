import { constants, copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { StoredEvent } from '../eventstore/postgres.ts';
import type { StoredSecret } from '../secrets/secretStore.ts';
import { sealedSubjectOf } from '../secrets/sqliteSecretStore.ts';

/**
 * The embedded stores of a storage dir as a migration reads them: a snapshot of `events.sqlite` and `secrets.sqlite`
 * (with their WAL files) copied into a private temp dir, read there. Even a read-only SQLite connection creates
 * `-wal` and `-shm` files beside a cleanly closed database (owned by whoever runs the migration, which can keep the
 * server from opening it); reading a copy leaves the storage dir exactly as it was.
 */
export class EmbeddedSource {
  private readonly events: Database.Database;
  private readonly statements;

  private constructor(
    readonly storageDir: string,
    private readonly snapshot: string,
  ) {
    const file = join(storageDir, 'events.sqlite');
    if (!existsSync(file)) throw new Error(`No embedded event log at ${file}`);
    this.events = new Database(copyWithWal(file, snapshot), { fileMustExist: true });
    this.statements = {
      after: this.events.prepare<
        [number, number],
        Omit<StoredEvent, 'chainHash' | 'eventId'> & { event_id: string; chain_hash: string | null }
      >(
        'SELECT position, event_id, stream, revision, type, data, metadata, chain_hash FROM events WHERE position > ? ORDER BY position LIMIT ?',
      ),
      hashAt: this.events.prepare<[number], { chain_hash: string | null }>('SELECT chain_hash FROM events WHERE position = ?'),
      count: this.events.prepare<[], { n: number }>('SELECT count(*) AS n FROM events'),
      countAfter: this.events.prepare<[number], { n: number }>('SELECT count(*) AS n FROM events WHERE position > ?'),
    };
  }

  /** Snapshots the storage dir's stores (stop the server first, or the snapshot may miss its last writes). */
  static open(storageDir: string): EmbeddedSource {
    const snapshot = mkdtempSync(join(tmpdir(), 'letsapp-migrate-'));
    try {
      return new EmbeddedSource(storageDir, snapshot);
    } catch (error) {
      rmSync(snapshot, { recursive: true, force: true });
      throw error;
    }
  }

  count(): number {
    return this.statements.count.get()!.n;
  }

  countAfter(position: number): number {
    return this.statements.countAfter.get(position)!.n;
  }

  /** Up to `limit` events after `position`, as stored; a missing chain hash (a log from before the chain) stays null. */
  after(position: number, limit: number): Array<Omit<StoredEvent, 'chainHash'> & { chainHash: string | null }> {
    return this.statements.after.all(position, limit).map((row) => ({
      position: row.position,
      eventId: row.event_id,
      stream: row.stream,
      revision: row.revision,
      type: row.type,
      data: row.data,
      metadata: row.metadata,
      chainHash: row.chain_hash,
    }));
  }

  /** The stored chain hash at `position`; undefined when the log has no event there. */
  hashAt(position: number): string | null | undefined {
    return this.statements.hashAt.get(position)?.chain_hash;
  }

  /** Every sealed secret of `secrets.sqlite` (none without the file), each under the subject it is sealed for. */
  secrets(): StoredSecret[] {
    const file = join(this.storageDir, 'secrets.sqlite');
    if (!existsSync(file)) return [];
    const db = new Database(copyWithWal(file, this.snapshot), { fileMustExist: true });
    try {
      const secrets = new Map<string, StoredSecret>();
      for (const row of db.prepare<[], StoredSecret>('SELECT purpose, subject, envelope FROM secrets ORDER BY purpose, subject').all()) {
        const subject = sealedSubjectOf(row.purpose, row.subject);
        const key = JSON.stringify([row.purpose, subject]);
        // As the store's own rename: a row already under the sealed subject wins over an old one under the bare id.
        if (subject !== row.subject && secrets.has(key)) continue;
        secrets.set(key, { purpose: row.purpose, subject, envelope: row.envelope });
      }
      return [...secrets.values()];
    } finally {
      db.close();
    }
  }

  close(): void {
    if (this.events.open) this.events.close();
    rmSync(this.snapshot, { recursive: true, force: true });
  }
}

/** Copies a database and its WAL (committed writes not yet checkpointed) into `dir`; a clone where the filesystem can. */
function copyWithWal(file: string, dir: string): string {
  const name = file.slice(file.lastIndexOf('/') + 1);
  for (const suffix of ['', '-wal']) {
    if (existsSync(file + suffix)) copyFileSync(file + suffix, join(dir, name + suffix), constants.COPYFILE_FICLONE);
  }
  return join(dir, name);
}
