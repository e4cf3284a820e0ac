import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CLIENT_FRAMES, CLOSE, SERVER_FRAMES } from '../contract/socketProtocol.ts';
import type { ProjectionsStatus } from '../projection/projections.ts';
import type { CheckpointStatus } from '../sqlite/checkpointer.ts';

/**
 * Label values a family may take beyond a known list (error codes, close codes, statuses) stop at this many; later
 * ones are counted as `other`. Nothing user-supplied is ever a label, but a bug must not make a series per request.
 */
const MAX_OPEN_LABEL_VALUES = 50;

/** A label whose values come from the code, capped so that no input can grow a family without bound. */
class BoundedLabel {
  private readonly seen = new Set<string>();
  constructor(
    private readonly known: ReadonlySet<string> | null = null,
    private readonly max = MAX_OPEN_LABEL_VALUES,
  ) {}

  of(value: string): string {
    if (this.known) return this.known.has(value) ? value : 'other';
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(value);
    return value;
  }
}

const clientFrameTypes = new Set(Object.keys(CLIENT_FRAMES));
const serverFrameTypes = new Set([...Object.keys(SERVER_FRAMES), ...Object.keys(CLIENT_FRAMES).map((type) => `${type}.ok`)]);
const closeCodes = new Set(['1000', '1001', '1005', '1006', ...Object.values(CLOSE).map(String)]);

/** What the server reads at scrape time, from wherever it lives (the projection worker, the stores). */
export interface MetricsSources {
  projections: () => Promise<ProjectionsStatus>;
  storage: () => Promise<{ events: CheckpointStatus | null; read: CheckpointStatus | null }>;
  presenceSessions: () => Promise<number>;
}

