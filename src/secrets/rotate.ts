import { SecretUnreadableError, type SecretBox } from './secretBox.ts';
import { DESTROYED_ENVELOPE, type SecretStore } from './secretStore.ts';

export interface UnreadableSecret {
  purpose: string;
  subject: string;
  /** SecretUnreadableError's reason; never the envelope or plaintext. */
  reason: string;
}

export interface RotationSummary {
  /** Envelopes visited. */
  total: number;
  /** Re-sealed with the current key. */
  rotated: number;
  /** Already sealed with the current key (and verified to open). */
  alreadyCurrent: number;
  /** Could not be opened (unknown key id, altered, malformed): left untouched. */
  unreadable: UnreadableSecret[];
  /** Replaced or deleted by someone else (the server) between our read and our write: left as they now are. */
  changedMeanwhile: number;
}

export interface RotationProgress {
  done: number;
  /** Counted at the start; `done` may pass it if secrets are added during the run. */
  total: number;
}

/**
 * Re-seals every envelope not sealed with the box's current key: open with its own key, seal with the current
 * one, for the same purpose and subject. Idempotent: a second run rotates nothing. Each row is written with a
 * compare-and-set, so a secret the running server replaced meanwhile is never overwritten with the old value.
 * Every envelope is opened, so the summary also reports current-key envelopes that no longer open.
 */
export async function rotateAll(
  store: SecretStore,
  box: SecretBox,
  onProgress?: (progress: RotationProgress) => void,
): Promise<RotationSummary> {
  const summary: RotationSummary = { total: 0, rotated: 0, alreadyCurrent: 0, unreadable: [], changedMeanwhile: 0 };
  const expected = await store.count();
  onProgress?.({ done: 0, total: expected });
  for await (const { purpose, subject, envelope } of store.all()) {
    summary.total += 1;
    // A destroyed shredding key's tombstone: there is nothing to re-seal, by design.
    if (envelope === DESTROYED_ENVELOPE) {
      summary.alreadyCurrent += 1;
      onProgress?.({ done: summary.total, total: Math.max(expected, summary.total) });
      continue;
    }
    const context = { purpose, subject };
    try {
      const stale = box.needsRotation(envelope);
      const plaintext = box.open(envelope, context);
      if (!stale) {
        summary.alreadyCurrent += 1;
      } else if (await store.replace(purpose, subject, envelope, box.seal(plaintext, context))) {
        summary.rotated += 1;
      } else {
        summary.changedMeanwhile += 1;
      }
    } catch (error) {
      if (!(error instanceof SecretUnreadableError)) throw error;
      summary.unreadable.push({ purpose, subject, reason: error.reason });
    }
    onProgress?.({ done: summary.total, total: Math.max(expected, summary.total) });
  }
  return summary;
}
