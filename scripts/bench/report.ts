/**
 * The bench's HTML report: one self-contained file (Chart.js and the run's data inline, nothing fetched) with charts of
 * each phase over time (throughput; latency percentiles; the server's event loop and RSS), the machine's limits
 * measured in the same run, and, given an earlier run, the differences. `figures` and `compareFigures` are also what
 * `npm run bench -- --compare` prints.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { LatencySummary, TimelinePoint } from './load.ts';

interface EventLoopPoint {
  second: number;
  p99Ms: number;
  maxMs: number;
}
interface Phase {
  ackedPerSecond: number;
  deliveryLatencyMs: LatencySummary;
  ackLatencyMs: LatencySummary;
  eventLoopDelayMs: { worstWindowP99: number; max: number };
  serverPeakRssMb: number;
  /** Absent in results saved before it was measured. */
  cpuMicrosPerAcked?: { server: number; servingThread: number; loadGenerator: number };
  /** Absent in results saved before the report existed: such a phase has figures but no charts. */
  timeline?: TimelinePoint[];
  eventLoopTimeline?: EventLoopPoint[];
}
interface Fanout {
  members: number;
  messagesPerSecond: number;
  deliveriesPerSecond: number;
  latencyMs: LatencySummary;
  eventLoopDelayMs: { worstWindowP99: number; max: number };
  timeline?: TimelinePoint[];
  eventLoopTimeline?: EventLoopPoint[];
}

/** What the report reads of a run's JSON (`bench-results/bench-*.json`). */
export interface BenchResult {
  commit: string;
  takenAt: string;
  machine: { cpus: number; node: string };
  options: { users: number; sockets: number; seconds: number; rate: number; window: number; restConcurrency: number };
  socketThroughput: Phase;
  socketLatency: Phase;
  restThroughput: Phase;
  projectionReplay: { events: number; eventsPerSecond: number };
  groupFanout: Fanout | null;
  serverRssMb: number;
  limits: {
    rawSqliteSingleRowCommits: { appendsPerSecond: number };
    rawSqliteBatchedCommits: { appendsPerSecond: number };
    relayThroughput: { ackedPerSecond: number };
    relayLatency: { deliveryLatencyMs: LatencySummary };
    relayFanout: { deliveriesPerSecond: number; latencyMs: LatencySummary } | null;
  };
  ratios: Record<string, number | null>;
}

export interface Figure {
  key: string;
  label: string;
  value: number;
  unit: string;
  /** Which way is an improvement. */
  better: 'higher' | 'lower';
}

