import type { Logger } from 'pino';
import { messageDecider, messageStream, type ExpireMessage } from '../../commands/messages.ts';
import { DomainError } from '../../commands/shared/errors.ts';
import type { CommandMetadata } from '../../commands/shared/events.ts';
import { MESSAGE_EXPIRIES, type MessageExpiryDoc } from '../../projections/disappearing.ts';
import { GROUP_MESSAGES, MESSAGES, type MessageDoc } from '../../projections/messageDocs.ts';
import type { CommandHandler } from '../commandHandler.ts';
import { deriveId, newId } from '../ids.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import { messageKeyId, type ShreddingKeys } from '../privacy/shreddingKeys.ts';
import { MAX_TIMER_MS } from '../timers.ts';

export interface MessageExpirySettings {
  /** Messages handled per batch (one append and one key destroy each). */
  batchSize: number;
  /** The longest wait between passes: other instances' work (PostgreSQL) is found within it. */
  pollMs: number;
  /** Pause between two batches of one pass, so a large backlog never holds the serving thread. */
  pauseMs: number;
  /** RETENTION_DAYS: message contents older than this are shredded; null keeps them for good. */
  retentionDays: number | null;
  /** How often the retention job runs. */
  retentionIntervalMs: number;
}

export const DEFAULT_EXPIRY_SETTINGS: MessageExpirySettings = {
  batchSize: 200,
  pollMs: 60_000,
  pauseMs: 10,
  retentionDays: null,
  retentionIntervalMs: 3_600_000,
};

export interface ExpiryDeps {
  commands: CommandHandler;
  readStore: ReadStore;
  projections: Projections;
  keys: ShreddingKeys;
  logger: Logger;
  clock: () => Date;
}

const DAY_MS = 86_400_000;

/**
 * Disappearing messages and operator retention, as one background job. Each message goes the same way: MessageExpired
 * is appended (the projections drop it from every view and push `message.expired`), then its content key is destroyed,
 * then MessageContentShredded is appended. What it works from is `message_expiries` in the read store (due timers, and
 * expired messages whose key is not yet recorded destroyed), so a restart, a crash between two steps, or another
 * instance on the same database picks up where it stopped: every step is idempotent (the decider appends nothing twice,
 * a destroyed key stays destroyed), and instances racing on one message meet at its stream's expected revision.
 */
