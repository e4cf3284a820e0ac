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

  constructor(private readonly store: ClientStore, private readonly key: string) {}

  async load(): Promise<void> {
    const saved = await this.store.get(this.key);
    this.entries = saved ? JSON.parse(saved) as PendingSend[] : [];
  }

  get pending(): readonly PendingSend[] {
    return this.entries;
  }

  async add(entry: PendingSend): Promise<void> {
    if (this.entries.some((existing) => existing.clientMessageId === entry.clientMessageId)) return;
    this.entries = [...this.entries, entry];
    await this.save();
  }

  async remove(clientMessageId: string): Promise<void> {
    const before = this.entries.length;
    this.entries = this.entries.filter((entry) => entry.clientMessageId !== clientMessageId);
    if (this.entries.length !== before) await this.save();
  }

  private save(): Promise<void> {
    return this.entries.length ? this.store.set(this.key, JSON.stringify(this.entries)) : this.store.delete(this.key);
  }
}
