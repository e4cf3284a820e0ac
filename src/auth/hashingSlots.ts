import { RateLimitedError } from '../../commands/shared/errors.ts';

/**
 * At most `concurrency` password hashes at once, shared fairly between clients: a freed slot goes to the waiting
 * client with the fewest hashes running, the longest-waiting first among equals. bcrypt runs on libuv's thread pool,
 * which the filesystem shares (4 threads unless UV_THREADPOOL_SIZE says otherwise): bounded below it, failed logins
 * cannot stall file I/O, and one client's burst cannot hold every slot while another waits.
 */
export class HashingSlots {
  private running = 0;
  private readonly runningBy = new Map<string, number>();
  /** Waiting clients in the order they started waiting. */
  private readonly waiting = new Map<string, Array<() => void>>();

  constructor(
    private readonly concurrency: number,
    private readonly maxWaitingPerClient: number,
  ) {}

  async run<T>(client: string, task: () => Promise<T>): Promise<T> {
    if (this.running < this.concurrency) this.start(client);
    else await this.turn(client);
    try {
      return await task();
    } finally {
      this.finish(client);
    }
  }

  /** Hashes waiting for a slot, over every client. */
  get queued(): number {
    let count = 0;
    for (const queue of this.waiting.values()) count += queue.length;
    return count;
  }

  private start(client: string): void {
    this.running++;
    this.runningBy.set(client, (this.runningBy.get(client) ?? 0) + 1);
  }

  private turn(client: string): Promise<void> {
    const queue = this.waiting.get(client) ?? [];
    if (queue.length >= this.maxWaitingPerClient) return Promise.reject(new RateLimitedError('auth', 1_000));
    return new Promise((resolve) => {
      queue.push(resolve);
      if (queue.length === 1) this.waiting.set(client, queue);
    });
  }

  private finish(client: string): void {
    this.running--;
    const left = this.runningBy.get(client)! - 1;
    if (left === 0) this.runningBy.delete(client);
    else this.runningBy.set(client, left);
    let next: string | null = null;
    for (const candidate of this.waiting.keys()) {
      if (next === null || (this.runningBy.get(candidate) ?? 0) < (this.runningBy.get(next) ?? 0)) next = candidate;
    }
    if (next === null) return;
    const queue = this.waiting.get(next)!;
    const resume = queue.shift()!;
    // Served: to the back of the line with whatever it still has waiting.
    this.waiting.delete(next);
    if (queue.length > 0) this.waiting.set(next, queue);
    this.start(next);
    resume();
  }
}