/** An appended event, as the metrics see it: its type and the few facts counted (sizes, outcomes, tokens). */
interface AppendedEvent {
  type: string;
  data: unknown;
}

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Every Prometheus family the server exposes, in a registry of its own (no global: several servers in one test
 * process each have theirs). Labels are route templates, methods, statuses, frame types, codes, policies and
 * projector names: bounded by the code, never a user, a path or a frame's content.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'letsapp_http_requests_total',
    help: 'REST requests answered, by route template, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'letsapp_http_request_duration_seconds',
    help: 'Time to answer a REST request, by route template, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly socketsOpen = new Gauge({
    name: 'letsapp_sockets_open',
    help: 'Authenticated sockets open on this instance',
    registers: [this.registry],
  });
  readonly socketFramesIn = new Counter({
    name: 'letsapp_socket_frames_in_total',
    help: 'Frames received from clients, by frame type (`other` for a type the protocol does not have)',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly socketFramesOut = new Counter({
    name: 'letsapp_socket_frames_out_total',
    help: 'Frames sent to clients, by frame type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly socketFramesRefused = new Counter({
    name: 'letsapp_socket_frames_refused_total',
    help: 'Frames answered with an error frame (or a close), by frame type and error code',
    labelNames: ['type', 'code'] as const,
    registers: [this.registry],
  });
  readonly socketCloses = new Counter({
    name: 'letsapp_socket_closes_total',
    help: 'Sockets closed, by close code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly eventAppends = new Counter({
    name: 'letsapp_event_appends_total',
    help: 'Appends to the event log, by outcome (ok, conflict, error)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly eventsAppended = new Counter({
    name: 'letsapp_events_appended_total',
    help: 'Events appended, by event type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly commitSize = new Histogram({
    name: 'letsapp_event_commit_size_events',
    help: "Events per append (one command's commit)",
    buckets: [1, 2, 3, 5, 10, 20, 50, 100],
    registers: [this.registry],
  });
  readonly commitDuration = new Histogram({
    name: 'letsapp_event_commit_duration_seconds',
    help: 'Time an append took to be durable',
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly projectionPosition = new Gauge({
    name: 'letsapp_projection_position',
    help: 'Last event position each projector applied',
    labelNames: ['projector'] as const,
    registers: [this.registry],
  });
  readonly projectionLag = new Gauge({
    name: 'letsapp_projection_lag_events',
    help: 'Events in the log each projector has not applied yet',
    labelNames: ['projector'] as const,
    registers: [this.registry],
  });
  readonly projectionHeld = new Gauge({
    name: 'letsapp_projection_held',
    help: '1 while a projector is held at an event it could not apply (see /ping, npm run skip-event)',
    labelNames: ['projector'] as const,
    registers: [this.registry],
  });
  readonly projectorsHeld = new Gauge({ name: 'letsapp_projectors_held', help: 'Projectors held at an event', registers: [this.registry] });
  readonly eventLogHead = new Gauge({
    name: 'letsapp_event_log_head_position',
    help: 'Position of the newest event in the log',
    registers: [this.registry],
  });
  readonly projectionBatchDuration = new Histogram({
    name: 'letsapp_projection_batch_duration_seconds',
    help: 'Time each projector spent applying one committed batch',
    labelNames: ['projector'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly projectionCommitDuration = new Histogram({
    name: 'letsapp_projection_commit_duration_seconds',
    help: 'Time to apply and commit one batch for every projector (one transaction)',
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly walBytes = new Gauge({
    name: 'letsapp_wal_bytes',
    help: "Size of an embedded store's write-ahead log (store: events, read)",
    labelNames: ['store'] as const,
    registers: [this.registry],
  });
  readonly walDrains = new Counter({
    name: 'letsapp_wal_drains_total',
    help: 'WAL resets by a drain between writes, per embedded store',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });
  readonly walTruncations = new Counter({
    name: 'letsapp_wal_truncations_total',
    help: "WAL resets by the checkpointer's TRUNCATE backstop, per embedded store",
    labelNames: ['store'] as const,
    registers: [this.registry],
  });
  readonly walCheckpointFailures = new Gauge({
    name: 'letsapp_wal_checkpoint_failures',
    help: 'TRUNCATE checkpoints in a row that failed (0 when healthy)',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });
  readonly rateLimitRefusals = new Counter({
    name: 'letsapp_rate_limit_refusals_total',
    help: 'Requests and frames refused by a rate-limit policy',
    labelNames: ['policy'] as const,
    registers: [this.registry],
  });
  readonly aiRequests = new Counter({ name: 'letsapp_ai_requests_total', help: 'Prompts sent to Leta', registers: [this.registry] });
  readonly aiTokens = new Counter({
    name: 'letsapp_ai_tokens_total',
    help: 'Tokens the model reported, by kind (prompt, output)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly aiFailures = new Counter({
    name: 'letsapp_ai_failures_total',
    help: 'Prompts that ended without a reply, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly uploads = new Counter({
    name: 'letsapp_uploads_total',
    help: 'Files uploaded, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly uploadedBytes = new Counter({
    name: 'letsapp_uploaded_bytes_total',
    help: 'Bytes of the files uploaded (stored once each), by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly calls = new Counter({
    name: 'letsapp_calls_total',
    help: 'Calls ended, by outcome (the CallEnded reason)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly presenceSessions = new Gauge({
    name: 'letsapp_presence_sessions',
    help: 'Presence sessions of this instance',
    registers: [this.registry],
  });

  private readonly statusLabel = new BoundedLabel();
  private readonly codeLabel = new BoundedLabel();
  private readonly eventTypeLabel = new BoundedLabel(null, 200);
  private readonly mediaKindLabel = new BoundedLabel(null, 20);
  private readonly clientFrameLabel = new BoundedLabel(clientFrameTypes);
  private readonly serverFrameLabel = new BoundedLabel(serverFrameTypes);
  private readonly closeLabel = new BoundedLabel(closeCodes);
  /** Counters the stores keep themselves (drains): the last value seen, so the counter moves by the difference. */
  private readonly lastSeen = new Map<string, number>();
  private readonly sources: MetricsSources;
  readonly collectErrors = new Gauge({
    name: 'letsapp_metrics_collect_errors',
    help: 'Sources that failed at the last scrape (projections, storage, presence)',
    registers: [this.registry],
  });

  constructor(sources: MetricsSources) {
    // The process's event-loop delay, GC, memory, handles and CPU (prom-client's `process_*` and `nodejs_*`).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
    this.sources = sources;
  }

  /** The exposition, in Prometheus text format. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    // Read before the registry serializes: a family's own collect() would run as it is written, after earlier ones.
    const results = await Promise.allSettled([
      this.collectProjections(this.sources),
      this.collectStorage(this.sources),
      this.collectPresence(this.sources),
    ]);
    this.collectErrors.set(results.filter((result) => result.status === 'rejected').length);
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  httpAnswered(route: string, method: string, status: number, seconds: number): void {
    const labels = { route, method, status: this.statusLabel.of(String(status)) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  frameReceived(type: string): void {
    this.socketFramesIn.inc({ type: this.clientFrameLabel.of(type) });
  }

  /** `bytes` is a serialized frame (`{"type":"...",...}`): its type is read off the front, not parsed. */
  frameSent(bytes: string): void {
    const end = bytes.startsWith('{"type":"') ? bytes.indexOf('"', 9) : -1;
    this.socketFramesOut.inc({ type: end > 0 ? this.serverFrameLabel.of(bytes.slice(9, end)) : 'other' });
  }

  frameRefused(type: string | undefined, code: string): void {
    this.socketFramesRefused.inc({ type: type === undefined ? 'none' : this.clientFrameLabel.of(type), code: this.codeLabel.of(code) });
  }

  socketOpened(): void {
    this.socketsOpen.inc();
  }

  socketClosed(code: number, wasOpen: boolean): void {
    if (wasOpen) this.socketsOpen.dec();
    this.socketCloses.inc({ code: this.closeLabel.of(String(code)) });
  }

  rateLimited(policy: string): void {
    this.rateLimitRefusals.inc({ policy: this.codeLabel.of(policy) });
  }

  /** One append to the log: its events are also counted by what they record (uploads, calls, prompts). */
  appended(events: readonly AppendedEvent[], seconds: number): void {
    this.eventAppends.inc({ outcome: 'ok' });
    this.commitSize.observe(events.length);
    this.commitDuration.observe(seconds);
    for (const event of events) {
      this.eventsAppended.inc({ type: this.eventTypeLabel.of(event.type) });
      this.countFacts(event);
    }
  }

  appendFailed(outcome: 'conflict' | 'error'): void {
    this.eventAppends.inc({ outcome });
  }

  /** A committed projection batch: how long the whole batch and each projector's share of it took. */
  projectionBatch(seconds: number, byProjector: ReadonlyArray<readonly [string, number]>): void {
    this.projectionCommitDuration.observe(seconds);
    for (const [projector, projectorSeconds] of byProjector) this.projectionBatchDuration.observe({ projector }, projectorSeconds);
  }

  private countFacts(event: AppendedEvent): void {
    const data = event.data as Record<string, unknown>;
    switch (event.type) {
      case 'MediaUploaded': {
        const kind = this.mediaKindLabel.of(String(data.kind));
        this.uploads.inc({ kind });
        if (typeof data.size === 'number') this.uploadedBytes.inc({ kind }, data.size);
        return;
      }
      case 'CallEnded':
        this.calls.inc({ outcome: this.codeLabel.of(String(data.reason)) });
        return;
      case 'AiPromptSubmitted':
        this.aiRequests.inc();
        return;
      case 'AiReplyCompleted': {
        const usage = data.usage as { promptTokens?: number; outputTokens?: number } | null;
        if (usage?.promptTokens) this.aiTokens.inc({ kind: 'prompt' }, usage.promptTokens);
        if (usage?.outputTokens) this.aiTokens.inc({ kind: 'output' }, usage.outputTokens);
        return;
      }
      case 'AiReplyFailed':
        this.aiFailures.inc({ code: this.codeLabel.of(String(data.code)) });
        return;
      default:
    }
  }

  private async collectProjections(sources: MetricsSources): Promise<void> {
    const status = await sources.projections();
    const held = new Set(status.stalled.map((stall) => stall.projector));
    this.eventLogHead.set(status.head);
    for (const { projector, position } of status.projectors) {
      this.projectionPosition.set({ projector }, position);
      this.projectionLag.set({ projector }, Math.max(0, status.head - position));
      this.projectionHeld.set({ projector }, held.has(projector) ? 1 : 0);
    }
    this.projectorsHeld.set(held.size);
  }

  private async collectStorage(sources: MetricsSources): Promise<void> {
    const storage = await sources.storage();
    for (const [store, status] of [
      ['events', storage.events],
      ['read', storage.read],
    ] as const) {
      if (!status) continue;
      this.walBytes.set({ store }, status.walBytes);
      this.walCheckpointFailures.set({ store }, status.consecutiveFailures);
      this.advance(this.walDrains, store, 'drains', status.drains);
      this.advance(this.walTruncations, store, 'truncations', status.truncations);
    }
  }

  private async collectPresence(sources: MetricsSources): Promise<void> {
    this.presenceSessions.set(await sources.presenceSessions());
  }

  private advance(counter: Counter<'store'>, store: string, what: string, total: number): void {
    const key = `${what}:${store}`;
    const delta = total - (this.lastSeen.get(key) ?? 0);
    if (delta > 0) counter.inc({ store }, delta);
    this.lastSeen.set(key, total);
  }
}