export class MessageExpiry {
  private readonly settings: MessageExpirySettings;
  private timer: NodeJS.Timeout | null = null;
  private retentionTimer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly deps: ExpiryDeps,
    settings: Partial<MessageExpirySettings> = {},
  ) {
    this.settings = { ...DEFAULT_EXPIRY_SETTINGS, ...settings };
  }

  /** Runs a pass now (what a restart left behind), then keeps one armed for the next due message. */
  start(): void {
    this.schedule(0);
    if (this.settings.retentionDays !== null) this.scheduleRetention(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retentionTimer) clearTimeout(this.retentionTimer);
    this.timer = this.retentionTimer = null;
    await this.running.catch(() => undefined);
  }

  /**
   * Expires every message due at `now` and records the destroyed key of every expired one, in batches. Passes never
   * overlap within an instance. Counts what this pass appended (another instance's share is not counted here).
   */
  sweep(now: Date = this.deps.clock()): Promise<{ expired: number; shredded: number }> {
    const pass = this.running.then(() => this.sweepOnce(now));
    this.running = pass.catch(() => undefined);
    return pass;
  }

  /** Shreds every message sent more than RETENTION_DAYS before `now`, in batches, logging its progress. */
  retain(now: Date = this.deps.clock()): Promise<{ shredded: number }> {
    const pass = this.running.then(() => this.retainOnce(now));
    this.running = pass.catch(() => undefined);
    return pass;
  }

  /** What was appended before the pass (a send answered before its projection) is in `message_expiries` first. */
  private async caughtUp(): Promise<void> {
    await this.deps.projections.waitFor(await this.deps.projections.headPosition());
  }

  private async sweepOnce(now: Date): Promise<{ expired: number; shredded: number }> {
    await this.caughtUp();
    const expiries = this.deps.readStore.collection<MessageExpiryDoc>(MESSAGE_EXPIRIES);
    let expired = 0;
    let shredded = 0;
    // Expired before (another instance, or a crash between the append and the key): the key still to be recorded gone.
    for (;;) {
      const pending = await expiries.find({ expired: true }, { limit: this.settings.batchSize });
      if (pending.length === 0 || this.stopped) break;
      let last = 0;
      for (const doc of pending) {
        const position = await this.shred(doc._id, now);
        if (position > 0) shredded++;
        last = Math.max(last, position);
      }
      if (last > 0) await this.deps.projections.waitFor(last);
      if (pending.length < this.settings.batchSize) break;
      await this.pause();
    }
    for (;;) {
      const due = await expiries.find(
        { expired: false, expiresAt: { $lte: now.toISOString() } },
        { sort: { expiresAt: 1 }, limit: this.settings.batchSize },
      );
      if (due.length === 0 || this.stopped) break;
      let last = 0;
      for (const doc of due) {
        const expiredAt = await this.expire(doc._id, { messageId: doc._id, reason: 'timer' }, now);
        const shreddedAt = await this.shred(doc._id, now);
        if (expiredAt > 0) expired++;
        if (shreddedAt > 0) shredded++;
        last = Math.max(last, expiredAt, shreddedAt);
      }
      // The next query must not find these again: wait for the projection of the last append.
      if (last > 0) await this.deps.projections.waitFor(last);
      if (due.length < this.settings.batchSize) break;
      await this.pause();
    }
    if (expired > 0 || shredded > 0) this.deps.logger.info({ expired, shredded }, 'disappearing messages expired');
    return { expired, shredded };
  }

  private async retainOnce(now: Date): Promise<{ shredded: number }> {
    const days = this.settings.retentionDays;
    if (days === null) return { shredded: 0 };
    await this.caughtUp();
    const sentBefore = new Date(now.getTime() - days * DAY_MS).toISOString();
    let shredded = 0;
    const started = Date.now();
    this.deps.logger.info({ retentionDays: days, sentBefore }, 'retention: shredding message contents sent before the cutoff');
    for (const collection of [MESSAGES, GROUP_MESSAGES]) {
      for (;;) {
        const old = await this.deps.readStore
          .collection<MessageDoc>(collection)
          .find({ sentAt: { $lt: sentBefore } }, { sort: { sentAt: 1 }, limit: this.settings.batchSize });
        if (old.length === 0 || this.stopped) break;
        let last = 0;
        for (const doc of old) {
          const expiredAt = await this.expire(doc._id, { messageId: doc._id, reason: 'retention', sentBefore }, now);
          const shreddedAt = await this.shred(doc._id, now);
          if (shreddedAt > 0) shredded++;
          last = Math.max(last, expiredAt, shreddedAt);
        }
        if (last > 0) await this.deps.projections.waitFor(last);
        this.deps.logger.info({ collection, shredded, oldest: old[0]?.sentAt, sentBefore }, 'retention: batch shredded');
        if (old.length < this.settings.batchSize) break;
        await this.pause();
      }
    }
    this.deps.logger.info({ shredded, sentBefore, ms: Date.now() - started }, 'retention: done');
    return { shredded };
  }

  /** Appends MessageExpired (nothing if it already is); the position appended, or 0. */
  private async expire(messageId: string, data: ExpireMessage['data'], now: Date): Promise<number> {
    try {
      const result = await this.deps.commands.handle(messageDecider, messageStream(messageId), {
        type: 'ExpireMessage',
        data,
        metadata: this.metadata(now, messageId, 'expire'),
      });
      return result.position ?? 0;
    } catch (error) {
      // Not due by this instance's clock, or gone: another pass will see to it.
      if (error instanceof DomainError && (error.code === 'not_due' || error.code === 'not_found')) return 0;
      throw error;
    }
  }

  /** Destroys the content key of an expired message, then records it; the position appended, or 0. */
  private async shred(messageId: string, now: Date): Promise<number> {
    const { state } = await this.deps.commands.load(messageDecider, messageStream(messageId));
    if (state.status !== 'expired') return 0;
    await this.deps.keys.destroy(messageKeyId(messageId));
    const result = await this.deps.commands.handle(messageDecider, messageStream(messageId), {
      type: 'RecordContentShredded',
      data: { messageId },
      metadata: this.metadata(now, messageId, 'shredded'),
    });
    return result.position ?? 0;
  }

  private metadata(now: Date, messageId: string, step: string): CommandMetadata {
    const correlationId = `message-expiry:${newId()}`;
    return {
      commandId: deriveId('message-expiry', step, messageId),
      correlationId,
      causationId: correlationId,
      userId: null,
      now: now.toISOString(),
    };
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, this.settings.pauseMs));
  }

  /** Arms the next pass: at the next due message, or within pollMs (never past MAX_TIMER_MS). */
  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        void this.sweep()
          .then(() => this.nextDelay())
          .catch((error: unknown) => {
            this.deps.logger.error({ err: error }, 'disappearing messages: the expiry pass failed (retried)');
            return this.settings.pollMs;
          })
          .then((next) => this.schedule(next));
      },
      Math.min(Math.max(0, delayMs), MAX_TIMER_MS),
    );
    this.timer.unref();
  }

  private async nextDelay(): Promise<number> {
    const [next] = await this.deps.readStore
      .collection<MessageExpiryDoc>(MESSAGE_EXPIRIES)
      .find({ expired: false }, { sort: { expiresAt: 1 }, limit: 1 });
    const untilDue = next ? Date.parse(next.expiresAt) - this.deps.clock().getTime() : Infinity;
    return Math.min(this.settings.pollMs, Math.max(untilDue, 0));
  }

  private scheduleRetention(delayMs: number): void {
    if (this.stopped) return;
    this.retentionTimer = setTimeout(
      () => {
        this.retentionTimer = null;
        void this.retain()
          .catch((error: unknown) => this.deps.logger.error({ err: error }, 'retention: the pass failed (retried at the next interval)'))
          .then(() => this.scheduleRetention(this.settings.retentionIntervalMs));
      },
      Math.min(delayMs, MAX_TIMER_MS),
    );
    this.retentionTimer.unref();
  }
}
