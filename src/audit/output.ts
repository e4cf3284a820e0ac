import { once } from 'node:events';
import type { OutputHooks } from './progress.ts';

/**
 * Writes audit output to stdout as it is produced, waiting whenever the pipe is full, so a long export or view
 * holds no more than a page in memory.
 */
export class Output {
  constructor(
    private readonly hooks?: OutputHooks,
    private readonly stream: NodeJS.WritableStream = process.stdout,
  ) {}

  async line(text: string): Promise<void> {
    this.hooks?.beforeOutput();
    const flowing = this.stream.write(`${text}\n`);
    this.hooks?.afterOutput();
    if (!flowing) await once(this.stream, 'drain');
  }

  /**
   * One JSON document, streamed: `head`'s fields, then `key` holding the items as an array, then `count`.
   * `JSON.parse` of the whole output gives `{ ...head, [key]: items, count }`.
   */
  async jsonDocument(head: Record<string, unknown>, key: string, items: AsyncIterable<unknown>): Promise<number> {
    const opening = JSON.stringify(head);
    await this.line(`${opening.slice(0, -1)}${opening === '{}' ? '' : ','}${JSON.stringify(key)}:[`);
    let count = 0;
    let previous: string | null = null;
    for await (const item of items) {
      if (previous !== null) await this.line(`${previous},`);
      previous = JSON.stringify(item);
      count++;
    }
    if (previous !== null) await this.line(previous);
    await this.line(`],"count":${count}}`);
    return count;
  }
}
