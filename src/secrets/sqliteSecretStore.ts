import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createPrivateFile } from '../config.ts';
import { retryWhileBusy } from '../sqlite/busy.ts';
import { BackgroundCheckpointer, type CheckpointStatus, type SqliteStoreOptions } from '../sqlite/checkpointer.ts';
import type { SecretStore, StoredSecret } from './secretStore.ts';

/**
 * The subject a row's envelope is sealed for: users' Gemini keys were once stored under the bare user id while sealed
 * for `user:<id>` (such rows are renamed when the store opens; a read-only reader maps them with this).
 */
export const sealedSubjectOf = (purpose: string, subject: string): string =>
  purpose === 'ai-api-key' && !subject.startsWith('user:') ? `user:${subject}` : subject;

/** Rows read per query by `all()`: no statement stays open across an await, so writes may interleave. */
const PAGE_SIZE = 256;

export interface SecretStoreOptions extends Pick<SqliteStoreOptions, 'walLimitBytes' | 'onCheckpointProblem'> {
  /** WAL checkpoints on a worker thread instead of inside a commit: for the server's writing connection. */
  backgroundCheckpoints?: boolean;
}

interface SecretRow {
  purpose: string;
  subject: string;
  envelope: string;
}

/**
 * Sealed secrets in their own embedded SQLite file, `STORAGE_DIR/secrets.sqlite`: created mode 0600 (as are its
 * -wal and -shm files), WAL, synchronous=FULL (a key the user was told is saved survives a power loss), and
 * secure_delete, so a replaced or deleted envelope is overwritten with zeros instead of lingering in free pages.
 *
 * Also with MONGO_URI (MongoDB read store) the secrets live in this embedded file: there is no MongoDB adapter
 * yet, and the composition root decides which store to build.
 *
 * Locking: busy_timeout = 0 and every statement goes through `retryWhileBusy`, which waits asynchronously and answers
 * 503 after LOCK_WAIT_LIMIT_MS, so the serving thread never sleeps synchronously on another connection's lock.
 *
 * Checkpoints: every message's content key is a row here, inserted at a random place of the key's b-tree, so the WAL
 * passes SQLite's autocheckpoint (1,000 pages) every few hundred messages, and the commit that passes it copies the
 * WAL back and fsyncs on the serving thread (20–34 ms measured). The server's writer (`backgroundCheckpoints`) hands
 * that to a worker thread, as the event log and the read store do; readers and the tools keep SQLite's own.
 */
export class SqliteSecretStore implements SecretStore {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly statements;
  private readonly checkpointer: BackgroundCheckpointer | null;

  /** The store of the server's storage dir. */
  static open(storageDir: string, now?: () => number, options?: SecretStoreOptions): SqliteSecretStore {
    return new SqliteSecretStore(join(storageDir, 'secrets.sqlite'), now, options);
  }