/** The run's headline figures, in the order the console table and the report show them. */
export function figures(result: BenchResult): Figure[] {
  const { socketThroughput: closed, socketLatency: atRate, restThroughput: rest, groupFanout: fanout, limits } = result;
  const rate = result.options.rate;
  const list: Array<Figure | null> = [
    { key: 'socketAcked', label: 'socket: acked messages/s (closed loop)', value: closed.ackedPerSecond, unit: '/s', better: 'higher' },
    closed.cpuMicrosPerAcked
      ? {
          key: 'socketCpu',
          label: 'server CPU per acked message (closed loop)',
          value: closed.cpuMicrosPerAcked.server,
          unit: 'µs',
          better: 'lower',
        }
      : null,
    closed.cpuMicrosPerAcked
      ? {
          key: 'socketServingCpu',
          label: 'serving thread CPU per acked message (closed loop)',
          value: closed.cpuMicrosPerAcked.servingThread,
          unit: 'µs',
          better: 'lower',
        }
      : null,
    { key: 'socketAckP99', label: 'socket: send→ack p99 (closed loop)', value: closed.ackLatencyMs.p99, unit: 'ms', better: 'lower' },
    { key: 'rateAckP99', label: `socket: send→ack p99 at ${rate}/s`, value: atRate.ackLatencyMs.p99, unit: 'ms', better: 'lower' },
    {
      key: 'rateDeliveredP99',
      label: `socket: send→delivered p99 at ${rate}/s`,
      value: atRate.deliveryLatencyMs.p99,
      unit: 'ms',
      better: 'lower',
    },
    {
      key: 'rateEventLoopP99',
      label: `server event loop p99 at ${rate}/s`,
      value: atRate.eventLoopDelayMs.worstWindowP99,
      unit: 'ms',
      better: 'lower',
    },
    { key: 'restAcked', label: 'REST: acked messages/s', value: rest.ackedPerSecond, unit: '/s', better: 'higher' },
    fanout && {
      key: 'fanoutDeliveries',
      label: `group fan-out (${fanout.members} members): deliveries/s`,
      value: fanout.deliveriesPerSecond,
      unit: '/s',
      better: 'higher',
    },
    fanout && { key: 'fanoutP99', label: 'group fan-out: send→delivered p99', value: fanout.latencyMs.p99, unit: 'ms', better: 'lower' },
    {
      key: 'replay',
      label: 'projection replay (all projectors)',
      value: result.projectionReplay.eventsPerSecond,
      unit: 'events/s',
      better: 'higher',
    },
    {
      key: 'peakRss',
      label: 'server peak RSS',
      value: Math.max(closed.serverPeakRssMb, atRate.serverPeakRssMb, rest.serverPeakRssMb),
      unit: 'MB',
      better: 'lower',
    },
    {
      key: 'socketVsRelay',
      label: 'ratio: socket acked / bare relay acked',
      value: result.ratios.socketAckedVsRelay ?? 0,
      unit: '×',
      better: 'higher',
    },
    {
      key: 'relayAcked',
      label: 'limit: bare uWS relay acked/s',
      value: limits.relayThroughput.ackedPerSecond,
      unit: '/s',
      better: 'higher',
    },
    {
      key: 'rawSqliteBatched',
      label: 'limit: raw SQLite appends/s, 256 per commit',
      value: limits.rawSqliteBatchedCommits.appendsPerSecond,
      unit: '/s',
      better: 'higher',
    },
  ];
  return list.filter((figure): figure is Figure => figure !== null);
}

export interface FigureChange {
  key: string;
  label: string;
  unit: string;
  before: number;
  after: number;
  /** after / before (null when before is 0). */
  ratio: number | null;
  /** Beyond ±10%, which way it went for this figure; 'same' within. */
  verdict: 'better' | 'worse' | 'same';
}

/** Each figure both runs have: before, after, their ratio, and whether that is better, worse or within 10%. */
export function compareFigures(before: BenchResult, after: BenchResult): FigureChange[] {
  const old = new Map(figures(before).map((figure) => [figure.key, figure]));
  return figures(after).flatMap((figure) => {
    const previous = old.get(figure.key);
    if (!previous) return [];
    const ratio = previous.value === 0 ? null : Number((figure.value / previous.value).toFixed(3));
    const improved = figure.better === 'higher' ? (ratio ?? 1) > 1 : (ratio ?? 1) < 1;
    const verdict = ratio === null || Math.abs(ratio - 1) <= 0.1 ? 'same' : improved ? 'better' : 'worse';
    return [{ key: figure.key, label: figure.label, unit: figure.unit, before: previous.value, after: figure.value, ratio, verdict }];
  });
}

/** The comparison as console lines. */
export function formatComparison(before: BenchResult, after: BenchResult): string {
  const lines = [
    `LetsApp bench: ${before.commit} (${before.takenAt}) → ${after.commit} (${after.takenAt})`,
    `${'figure'.padEnd(52)} ${'before'.padStart(10)} ${'after'.padStart(10)} ${'ratio'.padStart(7)}  verdict`,
  ];
  for (const change of compareFigures(before, after))
    lines.push(
      `${change.label.padEnd(52)} ${String(change.before).padStart(10)} ${String(change.after).padStart(10)} ` +
        `${(change.ratio === null ? '-' : change.ratio.toFixed(2)).padStart(7)}  ${change.verdict}`,
    );
  return lines.join('\n');
}

const require = createRequire(import.meta.url);
// The UMD build (one script defining `Chart`) beside the package's main file: its exports do not name it.
const chartJs = () => readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8');

