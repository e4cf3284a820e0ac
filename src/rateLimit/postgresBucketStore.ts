import { createHash } from 'node:crypto';
import { SmallStoreDb, type PostgresSettings } from '../postgres/connection.ts';
import type { BucketStore } from './bucketStore.ts';
import type { RateLimitPolicy } from './policies.ts';
import { allowanceOf, partitionOf, refusalOf, type Allowance } from './tokenBuckets.ts';

/** How often (at most) the buckets idle long enough to be full again are deleted. */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * Rate-limit buckets in PostgreSQL (with DATABASE_URL), in `rate_limit_buckets`: every instance takes from the same
 * bucket, so running two does not double anyone's budget. Each take is one statement (an UPSERT that computes the
 * refill and the take under the row's lock), so concurrent takes from any instance never spend more than the
 * bucket holds. Keys are stored as their SHA-256, never the raw user id or address. Times are the servers' clocks
 * (ms); a clock behind the bucket's last update refills nothing rather than going back.
 */
export class PostgresBucketStore implements BucketStore {
  readonly kind = 'postgres';
  private readonly table: string;
  private lastSweep: number;
  private sweeping: Promise<void> | null = null;

  private constructor(
    private readonly db: SmallStoreDb,
    private readonly now: () => number,
  ) {
    this.table = db.table('rate_limit_buckets');
    this.lastSweep = now();
  }

  static async connect(settings: PostgresSettings, now: () => number = Date.now): Promise<PostgresBucketStore> {
    // A budget is not worth a WAL flush per request: a crash of the server may forget the last fraction of a second of
    // charges (a few tokens given back), never corrupts anything, and a charge no longer waits for the disk.
    const db = await SmallStoreDb.open(
      settings,
      'The rate-limit store',
      (table) => [
        `CREATE TABLE IF NOT EXISTS ${table('rate_limit_buckets')} (
        policy     text COLLATE "C" NOT NULL,
        key        text COLLATE "C" NOT NULL,
        tokens     double precision NOT NULL,
        updated_ms double precision NOT NULL,
        taken      boolean NOT NULL,
        PRIMARY KEY (policy, key)
      )`,
      ],
      { poolMax: 4, sessionOptions: '-c synchronous_commit=off' },
    );
    return new PostgresBucketStore(db, now);
  }

  /**
   * One UPSERT: a new bucket starts full; an existing one is refilled for the time since its update (capped at the
   * burst), then `spend` decides the new tokens from the refilled ones ($r). `taken` records whether a token was taken.
   */
  private async upsert(
    policy: RateLimitPolicy,
    key: string,
    spend: { tokens: string; taken: string },
  ): Promise<{ tokens: number; taken: boolean }> {
    this.sweepSometimes(policy);
    const refilled = `LEAST($3::float8, b.tokens + GREATEST(0, $5::float8 - b.updated_ms) / 1000 * $4::float8)`;
    const fresh = '$3::float8';
    const result = await this.db.query<{ tokens: number; taken: boolean }>(
      `INSERT INTO ${this.table} AS b (policy, key, tokens, updated_ms, taken)
      VALUES ($1, $2, ${spend.tokens.replaceAll('$r', fresh)}, $5, ${spend.taken.replaceAll('$r', fresh)})
      ON CONFLICT (policy, key) DO UPDATE SET
        tokens = ${spend.tokens.replaceAll('$r', refilled)},
        updated_ms = GREATEST(b.updated_ms, $5::float8),
        taken = ${spend.taken.replaceAll('$r', refilled)}
      RETURNING tokens, taken`,
      [policy.name, hashOf(key), policy.burst, policy.perSecond, this.now()],
    );
    return result.rows[0]!;
  }

  async take(policy: RateLimitPolicy, key: string): Promise<Allowance> {
    const { tokens, taken } = await this.upsert(policy, key, { tokens: 'CASE WHEN $r >= 1 THEN $r - 1 ELSE $r END', taken: '$r >= 1' });
    if (!taken) throw refusalOf(policy, tokens, partitionOf(key));
    return allowanceOf(policy, tokens, partitionOf(key));
  }

  async borrow(policy: RateLimitPolicy, key: string): Promise<number> {
    const { tokens } = await this.upsert(policy, key, { tokens: 'GREATEST(-$3::float8, $r - 1)', taken: 'true' });
    return tokens >= 0 ? 0 : Math.ceil(-tokens);
  }

  async giveBack(policy: RateLimitPolicy, key: string): Promise<void> {
    await this.db.query(`UPDATE ${this.table} SET tokens = LEAST($3::float8, tokens + 1) WHERE policy = $1 AND key = $2`, [
      policy.name,
      hashOf(key),
      policy.burst,
    ]);
  }

  async forget(policy: RateLimitPolicy, key: string): Promise<void> {
    await this.db.query(`DELETE FROM ${this.table} WHERE policy = $1 AND key = $2`, [policy.name, hashOf(key)]);
  }

  /** Buckets full again are the same as none: deleted in the background, at most once a minute, so the table stays bounded by recently active keys. */
  private sweepSometimes(policy: RateLimitPolicy): void {
    const now = this.now();
    if (this.sweeping || now - this.lastSweep < SWEEP_INTERVAL_MS) return;
    this.lastSweep = now;
    this.sweeping = this.db
      .query(
        `DELETE FROM ${this.table} WHERE policy = $1
      AND tokens + GREATEST(0, $4::float8 - updated_ms) / 1000 * $3::float8 >= $2::float8`,
        [policy.name, policy.burst, policy.perSecond, now],
      )
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.sweeping = null;
      });
  }

  async close(): Promise<void> {
    await this.sweeping;
    await this.db.close();
  }
}

const hashOf = (key: string) => createHash('sha256').update(key).digest('hex');
