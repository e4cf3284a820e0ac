import type { EventStore } from './eventstore/port.ts';
import type { Projections } from './projection/projections.ts';
import type { ReadStore } from './readstore/port.ts';

/** Why a server should not be sent traffic now; `/health/ready` answers 503 with every reason that holds. */
export type NotReadyReason =
  | { code: 'shutting_down' }
  | { code: 'event_store_unreachable'; error: string }
  | { code: 'read_store_unreachable'; error: string }
  | { code: 'projection_behind'; projector: string; position: number; head: number; lagMs: number; held: boolean };

export interface Readiness {
  ready: boolean;
  reasons: NotReadyReason[];
}

export interface ReadinessDeps {
  eventStore: Pick<EventStore, 'headPosition' | 'readAll'>;
  readStore: Pick<ReadStore, 'collection'>;
  projections: Pick<Projections, 'status'>;
  clock: () => Date;
  /** READY_MAX_LAG_MS: how long the oldest event a projector has not applied may have waited. */
  maxLagMs: number;
  /** A store that does not answer within this long counts as unreachable (a cut network hangs rather than fails). */
  checkTimeoutMs?: number;
}

/**
 * Readiness for a load balancer: both stores answer, every projector (held ones included) has applied every event
 * older than `maxLagMs`, and the server is not shutting down. Lag is measured in time, not events: after a restart
 * the projections may be thousands of events behind and still catch up in a second.
 */
export class ReadinessCheck {
  private shuttingDown = false;

  constructor(private readonly deps: ReadinessDeps) {}

  /** From now on the server is not ready (SIGTERM: the balancer stops sending while in-flight work finishes). */
  beginShutdown(): void {
    this.shuttingDown = true;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  async check(): Promise<Readiness> {
    const reasons: NotReadyReason[] = [];
    if (this.shuttingDown) reasons.push({ code: 'shutting_down' });
    const [head, read] = await Promise.all([
      this.timed(() => this.deps.eventStore.headPosition()),
      this.timed(() => this.deps.readStore.collection('users').findOne({})),
    ]);
    if (!head.ok) reasons.push({ code: 'event_store_unreachable', error: head.error });
    if (!read.ok) reasons.push({ code: 'read_store_unreachable', error: read.error });
    if (head.ok) reasons.push(...(await this.projectionLag(head.value)));
    return { ready: reasons.length === 0, reasons };
  }

  private async projectionLag(head: number): Promise<NotReadyReason[]> {
    const status = await this.timed(() => this.deps.projections.status());
    if (!status.ok) return [];
    const held = new Set(status.value.stalled.map((stall) => stall.projector));
    const behind = status.value.projectors.filter((projector) => projector.position < head);
    // The age of the first event after each distinct position: one read per position, not per projector.
    const ages = new Map<number, number>();
    for (const position of new Set(behind.map((projector) => projector.position))) {
      const next = await this.timed(() => this.deps.eventStore.readAll({ after: position, maxCount: 1 }));
      const timestamp = next.ok ? next.value[0]?.metadata.timestamp : undefined;
      ages.set(position, timestamp ? Math.max(0, this.deps.clock().getTime() - Date.parse(timestamp)) : 0);
    }
    return behind
      .map((projector) => ({
        code: 'projection_behind' as const,
        projector: projector.projector,
        position: projector.position,
        head,
        lagMs: ages.get(projector.position) ?? 0,
        held: held.has(projector.projector),
      }))
      .filter((reason) => reason.lagMs > this.deps.maxLagMs);
  }

  private async timed<T>(work: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
    const timeoutMs = this.deps.checkTimeoutMs ?? 2_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return { ok: true, value: await Promise.race([work(), timeout]) };
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }
}