/** JSON safe inside a <script> element. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');
const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The phases with charts, each: per-second series and event-loop windows. */
function chartedPhases(result: BenchResult) {
  const phases: Array<{ name: string; timeline: TimelinePoint[]; eventLoop: EventLoopPoint[]; throughputLabel: string }> = [];
  const add = (name: string, phase: Phase | Fanout | null, throughputLabel: string) => {
    if (phase?.timeline && phase.timeline.length > 0)
      phases.push({ name, timeline: phase.timeline, eventLoop: phase.eventLoopTimeline ?? [], throughputLabel });
  };
  add('socket throughput (closed loop)', result.socketThroughput, 'acked/s');
  add(`socket at ${result.options.rate} msg/s`, result.socketLatency, 'acked/s');
  add('REST throughput', result.restThroughput, 'acked/s');
  add(`group fan-out (${result.groupFanout?.members ?? 0} members)`, result.groupFanout, 'deliveries/s');
  return phases;
}

/** The report of `result`, compared with `previous` when given. */
export function renderReport(result: BenchResult, previous?: BenchResult): string {
  const phases = chartedPhases(result);
  const changes = previous ? compareFigures(previous, result) : [];
  const row = (cells: string[], tag = 'td') => `<tr>${cells.map((cell) => `<${tag}>${cell}</${tag}>`).join('')}</tr>`;
  const summary = figures(result)
    .map((figure) => row([escapeHtml(figure.label), `${figure.value.toLocaleString('en')} ${escapeHtml(figure.unit)}`]))
    .join('');
  const comparison = previous
    ? `<h2>Compared with ${escapeHtml(previous.commit)} (${escapeHtml(previous.takenAt)})</h2>
<div class="chart wide"><canvas id="compare"></canvas></div>
<table>${row(['figure', 'before', 'after', 'after / before', 'verdict'], 'th')}${changes
        .map((change) =>
          row([
            escapeHtml(change.label),
            `${change.before} ${escapeHtml(change.unit)}`,
            `${change.after} ${escapeHtml(change.unit)}`,
            change.ratio === null ? '-' : change.ratio.toFixed(2),
            `<span class="${change.verdict}">${change.verdict}</span>`,
          ]),
        )
        .join('')}</table>`
    : '';
  const limits = result.limits;
  const limitRows = [
    ['raw SQLite appends/s, 1 row per commit (WAL, synchronous=FULL)', limits.rawSqliteSingleRowCommits.appendsPerSecond],
    ['raw SQLite appends/s, 256 rows per commit', limits.rawSqliteBatchedCommits.appendsPerSecond],
    ['bare uWebSockets.js relay: acked/s (closed loop)', limits.relayThroughput.ackedPerSecond],
    [`bare relay: delivered p99 ms at ${result.options.rate}/s`, limits.relayLatency.deliveryLatencyMs.p99],
    ...(limits.relayFanout
      ? [
          ['bare relay fan-out: deliveries/s', limits.relayFanout.deliveriesPerSecond],
          ['bare relay fan-out: delivered p99 ms', limits.relayFanout.latencyMs.p99],
        ]
      : []),
  ]
    .map(([label, value]) => row([escapeHtml(String(label)), String(value)]))
    .join('');
  const sections = phases
    .map(
      (phase, index) => `<h2>${escapeHtml(phase.name)}</h2>
<div class="charts">
  <div class="chart"><canvas id="throughput-${index}"></canvas></div>
  <div class="chart"><canvas id="latency-${index}"></canvas></div>
  <div class="chart"><canvas id="server-${index}"></canvas></div>
</div>`,
    )
    .join('\n');
  const data = {
    phases,
    comparison: changes.map((change) => ({ label: change.label, ratio: change.ratio, verdict: change.verdict })),
  };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>LetsApp bench @ ${escapeHtml(result.commit)}</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2330; }
  table { border-collapse: collapse; margin: 8px 0 24px; }
  td, th { border-bottom: 1px solid #dde; padding: 4px 12px; text-align: left; }
  td:nth-child(n+2) { text-align: right; font-variant-numeric: tabular-nums; }
  .charts { display: grid; grid-template-columns: repeat(3, 1fr); gap: 16px; }
  .chart { position: relative; height: 260px; }
  .chart.wide { height: ${Math.max(200, changes.length * 26)}px; max-width: 900px; }
  .better { color: #137333; } .worse { color: #b3261e; } .same { color: #666; }
</style>
</head>
<body>
<h1>LetsApp bench @ ${escapeHtml(result.commit)}</h1>
<p>Taken ${escapeHtml(result.takenAt)} on ${result.machine.cpus} cores, Node ${escapeHtml(result.machine.node)}:
${result.options.users} users, ${result.options.sockets} sockets, ${result.options.seconds} s per phase, fixed rate
${result.options.rate} msg/s, window ${result.options.window}, ${result.options.restConcurrency} REST loops.</p>
<h2>Figures</h2>
<table>${summary}</table>
${comparison}
<h2>This machine's limits, measured in the same run</h2>
<table>${limitRows}</table>
${sections}
<script>${chartJs()}</script>
<script type="application/json" id="bench-data">${scriptJson(data)}</script>
<script>
(() => {
  const data = JSON.parse(document.getElementById('bench-data').textContent);
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  const line = (label, points, color, axis = 'y') => ({ label, data: points, borderColor: color, backgroundColor: color, yAxisID: axis, pointRadius: 2, tension: 0.2 });
  const xAxis = { type: 'linear', title: { display: true, text: 'seconds into the phase' } };
  const chart = (id, title, datasets, scales) =>
    new Chart(document.getElementById(id), { type: 'line', data: { datasets }, options: { parsing: false, plugins: { title: { display: true, text: title } }, scales: { x: xAxis, ...scales } } });
  let drawn = 0;
  data.phases.forEach((phase, i) => {
    const at = (pick) => phase.timeline.map((p) => ({ x: p.second, y: pick(p) }));
    chart('throughput-' + i, phase.throughputLabel + ' per second', [line(phase.throughputLabel, at((p) => p.perSecond), '#1a73e8')], { y: { beginAtZero: true } });
    const latency = [
      line('delivered p50', at((p) => p.deliveryMs.p50), '#81c995'),
      line('delivered p95', at((p) => p.deliveryMs.p95), '#f9ab00'),
      line('delivered p99', at((p) => p.deliveryMs.p99), '#d93025'),
    ];
    // REST sends have no socket ack: the line is drawn only where acks were timed.
    if (phase.timeline.some((p) => p.ackMs && p.ackMs.samples > 0))
      latency.push(line('ack p99', at((p) => (p.ackMs && p.ackMs.samples > 0 ? p.ackMs.p99 : null)), '#9334e6'));
    chart('latency-' + i, 'latency percentiles, ms (per second)', latency, { y: { beginAtZero: true } });
    const server = [
      line('event loop p99 ms', phase.eventLoop.map((w) => ({ x: w.second, y: w.p99Ms })), '#d93025'),
      line('event loop max ms', phase.eventLoop.map((w) => ({ x: w.second, y: w.maxMs })), '#f29900'),
    ];
    const scales = { y: { beginAtZero: true, title: { display: true, text: 'ms' } } };
    if (phase.timeline.some((p) => p.serverRssMb !== undefined)) {
      server.push(line('RSS MB', at((p) => p.serverRssMb), '#1a73e8', 'rss'));
      scales.rss = { position: 'right', beginAtZero: true, title: { display: true, text: 'MB' }, grid: { drawOnChartArea: false } };
    }
    chart('server-' + i, phase.eventLoop.length > 0 || scales.rss ? 'server: event loop and memory' : 'server', server, scales);
    drawn += 3;
  });
  if (data.comparison.length > 0) {
    new Chart(document.getElementById('compare'), {
      type: 'bar',
      data: { labels: data.comparison.map((c) => c.label), datasets: [{ label: 'after / before', data: data.comparison.map((c) => c.ratio), backgroundColor: data.comparison.map((c) => (c.verdict === 'better' ? '#137333' : c.verdict === 'worse' ? '#b3261e' : '#999')) }] },
      options: { indexAxis: 'y', plugins: { title: { display: true, text: 'after / before (1 = unchanged)' } } },
    });
    drawn += 1;
  }
  window.benchChartsDrawn = drawn;
})();
</script>
</body>
</html>
`;
}
