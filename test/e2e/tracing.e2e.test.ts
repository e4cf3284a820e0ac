import test, { type ExecutionContext } from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { AppOptions } from '../../src/app.ts';
import { registerUser, request, startTestApp, type TestApp } from '../helpers/app.ts';
import { connect } from '../helpers/socket.ts';

// Every test here starts its own server and the traced ones register the process's tracer provider: one at a time.
const CORRELATION_ID = 'letsapp.correlation_id';
/** Any collector address: these tests export to the SDK's in-memory exporter instead. */
const TRACED = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };

async function tracedApp(
  t: ExecutionContext,
  exporter: InMemorySpanExporter,
  env: Record<string, string> = TRACED,
  options: AppOptions = {},
): Promise<TestApp> {
  const app = await startTestApp({ env, traceExporter: exporter, ...options });
  t.teardown(() => app.dispose());
  return app;
}

async function syncedSocket(app: TestApp, token: string) {
  const socket = await connect(app.wsUrl, token);
  await socket.next((frame) => frame.type === 'welcome');
  socket.send({ type: 'sync' });
  await socket.next((frame) => frame.type === 'sync.snapshot');
  return socket;
}

/** The spans of one trace once they are all exported: waits for the push, which ends last. */
async function traceOf(app: TestApp, exporter: InMemorySpanExporter, traceId: () => string | undefined): Promise<ReadableSpan[]> {
  for (let attempt = 0; attempt < 100; attempt++) {
    await app.tracing.flush();
    const id = traceId();
    const spans = id ? exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === id) : [];
    if (spans.some((span) => span.name === 'push')) return spans;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the trace never got its push span');
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const named = (spans: readonly ReadableSpan[], name: string) => {
  const found = spans.filter((span) => span.name === name);
  if (found.length !== 1) throw new Error(`expected one ${name} span, found ${found.length}: ${spans.map((span) => span.name).join(', ')}`);
  return found[0]!;
};

/** root → decide SendMessage → append → projection batch → push, one parent each, every one naming the correlation id. */
function assertChain(t: ExecutionContext, spans: readonly ReadableSpan[], rootName: string, correlationId: string) {
  const root = named(spans, rootName);
  const decide = named(spans, 'decide SendMessage');
  const append = named(spans, 'append');
  const batch = named(spans, 'projection batch');
  const push = named(spans, 'push');
  t.is(parentOf(root), undefined, 'the request is the root');
  t.is(parentOf(decide), root.spanContext().spanId);
  t.is(parentOf(append), decide.spanContext().spanId);
  t.is(parentOf(batch), append.spanContext().spanId, 'the projection batch joins the trace through the event');
  t.is(parentOf(push), batch.spanContext().spanId);
  for (const span of [root, decide, append]) t.is(span.attributes[CORRELATION_ID], correlationId, span.name);
  for (const span of [batch, push]) t.deepEqual(span.attributes[CORRELATION_ID], [correlationId], span.name);
  t.true((batch.attributes['letsapp.publications']! as number) >= 1);
  t.true((push.attributes['letsapp.recipients']! as number) >= 1);
  return { append };
}

for (const projectionInWorker of [true, false]) {
  test.serial(
    `a REST send is one trace: request, decide, append, the projection batch and the push it caused, each with the correlation id (projection ${projectionInWorker ? 'in its worker thread' : 'in the serving thread'})`,
    async (t) => {
      const exporter = new InMemorySpanExporter();
      const app = await tracedApp(t, exporter, TRACED, { projectionInWorker });
      const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
      const socket = await syncedSocket(app, b.accessToken);
      let traceId: string | undefined;
      const sent = await request(app.url, 'POST', '/api/messages', {
        token: a.accessToken,
        body: { recipientId: b.user.id, text: 'traced hello' },
      });
      t.is(sent.status, 201);
      const correlationId = sent.headers.get('x-correlation-id')!;
      await socket.next((frame) => frame.type === 'message.created' && frame.message.id === sent.body.message.id);
      const spans = await traceOf(
        app,
        exporter,
        () =>
          (traceId ??= exporter
            .getFinishedSpans()
            .find((span) => span.name === 'POST /api/messages' && span.attributes[CORRELATION_ID] === correlationId)
            ?.spanContext().traceId),
      );
      const { append } = assertChain(t, spans, 'POST /api/messages', correlationId);
      t.is(named(spans, 'POST /api/messages').attributes['http.response.status_code'], 201);

      // The event carries the append's trace context beside the correlation id: that is how the projection finds the trace.
      const [event] = await app.eventStore.readStream(`message-${sent.body.message.id}`);
      t.like(event!.metadata, { correlationId, traceparent: `00-${append.spanContext().traceId}-${append.spanContext().spanId}-01` });
      socket.close();
    },
  );
}

test.serial(
  "a message.send socket frame is one trace: frame, decide, append, the projection batch and the push, with the frame's correlation id",
  async (t) => {
    const exporter = new InMemorySpanExporter();
    const app = await tracedApp(t, exporter);
    const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
    const receiver = await syncedSocket(app, b.accessToken);
    const sender = await connect(app.wsUrl, a.accessToken);
    const welcome = await sender.next((frame) => frame.type === 'welcome');
    sender.send({ type: 'message.send', id: 'traced-1', recipientId: b.user.id, text: 'traced over the socket' });
    const ack = await sender.next((frame) => frame.type === 'message.send.ok' && frame.id === 'traced-1');
    await receiver.next((frame) => frame.type === 'message.created' && frame.message.id === ack.messageId);
    const correlationId = `ws:${welcome.connectionId}:traced-1`;
    let traceId: string | undefined;
    const spans = await traceOf(
      app,
      exporter,
      () =>
        (traceId ??= exporter
          .getFinishedSpans()
          .find((span) => span.name === 'ws message.send' && span.attributes[CORRELATION_ID] === correlationId)
          ?.spanContext().traceId),
    );
    assertChain(t, spans, 'ws message.send', correlationId);
    const [event] = await app.eventStore.readStream(`message-${ack.messageId}`);
    t.is(event!.metadata.correlationId, correlationId);
    sender.close();
    receiver.close();
  },
);

test.serial('with OTEL_EXPORTER_OTLP_ENDPOINT unset no tracer provider is registered and nothing is recorded', async (t) => {
  const exporter = new InMemorySpanExporter();
  const app = await tracedApp(t, exporter, {});
  const [a, b] = [await registerUser(app.url), await registerUser(app.url)];
  const socket = await syncedSocket(app, b.accessToken);
  const sent = await request(app.url, 'POST', '/api/messages', {
    token: a.accessToken,
    body: { recipientId: b.user.id, text: 'untraced' },
  });
  t.is(sent.status, 201);
  await socket.next((frame) => frame.type === 'message.created');
  await app.tracing.flush();
  t.false(app.tracing.enabled);
  t.deepEqual(exporter.getFinishedSpans(), []);
  t.false(trace.getTracer('probe').startSpan('probe').isRecording(), 'the global tracer provider is the no-op one');
  const [event] = await app.eventStore.readStream(`message-${sent.body.message.id}`);
  t.false('traceparent' in event!.metadata, 'no trace context is stored');
  socket.close();
});

test.serial(
  'with OTEL_EXPORTER_OTLP_ENDPOINT at a collector, the spans are POSTed to its /v1/traces as OTLP JSON with service.name letsapp',
  async (t) => {
    const received: Array<{ method: string; url: string; contentType: string; body: string }> = [];
    const collector = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        received.push({ method: req.method!, url: req.url!, contentType: req.headers['content-type'] ?? '', body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => collector.close(() => resolve())));
    const app = await startTestApp({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}` },
    });
    t.is((await request(app.url, 'GET', '/ping')).status, 200);
    await app.dispose();
    const posts = received.filter((each) => each.method === 'POST' && each.url === '/v1/traces');
    t.true(posts.length >= 1, JSON.stringify(received.map(({ method, url }) => ({ method, url }))));
    t.regex(posts[0]!.contentType, /^application\/json/);
    const exported = posts.flatMap(
      (post) =>
        JSON.parse(post.body).resourceSpans as Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
          scopeSpans: Array<{ spans: Array<{ name: string }> }>;
        }>,
    );
    t.true(
      exported.some((resource) =>
        resource.resource.attributes.some((attribute) => attribute.key === 'service.name' && attribute.value.stringValue === 'letsapp'),
      ),
    );
    t.true(exported.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans)).some((span) => span.name === 'GET /ping'));
  },
);

test.serial('a collector that never answers does not hold up the shutdown: the last export is given up after a few seconds', async (t) => {
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    silent.closeAllConnections();
    silent.close();
  });
  const app = await startTestApp({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` } });
  t.is((await request(app.url, 'GET', '/ping')).status, 200);
  const started = performance.now();
  await app.dispose();
  t.true(performance.now() - started < 6_000, `closed in ${Math.round(performance.now() - started)} ms`);
});