  constructor(
    file: string,
    private readonly now: () => number = Date.now,
    options: SecretStoreOptions = {},
  ) {
    this.file = file;
    createPrivateFile(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('secure_delete = ON');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS secrets (
        purpose    TEXT NOT NULL,
        subject    TEXT NOT NULL,
        envelope   TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (purpose, subject)
      ) WITHOUT ROWID`);
    // A row's (purpose, subject) is what its envelope is sealed for, so rotate-secrets can open every row. Users'
    // Gemini keys were once stored under the bare user id while sealed for `user:<id>`: such rows are renamed.
    // Once, at open (the serving thread is not serving yet): a short synchronous wait for another process's write.
    const legacy = `purpose = 'ai-api-key' AND subject NOT LIKE 'user:%'`;
    if (this.db.prepare(`SELECT 1 FROM secrets WHERE ${legacy} LIMIT 1`).get()) {
      this.db.pragma('busy_timeout = 5000');
      this.db.prepare(`UPDATE OR IGNORE secrets SET subject = 'user:' || subject WHERE ${legacy}`).run();
    }
    this.db.pragma('busy_timeout = 0');
    // Should the background worker die, SQLite checkpoints on its own again: a stall now and then, never unbounded.
    this.checkpointer = options.backgroundCheckpoints
      ? new BackgroundCheckpointer(file, {
          onFailure: () => this.db.pragma('wal_autocheckpoint = 1000'),
          walLimitBytes: options.walLimitBytes,
          onCheckpointProblem: options.onCheckpointProblem,
        })
      : null;
    if (this.checkpointer) this.db.pragma('wal_autocheckpoint = 0');
    this.statements = {
      get: this.db.prepare<[string, string], { envelope: string }>('SELECT envelope FROM secrets WHERE purpose = ? AND subject = ?'),
      put: this.db.prepare<[string, string, string, number]>(`
        INSERT INTO secrets (purpose, subject, envelope, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (purpose, subject) DO UPDATE SET envelope = excluded.envelope, updated_at = excluded.updated_at`),
      replace: this.db.prepare<[string, number, string, string, string]>(
        'UPDATE secrets SET envelope = ?, updated_at = ? WHERE purpose = ? AND subject = ? AND envelope = ?',
      ),
      delete: this.db.prepare<[string, string]>('DELETE FROM secrets WHERE purpose = ? AND subject = ?'),
      insertIfAbsent: this.db.prepare<[string, string, string, number]>(
        'INSERT INTO secrets (purpose, subject, envelope, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (purpose, subject) DO NOTHING',
      ),
      count: this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM secrets'),
      firstPage: this.db.prepare<[number], SecretRow>('SELECT purpose, subject, envelope FROM secrets ORDER BY purpose, subject LIMIT ?'),
      nextPage: this.db.prepare<[string, string, number], SecretRow>(
        'SELECT purpose, subject, envelope FROM secrets WHERE (purpose, subject) > (?, ?) ORDER BY purpose, subject LIMIT ?',
      ),
    };
  }

  async get(purpose: string, subject: string): Promise<string | null> {
    const row = await retryWhileBusy(() => this.statements.get.get(purpose, subject));
    return row?.envelope ?? null;
  }

  async put(purpose: string, subject: string, envelope: string): Promise<void> {
    await this.beforeWrite();
    await retryWhileBusy(() => this.statements.put.run(purpose, subject, envelope, this.now()));
  }

  async replace(purpose: string, subject: string, expected: string, envelope: string): Promise<boolean> {
    await this.beforeWrite();
    const result = await retryWhileBusy(() => this.statements.replace.run(envelope, this.now(), purpose, subject, expected));
    return result.changes === 1;
  }

  async delete(purpose: string, subject: string): Promise<void> {
    await this.beforeWrite();
    await retryWhileBusy(() => this.statements.delete.run(purpose, subject));
  }

  async insertIfAbsent(rows: readonly StoredSecret[]): Promise<boolean[]> {
    if (rows.length === 0) return [];
    await this.beforeWrite();
    const now = this.now();
    const insertAll = this.db.transaction(() =>
      rows.map((row) => this.statements.insertIfAbsent.run(row.purpose, row.subject, row.envelope, now).changes === 1),
    );
    return retryWhileBusy(() => insertAll.immediate());
  }

  /** Past its WAL limit, a write waits until the worker has drained the WAL, so the write starts it over. */
  private async beforeWrite(): Promise<void> {
    if (this.checkpointer?.wantsReset) await this.checkpointer.resetBeforeWrite();
  }

  /** The background checkpoints' state (null when SQLite checkpoints by itself). */
  checkpointStatus(): CheckpointStatus | null {
    return this.checkpointer?.status() ?? null;
  }

  /** TRUNCATE: the WAL's frames (old page images of deleted rows among them) are copied back and the file cut to 0 bytes. */
  async eraseResidue(): Promise<boolean> {
    const [result] = await retryWhileBusy(() => this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>);
    return result?.busy === 0;
  }

  async count(): Promise<number> {
    return (await retryWhileBusy(() => this.statements.count.get()))!.n;
  }

  async *all(): AsyncIterable<StoredSecret> {
    let last: SecretRow | undefined;
    for (;;) {
      const after = last;
      const page = await retryWhileBusy(() =>
        after === undefined
          ? this.statements.firstPage.all(PAGE_SIZE)
          : this.statements.nextPage.all(after.purpose, after.subject, PAGE_SIZE),
      );
      for (const row of page) yield { purpose: row.purpose, subject: row.subject, envelope: row.envelope };
      if (page.length < PAGE_SIZE) return;
      last = page[page.length - 1];
    }
  }

  async close(): Promise<void> {
    await this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }
}
