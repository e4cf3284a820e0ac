import { createHash } from 'node:crypto';

/**
 * The tamper-evident chain over the event log: each event's hash is SHA-256 over the previous event's hash and this
 * event's position, stream, revision, type and the SHA-256 digests of its data and metadata exactly as stored.
 * Changing, removing or reordering any event changes every hash after it; `npm run audit -- verify` recomputes it.
 * Hashing the digests (not the bytes) lets an export that redacts a secret still carry what the chain needs.
 */
export const CHAIN_VERSION = '2';
export const GENESIS_HASH = createHash('sha256').update('letsapp-event-log-genesis').digest('hex');

export interface ChainedRow {
  position: number;
  stream: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
}

export const digest = (text: string) => createHash('sha256').update(text).digest('hex');

/** What the chain covers of one event: its place and type, and the digests of its stored data and metadata. */
export interface ChainLink {
  position: number;
  stream: string;
  revision: number;
  type: string;
  dataSha256: string;
  metadataSha256: string;
}

export const linkOf = (row: ChainedRow): ChainLink => ({
  position: row.position,
  stream: row.stream,
  revision: row.revision,
  type: row.type,
  dataSha256: digest(row.data),
  metadataSha256: digest(row.metadata),
});

export function linkHash(previous: string, link: ChainLink): string {
  return createHash('sha256')
    .update(previous)
    .update(JSON.stringify([link.position, link.stream, link.revision, link.type, link.dataSha256, link.metadataSha256]))
    .digest('hex');
}

export const chainHash = (previous: string, row: ChainedRow): string => linkHash(previous, linkOf(row));

/** The first position whose stored hash does not match the recomputed chain, or null when it holds throughout. */
export function firstBreak(
  rows: Iterable<ChainedRow & { chain_hash: string | null }>,
  previous = GENESIS_HASH,
): { position: number; expected: string; stored: string | null } | null {
  let hash = previous;
  for (const row of rows) {
    hash = chainHash(hash, row);
    if (row.chain_hash !== hash) return { position: row.position, expected: hash, stored: row.chain_hash };
  }
  return null;
}
