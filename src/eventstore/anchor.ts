import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';

/**
 * The anchor of the event log's hash chain: the newest (position, hash) with a keyed MAC, kept outside the log
 * (`STORAGE_DIR/events.anchor.json`, key `AUDIT_ANCHOR_KEY`). The chain alone shows an edit, but anyone can recompute
 * it after one (the algorithm is public), or cut the newest events off; neither matches an anchored head without
 * the key. `npm run audit -- anchor` prints a head to keep further away still (`verify --anchor` checks it).
 */
export interface ChainHead {
  position: number;
  hash: string | null;
}

export interface SignedHead extends ChainHead {
  /** When the head was signed (ISO-8601); covered by the MAC. */
  at: string;
  /** The first head this anchor file held: a log anchored late (a lost or removed anchor) shows it here. */
  since: { position: number; at: string };
  /** HMAC-SHA256 over the fields above, hex. */
  mac: string;
}

export type AnchorStatus =
  /** The anchored head is in the log, with the same hash. */
  | 'ok'
  /** No anchor (and events in the log): nothing vouches that the log was not rewritten or cut short. */
  | 'missing'
  /** The anchor's MAC does not match (forged, or another key): it vouches for nothing. */
  | 'forged'
  /** The anchor file cannot be read as an anchor. */
  | 'unreadable'
  /** The log ends before the anchored position: events were cut off (or the log restored from a backup). */
  | 'truncated'
  /** The event at the anchored position has another hash: the chain was recomputed after a change. */
  | 'rewritten';

export interface AnchorCheck {
  status: AnchorStatus;
  /** The anchored position (absent when there is no readable anchor). */
  position?: number;
  /** The log's newest position when checked. */
  head: number;
  /** Since when the anchor has covered the log. */
  since?: { position: number; at: string };
}

const macOf = (key: string, head: Omit<SignedHead, 'mac'>) =>
  createHmac('sha256', key)
    .update(JSON.stringify(['letsapp-event-log-anchor-v1', head.position, head.hash, head.at, head.since.position, head.since.at]))
    .digest('hex');

export function signHead(key: string, head: ChainHead, at: Date, since?: SignedHead['since']): SignedHead {
  const unsigned = {
    position: head.position,
    hash: head.hash,
    at: at.toISOString(),
    since: since ?? { position: head.position, at: at.toISOString() },
  };
  return { ...unsigned, mac: macOf(key, unsigned) };
}

export function macMatches(key: string, head: SignedHead): boolean {
  const expected = Buffer.from(macOf(key, head), 'hex');
  const given = Buffer.from(typeof head.mac === 'string' ? head.mac : '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Parses a signed head (the anchor file, or what `audit anchor` printed); null when it is not one. */
export function parseSignedHead(text: string): SignedHead | null {
  try {
    const value = JSON.parse(text) as SignedHead;
    const valid =
      Number.isInteger(value.position) &&
      value.position >= 0 &&
      (value.hash === null || typeof value.hash === 'string') &&
      typeof value.at === 'string' &&
      typeof value.mac === 'string' &&
      Number.isInteger(value.since?.position) &&
      typeof value.since?.at === 'string';
    return valid ? value : null;
  } catch {
    return null;
  }
}

/** The anchor file's content: null when there is none, 'unreadable' when it is not an anchor. */
export function readAnchorFile(file: string): SignedHead | 'unreadable' | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return 'unreadable';
  }
  return parseSignedHead(text) ?? 'unreadable';
}

/**
 * Checks a signed head against the log: `hashAt(position)` is the stored hash at that position (undefined when the
 * log has no such event), `head` the log's newest position. Without a key only the MAC is not checked (a head the
 * operator kept elsewhere is trusted by where it was kept).
 */
export function checkHead(
  anchor: SignedHead | 'unreadable' | null,
  key: string | null,
  head: number,
  hashAt: (position: number) => string | null | undefined,
): AnchorCheck {
  if (anchor === null) return { status: head === 0 ? 'ok' : 'missing', head };
  if (anchor === 'unreadable') return { status: 'unreadable', head };
  const base = { position: anchor.position, head, since: anchor.since };
  if (key !== null && !macMatches(key, anchor)) return { status: 'forged', ...base };
  if (anchor.position === 0) return { status: 'ok', ...base };
  const stored = hashAt(anchor.position);
  if (stored === undefined) return { status: head < anchor.position ? 'truncated' : 'rewritten', ...base };
  return { status: stored === anchor.hash ? 'ok' : 'rewritten', ...base };
}

/**
 * Written whole or not at all (a temp file, fsync, rename), so a crash leaves the old anchor or the new one. The temp
 * file is this process's own: an operator's script may anchor the same log at the same moment.
 */
export async function writeAnchorFile(file: string, head: SignedHead): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(JSON.stringify(head));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
}
