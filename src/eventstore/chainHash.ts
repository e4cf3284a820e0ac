import { createHash } from 'node:crypto';

/**
 * The tamper-evident chain over the event log: each event's hash is SHA-256 over the previous event's hash and this
 * event's stored bytes (position, stream, revision, type, data and metadata exactly as stored). Changing, removing
 * or reordering any event changes every hash after it; `npm run audit -- verify` recomputes the chain.
 */
export const GENESIS_HASH = createHash('sha256').update('letsapp-event-log-genesis').digest('hex');

export interface ChainedRow {
  position: number;
  stream: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
}

export function chainHash(previous: string, row: ChainedRow): string {
  return createHash('sha256')
    .update(previous)
    .update(JSON.stringify([row.position, row.stream, row.revision, row.type, row.data, row.metadata]))
    .digest('hex');
}

/** The first position whose stored hash does not match the recomputed chain, or null when it holds throughout. */
export function firstBreak(rows: Iterable<ChainedRow & { chain_hash: string | null }>, previous = GENESIS_HASH): { position: number; expected: string; stored: string | null } | null {
  let hash = previous;
  for (const row of rows) {
    hash = chainHash(hash, row);
    if (row.chain_hash !== hash) return { position: row.position, expected: hash, stored: row.chain_hash };
  }
  return null;
}
