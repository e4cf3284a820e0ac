import { SmallStoreDb, type PostgresSettings } from '../postgres/connection.ts';
import type { SecretStore, StoredSecret } from './secretStore.ts';

/** Rows read per query by `all()`, as on SQLite: no query stays open across the caller's awaits. */
const PAGE_SIZE = 256;

/**
 * Sealed secrets in PostgreSQL (with DATABASE_URL), in the `secrets` table of DATABASE_SCHEMA beside the event log,
 * so every instance reads the same envelopes and nothing is written to the storage dir. The table holds envelopes
 * only: the keys that open them (ENCRYPTION_KEY / ENCRYPTION_KEYS) are never stored in the database, so a dump of
 * it does not reveal a user's Gemini key.
 *
 * `COLLATE "C"`: rows sort by bytes, as SQLite's do, whatever the database's collation, and the primary key's index
 * serves `all()`'s keyset paging.
 */
export class PostgresSecretStore implements SecretStore {
  private readonly table: string;

  private constructor(private readonly db: SmallStoreDb) {
    this.table = db.table('secrets');
  }

  static async connect(settings: PostgresSettings): Promise<PostgresSecretStore> {
    const db = await SmallStoreDb.open(settings, 'The secret store', (table) => [
      `CREATE TABLE IF NOT EXISTS ${table('secrets')} (
        purpose    text COLLATE "C" NOT NULL,
        subject    text COLLATE "C" NOT NULL,
        envelope   text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (purpose, subject)
      )`,
    ]);
    return new PostgresSecretStore(db);
  }

  async get(purpose: string, subject: string): Promise<string | null> {
    const result = await this.db.query<{ envelope: string }>(`SELECT envelope FROM ${this.table} WHERE purpose = $1 AND subject = $2`, [
      purpose,
      subject,
    ]);
    return result.rows[0]?.envelope ?? null;
  }

  async put(purpose: string, subject: string, envelope: string): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.table} (purpose, subject, envelope) VALUES ($1, $2, $3)
      ON CONFLICT (purpose, subject) DO UPDATE SET envelope = excluded.envelope, updated_at = now()`,
      [purpose, subject, envelope],
    );
  }

  async replace(purpose: string, subject: string, expected: string, envelope: string): Promise<boolean> {
    const result = await this.db.query(
      `UPDATE ${this.table} SET envelope = $4, updated_at = now()
      WHERE purpose = $1 AND subject = $2 AND envelope = $3`,
      [purpose, subject, expected, envelope],
    );
    return result.rowCount === 1;
  }

  async delete(purpose: string, subject: string): Promise<void> {
    await this.db.query(`DELETE FROM ${this.table} WHERE purpose = $1 AND subject = $2`, [purpose, subject]);
  }

  async insertIfAbsent(rows: readonly StoredSecret[]): Promise<boolean[]> {
    if (rows.length === 0) return [];
    const values = rows.map((_, index) => `($${index * 3 + 1}, $${index * 3 + 2}, $${index * 3 + 3})`).join(', ');
    const result = await this.db.query<{ purpose: string; subject: string }>(
      `INSERT INTO ${this.table} (purpose, subject, envelope) VALUES ${values}
      ON CONFLICT (purpose, subject) DO NOTHING RETURNING purpose, subject`,
      rows.flatMap((row) => [row.purpose, row.subject, row.envelope]),
    );
    const inserted = new Set(result.rows.map((row) => `${row.purpose}\u0000${row.subject}`));
    return rows.map((row) => inserted.has(`${row.purpose}\u0000${row.subject}`));
  }

  /** A deleted row stays in dead tuples until (auto)vacuum and in the WAL archives the operator keeps: see README, Privacy. */
  eraseResidue(): Promise<boolean> {
    return Promise.resolve(true);
  }

  async count(): Promise<number> {
    return Number((await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.table}`)).rows[0]!.n);
  }

  async *all(): AsyncIterable<StoredSecret> {
    let last: StoredSecret | undefined;
    for (;;) {
      const page = (
        last === undefined
          ? await this.db.query<StoredSecret>(`SELECT purpose, subject, envelope FROM ${this.table} ORDER BY purpose, subject LIMIT $1`, [
              PAGE_SIZE,
            ])
          : await this.db.query<StoredSecret>(
              `SELECT purpose, subject, envelope FROM ${this.table} WHERE (purpose, subject) > ($1, $2)
            ORDER BY purpose, subject LIMIT $3`,
              [last.purpose, last.subject, PAGE_SIZE],
            )
      ).rows;
      for (const row of page) yield { purpose: row.purpose, subject: row.subject, envelope: row.envelope };
      if (page.length < PAGE_SIZE) return;
      last = page[page.length - 1];
    }
  }

  async close(): Promise<void> {
    await this.db.close().catch(() => undefined);
  }
}
