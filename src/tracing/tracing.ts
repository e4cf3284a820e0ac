import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Link,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { BATCH_SPAN, CORRELATION_ID, parseTraceparent, PUSH_SPAN, traceparentOf, type BatchTrace } from './batchTrace.ts';

export { CORRELATION_ID } from './batchTrace.ts';

/** How long a shutdown waits for the last spans' export. */
const SHUTDOWN_EXPORT_MS = 3_000;

/**
 * Names the correlation id on the active span, where it is made below the span (a socket frame's, by its handler).
 * Tracing off, there is no active span.
 */
export function noteCorrelationId(correlationId: string): void {
  trace.getActiveSpan()?.setAttribute(CORRELATION_ID, correlationId);
}

export interface TracingSettings {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL (spans go to `<it>/v1/traces`); null: tracing is off. */
  endpoint: string | null;
  /** OTEL_SERVICE_NAME. */
  serviceName: string;
}

/**
 * OpenTelemetry traces, off unless a collector is configured. Off, every method is one branch and a direct call: no
 * provider, no context manager, no span object. On, the provider is registered for the process (so the active span
 * follows awaits) and this server's spans go through it to the OTLP exporter, or to `exporter` (tests).
 */
export class Tracing {
  private constructor(
    private readonly tracer: Tracer | null,
    private readonly provider: NodeTracerProvider | null,
  ) {}

  static readonly off = new Tracing(null, null);

  static async start(settings: TracingSettings, exporter?: SpanExporter): Promise<Tracing> {
    if (settings.endpoint === null) return Tracing.off;
    // Loaded only when tracing is on: it is a tenth of a second of every start otherwise.
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    const provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
      spanProcessors: [
        new BatchSpanProcessor(exporter ?? new OTLPTraceExporter({ url: `${settings.endpoint.replace(/\/+$/, '')}/v1/traces` })),
      ],
    });
    provider.register();
    return new Tracing(provider.getTracer('letsapp'), provider);
  }

  get enabled(): boolean {
    return this.tracer !== null;
  }

  /**
   * Runs `work` in a span, active while it runs (its awaits included), ended when it settles; a throw marks it failed.
   * Off: `work(null)`.
   */
  span<T>(name: string, attributes: Attributes, work: (span: Span | null) => Promise<T>, kind: SpanKind = SpanKind.INTERNAL): Promise<T> {
    if (!this.tracer) return work(null);
    return this.tracer.startActiveSpan(name, { kind, attributes }, async (span) => {
      try {
        return await work(span);
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  /** The W3C `traceparent` of the active span when it is recorded: what an event carries to its projection. */
  activeTraceparent(): string | undefined {
    if (!this.tracer) return undefined;
    const span = trace.getSpan(context.active());
    return span?.isRecording() ? traceparentOf(span.spanContext()) : undefined;
  }

  /**
   * The projection batch that applied traced events (timed where it ran, perhaps another thread), as a child of the
   * first one's append and linked to the others', then `deliver` (the push of what it published) as its child.
   */
  projected(
    batch: BatchTrace | undefined,
    publications: ReadonlyArray<{ readonly userIds: readonly string[] }>,
    deliver: () => void,
  ): void {
    if (!this.tracer || !batch || batch.traced.length === 0) return deliver();
    const contexts: SpanContext[] = [];
    for (const each of batch.traced) {
      const parsed = parseTraceparent(each.traceparent);
      if (parsed && !contexts.some((known) => known.spanId === parsed.spanId)) contexts.push(parsed);
    }
    if (contexts.length === 0) return deliver();
    const correlationIds = [...new Set(batch.traced.map((each) => each.correlationId))];
    const links: Link[] = contexts.slice(1).map((linked) => ({ context: linked }));
    const batchSpan = this.tracer.startSpan(
      BATCH_SPAN,
      {
        startTime: batch.startedAt,
        links,
        attributes: {
          [CORRELATION_ID]: correlationIds,
          'letsapp.events': batch.events,
          'letsapp.position.first': batch.firstPosition,
          'letsapp.position.last': batch.lastPosition,
          'letsapp.publications': publications.length,
          'letsapp.projection.thread': batch.thread,
        },
      },
      trace.setSpanContext(ROOT_CONTEXT, contexts[0]!),
    );
    batchSpan.end(batch.endedAt);
    const pushSpan = this.tracer.startSpan(
      PUSH_SPAN,
      {
        attributes: {
          [CORRELATION_ID]: correlationIds,
          'letsapp.publications': publications.length,
          'letsapp.recipients': publications.reduce((sum, publication) => sum + publication.userIds.length, 0),
        },
      },
      trace.setSpan(ROOT_CONTEXT, batchSpan),
    );
    try {
      deliver();
    } finally {
      pushSpan.end();
    }
  }

  /** Exports what has ended so far. */
  async flush(): Promise<void> {
    await this.provider?.forceFlush();
  }

  /**
   * Exports what is left, waiting at most `timeoutMs` (a collector that does not answer does not hold up the exit), and
   * gives up the process's registration.
   */
  async shutdown(timeoutMs = SHUTDOWN_EXPORT_MS): Promise<void> {
    if (!this.provider) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.provider.shutdown().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    trace.disable();
    context.disable();
    propagation.disable();
  }
}
