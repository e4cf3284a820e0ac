import type { ClientPayload } from './frames.ts';
import type { ClientStore } from './stores.ts';

export type SendInput = ClientPayload<'message.send'>;

/** A message the user sent that the server has not acknowledged yet. */
export interface PendingSend {
  clientMessageId: string;
  payload: SendInput & { clientMessageId: string };
  queuedAt: string;
}

/**
 * The messages typed but not yet acknowledged, kept in the client store so that neither a lost connection nor a
 * reload loses one. Each carries its `clientMessageId`, so sending it again after an unanswered attempt cannot
 * make a second message: the server answers a repeat with the first.
 */
export class Outbox {
  private entries: PendingSend[] = [];

  constructor(
    private readonly store: ClientStore,
    private readonly key: string,
  ) {}

  async load(): Promise<void> {
    this.entries = await this.read();
  }

  get pending(): readonly PendingSend[] {
    return this.entries;
  }

  async add(entry: PendingSend): Promise<void> {
    await this.update((entries) =>
      entries.some((existing) => existing.clientMessageId === entry.clientMessageId) ? entries : [...entries, entry],
    );
  }

  async remove(clientMessageId: string): Promise<void> {
    await this.update((entries) => entries.filter((entry) => entry.clientMessageId !== clientMessageId));
  }

  /**
   * Applies a change here at once, then to what is stored now merged with what this instance holds: tabs of one
   * origin share a localStorage store, and saving a stale copy would drop the messages another tab queued. (An
   * entry another tab has sent may come back and be sent again: the server answers the repeat with the first.)
   */
  private async update(change: (entries: PendingSend[]) => PendingSend[]): Promise<void> {
    this.entries = change(this.entries);
    const merged = new Map([...(await this.read()), ...this.entries].map((entry) => [entry.clientMessageId, entry]));
    this.entries = change([...merged.values()]);
    await this.save();
  }

  private async read(): Promise<PendingSend[]> {
    const saved = await this.store.get(this.key);
    return saved ? (JSON.parse(saved) as PendingSend[]) : [];
  }

  private save(): Promise<void> {
    return this.entries.length ? this.store.set(this.key, JSON.stringify(this.entries)) : this.store.delete(this.key);
  }
}
