import { QuotaExceededError, type Quota } from '../../commands/media.ts';

/** An upload's claim on its owner's quota, from before its first byte until it is recorded (or refused). */
export interface QuotaReservation {
  /** Raises the claim to `bytes` (the bytes received so far); throws QuotaExceededError when they do not fit. */
  readonly grow: (bytes: number) => void;
  /** The quota as the decider must see it at record time: the live files and every other upload in flight. */
  usageBesides(live: { usedBytes: number; usedFiles: number; mediaIds: ReadonlySet<string> }): Quota;
  release(): void;
}

interface Claim {
  mediaId: string;
  bytes: number;
}

/**
 * Uploads in flight, per owner, counted against the quota while their bytes stream in: checking only when the file
 * is recorded let four parallel uploads each see the quota before the others (4 × 900 KB stored against 1 MiB).
 * Held by this server process: instances sharing one store each reserve for their own uploads.
 */
export class QuotaReservations {
  private readonly byOwner = new Map<string, Set<Claim>>();

  constructor(private readonly limits: { maxBytes: number; maxFiles: number }) {}

  /**
   * Claims one file and `bytes` (the declared size, 0 when unknown) on top of `live` (the owner's live files) and
   * the owner's other uploads in flight; refuses at once when they do not fit.
   */
  reserve(
    ownerId: string,
    mediaId: string,
    live: { usedBytes: number; usedFiles: number; mediaIds: ReadonlySet<string> },
    bytes: number,
  ): QuotaReservation {
    const claims = this.byOwner.get(ownerId) ?? new Set<Claim>();
    const claim: Claim = { mediaId, bytes: 0 };
    const others = (liveIds: ReadonlySet<string>) => {
      let otherBytes = 0;
      let otherFiles = 0;
      // A claim whose file is already live (recorded, not yet released) is counted once, as the live file.
      for (const other of claims) {
        if (other === claim || liveIds.has(other.mediaId)) continue;
        otherBytes += other.bytes;
        otherFiles += 1;
      }
      return { otherBytes, otherFiles };
    };
    const quotaWith = (current: typeof live): Quota => {
      const { otherBytes, otherFiles } = others(current.mediaIds);
      return {
        usedBytes: current.usedBytes + otherBytes,
        usedFiles: current.usedFiles + otherFiles,
        maxBytes: this.limits.maxBytes,
        maxFiles: this.limits.maxFiles,
      };
    };
    const check = (wanted: number) => {
      const quota = quotaWith(live);
      if (quota.usedFiles + 1 > quota.maxFiles || quota.usedBytes + wanted > quota.maxBytes) throw new QuotaExceededError(quota);
    };
    check(bytes);
    claim.bytes = bytes;
    claims.add(claim);
    this.byOwner.set(ownerId, claims);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      claims.delete(claim);
      if (claims.size === 0 && this.byOwner.get(ownerId) === claims) this.byOwner.delete(ownerId);
    };
    return {
      grow: (received) => {
        if (released || received <= claim.bytes) return;
        try {
          check(received);
        } catch (error) {
          // Given up at once, not once the refused upload is cleaned up: the others growing meanwhile may fit.
          release();
          throw error;
        }
        claim.bytes = received;
      },
      usageBesides: (current) => quotaWith(current),
      release,
    };
  }
}
