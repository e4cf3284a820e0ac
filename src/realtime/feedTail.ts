import type { Logger } from 'pino';
import { CONVERSATIONS, memberAt, type ConversationDoc } from '../../projections/conversations.ts';
import { FEED, ringOf, type FeedEntry } from '../../projections/feed.ts';
import type { Publication } from '../projection/projector.ts';
import type { ReadStore } from '../readstore/port.ts';

const PAGE = 500;
const MAX_RETRY_MS = 5_000;

/**
 * Every instance's live pushes when several share one database: the feed entries the projecting instance committed
 * (whichever instance that is, and across a change of it), read back in position order up to the feed's checkpoint and
 * published to this instance's sockets. Each entry's audience is resolved as a sync's replay resolves it (members at
 * the entry's position, minus `except`, plus the users it names: see feedReplay.ts), so what a socket gets live is what
 * a `sync` would give it, with no gap at a change of projecting instance.
 */
export class FeedTail {
  private running: Promise<void> | null = null;
  private again = false;
  private failures = 0;
  private retry: NodeJS.Timeout | null = null;
  private stopped = false;

  /** `position`: the feed position already covered (entries after it are pushed); `feedPosition`: the checkpoint. */
  constructor(
    private readonly readStore: ReadStore,
    private position: number,
    private readonly feedPosition: () => number,
    private readonly publish: (publications: readonly Publication[]) => void,
    private readonly logger: Logger,
  ) {}

  /** Reads and pushes what was projected since the last wake-up; wake-ups during a read cause one more read. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = null;
    });
  }

  private async drain(): Promise<void> {
    try {
      do {
        this.again = false;
        const target = this.feedPosition();
        while (this.position < target && !this.stopped) await this.pushPage(target);
      } while (this.again && !this.stopped);
      this.failures = 0;
    } catch (error) {
      // The database is away: nothing is skipped, the next read starts where this one stopped.
      this.failures++;
      this.logger.warn({ err: error, attempt: this.failures }, 'reading the feed for live pushes failed; retrying');
      this.retry = setTimeout(
        () => {
          this.retry = null;
          this.wake();
        },
        Math.min(MAX_RETRY_MS, 50 * 2 ** this.failures),
      );
      this.retry.unref();
    }
  }

  private async pushPage(target: number): Promise<void> {
    const entries = await this.readStore
      .collection<FeedEntry>(FEED)
      .find({ position: { $gt: this.position, $lte: target } }, { sort: { position: 1 }, limit: PAGE });
    entries.sort((a, b) => a.position - b.position || a._id.localeCompare(b._id));
    const conversationIds = [...new Set(entries.flatMap((entry) => (entry.conversationId === null ? [] : [entry.conversationId])))];
    const members = new Map<string, ConversationDoc[]>();
    if (conversationIds.length > 0) {
      for (const doc of await this.readStore
        .collection<ConversationDoc>(CONVERSATIONS)
        .find({ conversationId: { $in: conversationIds } })) {
        members.set(doc.conversationId, [...(members.get(doc.conversationId) ?? []), doc]);
      }
    }
    const publications = entries.flatMap((entry): Publication[] => {
      const userIds =
        entry.conversationId === null
          ? entry.userIds
          : (members.get(entry.conversationId) ?? [])
              .filter((doc) => memberAt(doc, entry.position) && !entry.except.includes(doc.userId))
              .map((doc) => doc.userId);
      if (userIds.length === 0) return [];
      const ring = ringOf(entry.bytes);
      return [{ userIds, position: entry.position, bytes: entry.bytes, ...(ring ? { ring } : {}) }];
    });
    // A full page may end inside a position's entries (two at most): go only up to the last whole position.
    let last = target;
    if (entries.length === PAGE) {
      const lastPosition = entries[entries.length - 1]!.position;
      last = lastPosition - 1 > this.position ? lastPosition - 1 : lastPosition;
    }
    const whole = publications.filter((publication) => publication.position <= last);
    if (whole.length > 0) this.publish(whole);
    this.position = last;
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
  }
}
