import Database from 'better-sqlite3';
import { join } from 'node:path';
import { createPrivateFile } from '../config.ts';

/**
 * Where the push deliveries' consumer of the event log keeps its checkpoint: the position up to which every event's
 * notifications were sent (or given up). A restart goes on from there, so no notification is lost; some may be sent
 * twice (a push service collapses them by Topic). With several instances (PostgreSQL) one holds a lease and delivers.
 */
export interface PushCheckpoints {
  /** Whether this instance delivers now: takes or renews the lease (always true on one server). */
  hold(owner: string, ttlMs: number): Promise<boolean>;
  /** The checkpoint, or null before the first start (which begins at the log's head: history is not pushed). */
  load(): Promise<number | null>;
  /** Moves the checkpoint forward (never back); false when the lease was lost meanwhile. */
  save(position: number, owner: string): Promise<boolean>;
  close(): Promise<void>;
}

/** The embedded checkpoint: `STORAGE_DIR/push.sqlite`, written only by the serving thread of the one server. */
export class SqlitePushCheckpoints implements PushCheckpoints {
  private readonly db: Database.Database;

  constructor(storageDir: string) {
    const file = join(storageDir, 'push.sqlite');
    createPrivateFile(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.exec('CREATE TABLE IF NOT EXISTS push_checkpoint (name TEXT PRIMARY KEY, position INTEGER NOT NULL)');
  }

  hold(): Promise<boolean> {
    return Promise.resolve(true);
  }

  load(): Promise<number | null> {
    const row = this.db.prepare('SELECT position FROM push_checkpoint WHERE name = ?').get('deliveries') as
      { position: number } | undefined;
    return Promise.resolve(row?.position ?? null);
  }

  save(position: number): Promise<boolean> {
    this.db
      .prepare(
        `INSERT INTO push_checkpoint (name, position) VALUES ('deliveries', ?)
         ON CONFLICT (name) DO UPDATE SET position = MAX(position, excluded.position)`,
      )
      .run(position);
    return Promise.resolve(true);
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
