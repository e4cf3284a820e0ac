/**
 * npm run bench [-- --users 200 --sockets 1000 --seconds 6 --rate 2000 --window 4 --rest-concurrency 32 --profile DIR]
 * npm run bench -- --replay 100000   (generate that many events, time a full rebuild of every projector)
 * npm run bench -- --sync-backlog 100000   (one user syncs that many waiting messages; the event loop meanwhile)
 * npm run bench -- --search 100000   (that many messages in the search index; p95 of GET /api/search's query per kind)
 * npm run bench -- --startup 1000000   (that many events, projections caught up; spawn to the first /ping 200)
 * npm run bench -- --idle-sockets 18000   (live traffic alone, then beside that many idle synced sockets; memory each)
 * npm run bench -- --compare old.json [--with new.json]   (the differences from an earlier run, printed and charted)
 * npm run bench -- --backend postgres --instances 2 --database-url postgres://...   (the phases on the embedded default,
 *   then on that many instances on one fresh schema; side by side, ratios from the same run: scripts/bench/backends.ts)
 * npm run bench -- --observability-cost --users 40 --sockets 100 --seconds 3 --rounds 8   (phase 1 with metrics and
 *   tracing off and on, four servers taking turns; ratios to both off, from the same run)
 *
 * Starts the server on the embedded default in a temp dir (a child process) and loads it from this process:
 *  1. socket throughput: every socket sends direct and group messages, `window` in flight, as fast as acks come;
 *  2. socket latency at a fixed rate (`--rate` messages/s), send-to-delivered at the receiving sockets;
 *  3. REST throughput: `--rest-concurrency` loops of POST /api/messages.
 * Then it measures this machine's limits with the same rows and frames: raw SQLite appends (WAL, synchronous=FULL)
 * and a bare uWebSockets.js relay, and prints our figures as ratios of them. Results: a table, a JSON file and a
 * self-contained HTML report with charts (scripts/bench/report.ts); `--compare old.json` adds the differences.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execSync } from 'node:child_process';
import { eventUpcaster } from '../commands/upcasters.ts';
import { projectors } from '../projections/index.ts';
import { SqliteEventStore } from '../src/eventstore/sqlite.ts';
import { rebuildProjections } from '../src/projection/rebuild.ts';
import { SqliteReadStore } from '../src/readstore/sqlite.ts';
import { parseScriptArgs } from './lib/args.ts';
import { spawnServer } from './lib/spawnServer.ts';
import {
  groupCreated,
  Latencies,
  LoadSocket,
  runFor,
  type Frame,
  type MessageCreated,
  type RelayFrame,
  type TimelinePoint,
  jsonClient,
  openAndSync,
  registerUsers,
  rssMb,
  cpuSeconds,
} from './bench/load.ts';
import { measureRawAppends } from './bench/rawSqlite.ts';
import { replayBench } from './bench/replay.ts';
import { makeBigGroup, measureFanout, type FanoutResult } from './bench/fanout.ts';
import { benchServerEnv } from './bench/serverEnv.ts';
import { uploadBench } from './bench/upload.ts';
import { syncBacklogBench } from './bench/syncBacklog.ts';
import { searchBench } from './bench/search.ts';
import { observabilityCostBench } from './bench/observabilityCost.ts';
import { BACKENDS, compareBackends, printComparison } from './bench/backends.ts';
import { formatComparison, renderReport, type BenchResult } from './bench/report.ts';
import { idleSocketsBench } from './bench/idleSockets.ts';
import { startupBench, type Starts } from './bench/startup.ts';

const USAGE = `Usage: npm run bench -- [options]   (a server on the embedded default in a temp dir, loaded from here)
  --users 200 --sockets 1000 --seconds 6 --rate 2000 --window 1 --rest-concurrency 32
  --group-size 5 --group-share 0.1 --fanout-size 1000 (0 skips that phase) --fanout-rate 60 --presence on|off
  --out bench-results   where the JSON results and the HTML report go;  --profile DIR   a V8 CPU profile of the server
  --compare old.json   print and chart the differences from an earlier run (with --with new.json: two saved runs, no phases)
  Instead of the phases: --replay <events> | --upload <files> | --sync-backlog <messages> | --search <messages>
    | --startup <events>   spawn → first /ping 200 on that log, projections caught up (three starts)
    | --idle-sockets <sockets> [--live-rate 500 --addresses 4]   memory per idle synced socket, live p99 beside them
    | --observability-cost [--rounds 3]   phase 1 with metrics and tracing off and on (see scripts/bench/observabilityCost.ts)
  --backend embedded|postgres (default embedded)   postgres: the phases on the embedded default, then on
    --instances 2 (1-8) servers on a fresh schema (dropped after) of --database-url postgres://... (or BENCH_DATABASE_URL)`;
const { values, fail } = parseScriptArgs(USAGE, {
  users: { type: 'string', default: '200' },
  sockets: { type: 'string', default: '1000' },
  seconds: { type: 'string', default: '6' },
  rate: { type: 'string', default: '2000' },
  window: { type: 'string', default: '1' },
  'rest-concurrency': { type: 'string', default: '32' },
  'group-size': { type: 'string', default: '5' },
  'group-share': { type: 'string', default: '0.1' },
  out: { type: 'string', default: 'bench-results' },
  /** Writes a V8 CPU profile of the server into this directory. */
  profile: { type: 'string' },
  /** Instead of the phases: generate this many events and time a full rebuild of every projector. */
  replay: { type: 'string' },
  /** The group fan-out phase: one group of this many members, every member connected (0 skips it). */
  'fanout-size': { type: 'string', default: '1000' },
  /** Messages per second sent to that group. */
  'fanout-rate': { type: 'string', default: '60' },
  /** Instead of the phases: upload this many 8 MiB files and compare with a plain file copy. */
  upload: { type: 'string' },
  /** Instead of the phases: one user syncs this many waiting messages while another pings the server. */
  'sync-backlog': { type: 'string' },
  /** Instead of the phases: index this many messages for search and time the queries. */
  search: { type: 'string' },
  /** `off` runs the server with PRESENCE_ENABLED=false, to measure what presence costs. */
  presence: { type: 'string', default: 'on' },
  /** Instead of the phases: the closed-loop socket phase with metrics and tracing off and on, in one run. */
  'observability-cost': { type: 'boolean', default: false },
  /** Rounds of --observability-cost (each setting once per round; medians reported). */
  rounds: { type: 'string', default: '3' },
  /** `postgres`: the phases on the embedded default, then on --instances servers on one PostgreSQL schema. */
  backend: { type: 'string', default: 'embedded' },
  instances: { type: 'string' },
  'database-url': { type: 'string' },
  /** Instead of the phases: a log of this many events, projections caught up; the time from spawn to /ping 200. */
  startup: { type: 'string' },
  /** Instead of the phases: live traffic alone, then beside this many idle synced sockets; memory per socket. */
  'idle-sockets': { type: 'string' },
  /** With --idle-sockets: the live traffic's direct messages per second, and the source addresses (127.0.0.1-N). */
  'live-rate': { type: 'string', default: '500' },
  addresses: { type: 'string', default: '4' },
  /** An earlier run's JSON: the differences are printed and charted in the report. */
  compare: { type: 'string' },
  /** With --compare: the later run's JSON, instead of running the phases now. */
  with: { type: 'string' },
});
const backend = values.backend;
if (!(BACKENDS as readonly string[]).includes(backend)) fail(`--backend takes ${BACKENDS.join(' or ')}, not '${backend}'`);
const instances = Number(values.instances ?? '2');
const databaseUrl = values['database-url'] ?? process.env.BENCH_DATABASE_URL;
if (backend === 'embedded' && values.instances !== undefined)
  fail('--instances is for --backend postgres (the embedded default is one server)');
if (backend === 'postgres') {
  if (!Number.isInteger(instances) || instances < 1 || instances > 8)
    fail(`--instances takes a whole number from 1 to 8, not '${values.instances}'`);
  if (!databaseUrl) fail('--backend postgres needs --database-url or BENCH_DATABASE_URL (a database the bench may create a schema in)');
  else if (!/^postgres(ql)?:\/\/./.test(databaseUrl)) fail('--database-url must be a postgres:// URL');
}
const options = {
  users: Number(values.users),
  sockets: Number(values.sockets),
  seconds: Number(values.seconds),
  rate: Number(values.rate),
  window: Number(values.window),
  restConcurrency: Number(values['rest-concurrency']),
  groupSize: Number(values['group-size']),
  groupShare: Number(values['group-share']),
  fanoutSize: Number(values['fanout-size']),
  fanoutRate: Number(values['fanout-rate']),
};

const log = (message: string) => process.stderr.write(`${message}\n`);
const readResult = (file: string): BenchResult => {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
  } catch (error) {
    return fail(`cannot read the bench results in ${file}: ${(error as Error).message}`);
  }
};
if (values.with !== undefined && values.compare === undefined) fail('--with names the later run of a --compare');
const previous = values.compare === undefined ? undefined : readResult(values.compare);
if (values.with !== undefined) {
  // Two saved runs: their differences, printed and charted, with no phases run now.
  const later = readResult(values.with);
  console.log(formatComparison(previous!, later));
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, `compare-${previous!.commit}-${later.commit}.html`);
  writeFileSync(file, renderReport(later, previous));
  console.log(`report: ${file}`);
  process.exit(0);
}
const commitOf = () => {
  try {
    return execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
};
/** Writes a run's results to `<prefix>-<commit>-<time>.json` under --out; returns the file's path. */
function saveResults(prefix: string, result: { commit: string; takenAt: string }): string {
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, `${prefix}-${result.commit}-${result.takenAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

if (values.replay !== undefined) {
  const total = Number(values.replay);
  if (!Number.isInteger(total) || total < 1_000) throw new Error('--replay takes a number of events, at least 1000');
  const replayed = await replayBench(total, log);
  const commit = commitOf();
  const result = { commit, takenAt: new Date().toISOString(), mode: 'replay', ...replayed };
  const file = saveResults('replay', result);
  console.log(
    `\nLetsApp replay @ ${commit}: ${replayed.events} events rebuilt through ${replayed.projectors.length} projectors in ` +
      `${replayed.seconds.toFixed(1)} s = ${replayed.eventsPerSecond} events/s (generated in ${replayed.generateSeconds.toFixed(1)} s)\nresults: ${file}`,
  );
  process.exit(0);
}
if (values.search !== undefined) {
  const messages = Number(values.search);
  if (!Number.isInteger(messages) || messages < 1_000) throw new Error('--search takes a number of messages, at least 1000');
  const searched = await searchBench(messages, log);
  const commit = commitOf();
  const result = { commit, takenAt: new Date().toISOString(), mode: 'search', ...searched };
  const file = saveResults('search', result);
  console.log(`\nLetsApp search @ ${commit}: ${searched.messages} messages indexed in ${searched.indexSeconds} s`);
  for (const [kind, figures] of Object.entries(searched.queries))
    console.log(
      `  ${kind.padEnd(32)} p50 ${figures.p50} ms  p95 ${figures.p95} ms  p99 ${figures.p99} ms  (${figures.meanResults} results; CPU p95 ${figures.cpuP95Ms} ms)`,
    );
  console.log(
    `  overall p95 ${searched.overallP95Ms} ms (target <= 50 ms); load average ${searched.loadAverage.before} before, ${searched.loadAverage.after} after\nresults: ${file}`,
  );
  process.exit(0);
}
if (values.startup !== undefined) {
  const events = Number(values.startup);
  if (!Number.isInteger(events) || events < 1_000) fail('--startup takes a number of events, at least 1000');
  const started = await startupBench(events, 3, log);
  const commit = commitOf();
  const result = { commit, takenAt: new Date().toISOString(), mode: 'startup', ...started };
  const file = saveResults('startup', result);
  const span = (starts: Starts) =>
    `${starts.secondsToListening.join(' / ')} s to listening, ${starts.secondsToFirstPing.join(' / ')} s to /ping 200`;
  console.log(
    `\nLetsApp start @ ${commit}: ${started.events} events (event log ${started.eventLogMb} MB, read store ${started.readStoreMb} MB), ` +
      `projections caught up (target: /ping 200 within 2 s)\n  compiled build, this log: ${span(started.compiled)}\n` +
      `  compiled build, empty storage: ${span(started.compiledEmpty)}\n  tsx src/main.ts, this log: ${span(started.tsx)}\nresults: ${file}`,
  );
  process.exit(0);
}
if (values['idle-sockets'] !== undefined) {
  const idle = Number(values['idle-sockets']);
  const [rate, addresses] = [Number(values['live-rate']), Number(values.addresses)];
  if (!Number.isInteger(idle) || idle < 100) fail('--idle-sockets takes a number of sockets, at least 100');
  if (!Number.isInteger(addresses) || addresses < 1 || addresses > 254) fail('--addresses takes a whole number from 1 to 254');
  if (!(rate > 0)) fail('--live-rate takes a positive number of messages per second');
  const held = await idleSocketsBench({ idle, rate, seconds: options.seconds, addresses }, log).catch((error: unknown) =>
    fail((error as Error).message),
  );
  const commit = commitOf();
  const result = { commit, takenAt: new Date().toISOString(), mode: 'idle-sockets', ...held };
  const file = saveResults('idle-sockets', result);
  const { alone, besideIdle } = held.live;
  console.log(
    `\nLetsApp idle sockets @ ${commit}: ${held.idleSockets} synced sockets held from ${held.sourceAddresses.length} source addresses ` +
      `(opened in ${held.openSeconds} s; open-file limit ${held.openFilesLimit})\n` +
      `  server RSS ${held.serverRssMb.before} → ${held.serverRssMb.after} MB = ${held.perSocketKb.rss} KB per socket; ` +
      `V8 heap ${held.serverHeapUsedMb.before} → ${held.serverHeapUsedMb.after} MB = ${held.perSocketKb.heap} KB per socket\n` +
      `  live traffic at ${rate}/s: delivered p50/p99 ${alone.deliveryLatencyMs.p50} / ${alone.deliveryLatencyMs.p99} ms alone, ` +
      `${besideIdle.deliveryLatencyMs.p50} / ${besideIdle.deliveryLatencyMs.p99} ms beside them (ratio ${held.deliveryP99Ratio}); ` +
      `ack p99 ${alone.ackLatencyMs.p99} / ${besideIdle.ackLatencyMs.p99} ms\nresults: ${file}`,
  );
  process.exit(0);
}
if (values['sync-backlog'] !== undefined) {
  const backlog = Number(values['sync-backlog']);
  if (!Number.isInteger(backlog) || backlog < 1) throw new Error('--sync-backlog takes a number of messages, at least 1');
  const synced = await syncBacklogBench(backlog, log, values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : []);
  const commit = commitOf();
  const result = { commit, takenAt: new Date().toISOString(), mode: 'sync-backlog', ...synced };
  const file = saveResults('sync-backlog', result);
  const ping = synced.pingRoundTripMs;
  console.log(
    `\nLetsApp sync of a backlog @ ${commit}: ${synced.backlog} messages in ${synced.syncSeconds} s (${synced.framesPerSecond} frames/s, ` +
      `${synced.complete ? 'each once' : 'INCOMPLETE or duplicated'}); server event loop p99 / max ${synced.eventLoopDelayMs.worstWindowP99} / ` +
      `${synced.eventLoopDelayMs.max} ms; another user's ping p50 / p99 / max ${ping.p50} / ${ping.p99} / ${ping.max} ms (${ping.samples} pings)\nresults: ${file}`,
  );
  process.exit(synced.complete ? 0 : 1);
}
if (values.upload !== undefined) {
  const files = Number(values.upload);
  if (!Number.isInteger(files) || files < 1) throw new Error('--upload takes a number of files, at least 1');
  const uploaded = await uploadBench(files, log);
  const commit = commitOf();
  const result = { commit, takenAt: new Date().toISOString(), mode: 'upload', ...uploaded };
  const file = saveResults('upload', result);
  console.log(
    `\nLetsApp upload @ ${commit}: ${uploaded.sequentialMiBps} MiB/s one at a time, ${uploaded.concurrentMiBps} MiB/s four at once; ` +
      `plain file copy + fsync ${uploaded.fileCopyMiBps} MiB/s (ratio ${(uploaded.sequentialMiBps / uploaded.fileCopyMiBps).toFixed(2)})\nresults: ${file}`,
  );
  process.exit(0);
}
if (values['observability-cost']) {
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds takes a number of rounds, at least 1');
  const settings = await observabilityCostBench({ ...options, rounds }, log);
  const commit = commitOf();
  const os = await import('node:os');
  const result = {
    commit,
    takenAt: new Date().toISOString(),
    mode: 'observability-cost',
    machine: { cpus: os.cpus().length, node: process.version },
    // Other work on the machine meanwhile: the ratios are fair to each setting (they take turns), the absolute figures are not.
    loadAverageAtEnd: os.loadavg().map((load) => Number(load.toFixed(1))),
    options: { ...options, rounds },
    settings,
  };
  const file = saveResults('observability-cost', result);
  console.log(
    `\nLetsApp observability cost @ ${commit}: closed-loop socket phase, ${options.users} users, ${options.sockets} sockets, window ${options.window}, ` +
      `${options.seconds} s x ${rounds} rounds per setting, ${result.machine.cpus} cores, load average ${result.loadAverageAtEnd.join(' ')} (medians; ratios to "off")`,
  );
  console.log(
    `${'setting'.padEnd(16)} ${'acked/s'.padStart(8)} ${'ratio'.padStart(6)}   server CPU ms/msg (ratio)   ack p50 / p99 ms (ratios)          delivered p99 ms (ratio)   spans/msg`,
  );
  for (const each of settings) {
    console.log(
      `${each.setting.padEnd(16)} ${String(each.ackedPerSecond).padStart(8)} ${each.ratios.ackedPerSecond.toFixed(3).padStart(6)}   ` +
        `${`${each.serverCpuMsPerMessage} (${each.ratios.serverCpuPerMessage.toFixed(3)})`.padEnd(27)} ` +
        `${`${each.ackP50Ms} / ${each.ackP99Ms} (${each.ratios.ackP50.toFixed(2)} / ${each.ratios.ackP99.toFixed(2)})`.padEnd(34)} ` +
        `${`${each.deliveryP99Ms} (${each.ratios.deliveryP99.toFixed(2)})`.padEnd(26)} ${each.spansPerAckedMessage ?? '-'}`,
    );
  }
  console.log(`results: ${file}`);
  process.exit(0);
}
if (backend === 'postgres') {
  const compared = await compareBackends(
    options,
    instances,
    databaseUrl!,
    { PRESENCE_ENABLED: values.presence === 'off' ? 'false' : 'true' },
    log,
  );
  const commit = commitOf();
  const result = {
    commit,
    takenAt: new Date().toISOString(),
    mode: 'backends',
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    ...compared,
  };
  const file = saveResults('backends', result);
  printComparison(
    compared,
    `LetsApp bench, embedded vs postgres x ${instances} @ ${commit}: ${options.users} users, ${options.sockets} sockets, ` +
      `${options.seconds} s per phase, ${options.rate} msg/s, fan-out ${options.fanoutSize} at ${options.fanoutRate} msg/s, ${result.machine.cpus} cores`,
  );
  console.log(`results: ${file}`);
  process.exit(0);
}
const storageDir = mkdtempSync(join(tmpdir(), 'letsapp-bench-'));
const server = await spawnServer(
  {
    ...benchServerEnv(storageDir),
    PRESENCE_ENABLED: values.presence === 'off' ? 'false' : 'true',
  },
  values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [],
);
const serverPid = server.child.pid!;
const json = jsonClient(server.url);

// --- set-up: users, groups, sockets -------------------------------------------------------------------------
log(`registering ${options.users} users ...`);
const users = await registerUsers(json, options.users, 'bench', 16);
const groups: Array<{ id: string; members: string[] }> = [];
for (let i = 0; i + options.groupSize <= users.length; i += options.groupSize) {
  const members = users.slice(i, i + options.groupSize);
  const { body } = await json(
    'POST',
    '/api/groups',
    { name: `bench ${i}`, memberIds: members.slice(1).map((u) => u.id) },
    members[0]!.token,
  );
  groups.push({ id: groupCreated.parse(body).group.id, members: members.map((u) => u.id) });
}
const groupOf = new Map(groups.flatMap((group) => group.members.map((member) => [member, group] as const)));

/** Picks a target for `senderIndex`: a group it is in, or another user. */
function target(senderIndex: number): { recipientId?: string; groupId?: string } {
  const sender = users[senderIndex]!;
  const group = groupOf.get(sender.id);
  if (group && Math.random() < options.groupShare) return { groupId: group.id };
  const other = (senderIndex + 1 + Math.floor(Math.random() * (users.length - 1))) % users.length;
  return { recipientId: users[other]!.id };
}

async function openSockets(url: (userIndex: number) => string, sync: boolean): Promise<LoadSocket[]> {
  const sockets: LoadSocket[] = [];
  for (let i = 0; i < options.sockets; i++) sockets.push(new LoadSocket(url(i % users.length), users[i % users.length]!.id));
  if (sync) await openAndSync(sockets);
  else await Promise.all(sockets.map((socket) => socket.opened));
  return sockets;
}

log(`opening ${options.sockets} sockets ...`);
const sockets = await openSockets((i) => `${server.wsUrl}?token=${users[i]!.token}`, true);
const userIndex = new Map(users.map((user, index) => [user.id, index]));

// --- phases -------------------------------------------------------------------------------------------------
interface PhaseResult {
  seconds: number;
  ackedPerSecond: number;
  eventsAppendedPerSecond: number;
  deliveryLatencyMs: ReturnType<Latencies['summary']>;
  ackLatencyMs: ReturnType<Latencies['summary']>;
  maxProjectionLag: number;
  finalProjectionLag: number;
  serverPeakRssMb: number;
  /** The server's event loop in the phase's one-second windows: the worst p99 and the longest stall. */
  eventLoopDelayMs: { worstWindowP99: number; max: number };
  /** The read store's WAL resets in the phase: each drain pauses projection writes until the WAL is copied back. */
  readWalResets: { drains: number; truncations: number };
  /**
   * CPU µs per acked message, from the phase's start until its projections caught up: the server (all threads), its
   * serving thread, and this load generator. Steadier than a rate on a machine the three share.
   */
  cpuMicrosPerAcked?: { server: number; servingThread: number; loadGenerator: number };
  /** Per second: acks, latency percentiles, projection lag, RSS; and the server's event-loop windows. */
  timeline: TimelinePoint[];
  eventLoopTimeline: Array<{ second: number; p99Ms: number; maxMs: number }>;
}

interface WalStatus {
  drains: number;
  truncations: number;
}
interface EventLoopWindow {
  at: string;
  p99Ms: number;
  maxMs: number;
}
async function pingBody() {
  return (await json('GET', '/ping')).body as {
    projections: { head: number; lag: number };
    eventLoop: EventLoopWindow[];
    storage: { read: WalStatus | null };
  };
}
async function ping() {
  return (await pingBody()).projections;
}

/** Counts deliveries to sockets of users other than the sender; the text carries the send time. */
function listenForDeliveries<F extends Frame>(
  all: LoadSocket[],
  latencies: Latencies,
  frameType: string,
  read: (frame: F) => { senderId: string; sentAt: number },
  since: number,
) {
  for (const socket of all) {
    socket.on<F>(frameType, (frame) => {
      const { senderId, sentAt } = read(frame);
      // Only messages sent in this phase: a previous phase's backlog is not this phase's latency.
      if (senderId !== socket.userId && sentAt >= since) latencies.add(performance.now() - sentAt);
    });
  }
}

/** Waits until the server has projected everything (lag 0) and the stragglers have arrived. */
async function drain(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await ping()).lag === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 1_000));
}

async function measure(name: string, drive: (stop: () => boolean, acked: () => void) => Promise<void> | void): Promise<PhaseResult> {
  await drain();
  ackLatencies = new Latencies();
  sentAt.clear();
  const latencies = new Latencies();
  listenForDeliveries(
    sockets,
    latencies,
    'message.created',
    (frame: MessageCreated) => ({ senderId: frame.message.senderId, sentAt: Number(frame.message.content?.text) }),
    performance.now(),
  );
  const beforeBody = await pingBody();
  const before = beforeBody.projections;
  let acked = 0;
  let stopped = false;
  let maxLag = 0;
  let peakRss = rssMb(serverPid);
  const cpuBefore = cpuSeconds(serverPid);
  const loadCpuBefore = process.cpuUsage();
  const started = performance.now();
  const driving = drive(
    () => stopped,
    () => {
      acked++;
    },
  );
  const timeline: TimelinePoint[] = [];
  let ackedBefore = 0;
  let windowStarted = started;
  await runFor(options.seconds, async (elapsed) => {
    const now = performance.now();
    const point: TimelinePoint = {
      second: Number(elapsed.toFixed(2)),
      perSecond: Math.round(((acked - ackedBefore) * 1000) / (now - windowStarted)),
      deliveryMs: latencies.window(),
      ackMs: ackLatencies.window(),
      serverRssMb: Math.round(rssMb(serverPid)),
    };
    ackedBefore = acked;
    windowStarted = now;
    peakRss = Math.max(peakRss, point.serverRssMb!);
    const status = await ping();
    point.projectionLag = status.lag;
    timeline.push(point);
    maxLag = Math.max(maxLag, status.lag);
    log(`  ${name}: ${elapsed.toFixed(0)}/${options.seconds} s, ${acked} acked, lag ${status.lag}`);
  });
  stopped = true;
  const seconds = (performance.now() - started) / 1000;
  await driving;
  const afterBody = await pingBody();
  const after = afterBody.projections;
  const phaseStart = Date.now() - seconds * 1000;
  const windows = afterBody.eventLoop.filter((window) => Date.parse(window.at) > phaseStart);
  await drain();
  const cpuAfter = cpuSeconds(serverPid);
  const loadCpu = process.cpuUsage(loadCpuBefore);
  const perAcked = (cpuSeconds: number) => Math.round((cpuSeconds * 1e6) / Math.max(1, acked));
  return {
    cpuMicrosPerAcked: {
      server: perAcked(cpuAfter.total - cpuBefore.total),
      servingThread: perAcked(cpuAfter.mainThread - cpuBefore.mainThread),
      loadGenerator: perAcked((loadCpu.user + loadCpu.system) / 1e6),
    },
    timeline,
    eventLoopTimeline: windows.map((window) => ({
      second: Number(((Date.parse(window.at) - phaseStart) / 1000).toFixed(2)),
      p99Ms: window.p99Ms,
      maxMs: window.maxMs,
    })),
    eventLoopDelayMs: {
      worstWindowP99: Math.max(0, ...windows.map((window) => window.p99Ms)),
      max: Math.max(0, ...windows.map((window) => window.maxMs)),
    },
    seconds: Number(seconds.toFixed(2)),
    ackedPerSecond: Math.round(acked / seconds),
    eventsAppendedPerSecond: Math.round((after.head - before.head) / seconds),
    deliveryLatencyMs: latencies.summary(),
    ackLatencyMs: ackLatencies.summary(),
    maxProjectionLag: maxLag,
    finalProjectionLag: after.lag,
    readWalResets: {
      drains: (afterBody.storage.read?.drains ?? 0) - (beforeBody.storage.read?.drains ?? 0),
      truncations: (afterBody.storage.read?.truncations ?? 0) - (beforeBody.storage.read?.truncations ?? 0),
    },
    serverPeakRssMb: Math.round(peakRss),
  };
}

/** Send→ack latency of the current phase: where a queue before the append would show. */
let ackLatencies = new Latencies();
const sentAt = new Map<string, number>();
function sendTimed(socket: LoadSocket, frame: { id: string }) {
  sentAt.set(frame.id, performance.now());
  socket.send(frame);
}
function ackTimed(frame: { id: string }) {
  const started = sentAt.get(frame.id);
  if (started !== undefined) {
    ackLatencies.add(performance.now() - started);
    sentAt.delete(frame.id);
  }
}

/** Closed loop: each socket keeps `window` sends in flight and sends the next on each ack. */
function closedLoop(all: LoadSocket[], frame: (socketIndex: number, id: string) => { id: string }, ackType: string) {
  return (stop: () => boolean, acked: () => void) => {
    all.forEach((socket, index) => {
      let seq = 0;
      const next = () => {
        if (!stop()) sendTimed(socket, frame(index, `${index}-${seq++}`));
      };
      socket.on<Frame & { id: string }>(ackType, (ack) => {
        ackTimed(ack);
        acked();
        next();
      });
      socket.on('error', () => next());
      for (let i = 0; i < options.window; i++) next();
    });
  };
}

/** Open loop at a fixed rate, spread over the sockets. */
function fixedRate(all: LoadSocket[], frame: (socketIndex: number, id: string) => { id: string }, ackType: string) {
  return async (stop: () => boolean, acked: () => void) => {
    for (const socket of all)
      socket.on<Frame & { id: string }>(ackType, (ack) => {
        ackTimed(ack);
        acked();
      });
    let index = 0;
    let sent = 0;
    const started = performance.now();
    while (!stop()) {
      const due = Math.floor(((performance.now() - started) / 1000) * options.rate);
      for (; sent < due; sent++) {
        const socketIndex = index++ % all.length;
        sendTimed(all[socketIndex]!, frame(socketIndex, `r${sent}`));
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
}

const messageFrame = (socketIndex: number, id: string) => ({
  type: 'message.send',
  id,
  text: String(performance.now()),
  ...target(userIndex.get(sockets[socketIndex]!.userId)!),
});

log('phase 1/4: socket throughput');
const socketThroughput = await measure('socket throughput', closedLoop(sockets, messageFrame, 'message.send.ok'));
log('phase 2/4: socket latency at a fixed rate');
const socketLatency = await measure(`socket at ${options.rate}/s`, fixedRate(sockets, messageFrame, 'message.send.ok'));
log('phase 3/4: REST throughput');
const restThroughput = await measure('REST throughput', async (stop, acked) => {
  await Promise.all(
    [...Array(options.restConcurrency).keys()].map(async (worker) => {
      while (!stop()) {
        const senderIndex = (worker * 7 + Math.floor(Math.random() * users.length)) % users.length;
        const { status } = await json(
          'POST',
          '/api/messages',
          { text: String(performance.now()), ...target(senderIndex) },
          users[senderIndex]!.token,
        );
        if (status === 201) acked();
      }
    }),
  );
});
// --- group fan-out: one big group, every member connected ----------------------------------------------------
const FANOUT_SENDERS = 10;
let fanout:
  | (FanoutResult & {
      eventLoopDelayMs: { worstWindowP99: number; max: number };
      eventLoopTimeline: Array<{ second: number; p99Ms: number; maxMs: number }>;
    })
  | null = null;
let bigGroup: Awaited<ReturnType<typeof makeBigGroup>> | null = null;
if (options.fanoutSize > 1) {
  log(`phase 4/4: group fan-out, ${options.fanoutSize} members at ${options.fanoutRate} messages/s`);
  bigGroup = await makeBigGroup(json, options.fanoutSize, log);
  const memberSockets: LoadSocket[] = [];
  for (const member of bigGroup.members) memberSockets.push(new LoadSocket(`${server.wsUrl}?token=${member.token}`, member.id));
  await openAndSync(memberSockets);
  await drain();
  const groupId = bigGroup.groupId;
  const phaseStart = Date.now();
  const result = await measureFanout({
    sockets: memberSockets,
    rate: options.fanoutRate,
    seconds: options.seconds,
    senders: FANOUT_SENDERS,
    log,
    name: 'fan-out',
    frame: (seq, sentAt) => ({ type: 'message.send', id: `fan-${seq}`, groupId, text: String(sentAt) }),
    deliveryType: 'message.created',
    sentAtOf: (frame: MessageCreated) =>
      frame.message.groupId === groupId ? { senderId: frame.message.senderId, sentAt: Number(frame.message.content?.text) } : null,
  });
  const windows = (await pingBody()).eventLoop.filter((window) => Date.parse(window.at) > phaseStart);
  fanout = {
    ...result,
    eventLoopDelayMs: { worstWindowP99: Math.max(0, ...windows.map((w) => w.p99Ms)), max: Math.max(0, ...windows.map((w) => w.maxMs)) },
    eventLoopTimeline: windows.map((w) => ({
      second: Number(((Date.parse(w.at) - phaseStart) / 1000).toFixed(2)),
      p99Ms: w.p99Ms,
      maxMs: w.maxMs,
    })),
  };
  for (const socket of memberSockets) socket.close();
}

const serverRssMb = Math.round(rssMb(serverPid));
for (const socket of sockets) socket.close();
await server.stop();

// What presence cost: its events in the log, against the socket sessions the run opened.
const eventsDb = new Database(join(storageDir, 'events.sqlite'), { readonly: true });
const presenceEvents = (
  eventsDb.prepare(`SELECT count(*) AS n FROM events WHERE type IN ('UserCameOnline', 'UserWentOffline', 'PresenceModeSet')`).get() as {
    n: number;
  }
).n;
eventsDb.close();
const socketSessions = options.sockets + (bigGroup ? bigGroup.members.length : 0);

// The projection's own ceiling: replay the whole log the phases wrote through every projector, alone.
log("projection replay of the run's log");
const replayStores = {
  eventStore: new SqliteEventStore(join(storageDir, 'events.sqlite')),
  readStore: new SqliteReadStore(join(storageDir, 'read.sqlite')),
};
const replay = await rebuildProjections({ ...replayStores, projectors, upcaster: eventUpcaster });
await replayStores.eventStore.close();
await replayStores.readStore.close();

// --- this machine's limits ----------------------------------------------------------------------------------
log('limit (a): raw SQLite appends, WAL + synchronous=FULL');
const sampleData = JSON.stringify({
  messageId: crypto.randomUUID(),
  conversationId: `dm:${users[0]!.id}:${users[1]!.id}`,
  senderId: users[0]!.id,
  target: { kind: 'direct', recipientId: users[1]!.id },
  content: { kind: 'text', text: String(performance.now()) },
  replyTo: null,
  attachments: [],
  clientMessageId: crypto.randomUUID(),
  sentAt: new Date().toISOString(),
});
const rawDir = mkdtempSync(join(tmpdir(), 'letsapp-raw-'));
const rawSingle = measureRawAppends(rawDir, 1, 2, sampleData);
const rawBatched = measureRawAppends(rawDir, 256, 2, sampleData);
rmSync(rawDir, { recursive: true, force: true });

log('limit (b): a bare uWebSockets.js relay with no persistence');
const relay = spawn(process.execPath, ['--import=tsx', 'scripts/bench/relayServer.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
const relayPort = await new Promise<number>((resolve) => {
  createInterface({ input: relay.stdout }).on('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
});
const relaySockets = await openSockets((i) => `ws://127.0.0.1:${relayPort}/ws?user=${users[i]!.id}`, false);
const relayFrame = (socketIndex: number, id: string) => {
  const sender = users[userIndex.get(relaySockets[socketIndex]!.userId)!]!;
  const chosen = target(userIndex.get(sender.id)!);
  const to = chosen.groupId ? groups.find((group) => group.id === chosen.groupId)!.members : [chosen.recipientId!, sender.id];
  return { type: 'relay', id, to, senderId: sender.id, sentAt: performance.now() };
};
async function measureRelay(
  name: string,
  drive: (stop: () => boolean, acked: () => void) => Promise<void> | void,
): Promise<{ ackedPerSecond: number; deliveryLatencyMs: ReturnType<Latencies['summary']> }> {
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const latencies = new Latencies();
  listenForDeliveries(
    relaySockets,
    latencies,
    'relay',
    (frame: RelayFrame) => ({ senderId: frame.senderId, sentAt: frame.sentAt }),
    performance.now(),
  );
  let acked = 0;
  let stopped = false;
  const started = performance.now();
  const driving = drive(
    () => stopped,
    () => {
      acked++;
    },
  );
  await runFor(options.seconds, (elapsed) => {
    log(`  ${name}: ${elapsed.toFixed(0)}/${options.seconds} s, ${acked} acked`);
  });
  stopped = true;
  const seconds = (performance.now() - started) / 1000;
  await driving;
  return { ackedPerSecond: Math.round(acked / seconds), deliveryLatencyMs: latencies.summary() };
}
let relayFanout: FanoutResult | null = null;
if (bigGroup) {
  const members = bigGroup.members.map((member) => member.id);
  const fanoutSockets = bigGroup.members.map(
    (member) => new LoadSocket(`ws://127.0.0.1:${relayPort}/ws?user=${member.id}&group=fanout`, member.id),
  );
  await Promise.all(fanoutSockets.map((socket) => socket.opened));
  relayFanout = await measureFanout({
    sockets: fanoutSockets,
    rate: options.fanoutRate,
    seconds: options.seconds,
    senders: FANOUT_SENDERS,
    log,
    name: 'relay fan-out',
    frame: (seq, sentAt) => ({ type: 'relay', id: `fan-${seq}`, toGroup: 'fanout', senderId: members[seq % FANOUT_SENDERS], sentAt }),
    deliveryType: 'relay',
    sentAtOf: (frame: RelayFrame) => ({ senderId: frame.senderId, sentAt: frame.sentAt }),
  });
  for (const socket of fanoutSockets) socket.close();
}
const relayThroughput = await measureRelay('relay throughput', closedLoop(relaySockets, relayFrame, 'ack'));
const relayLatency = await measureRelay(`relay at ${options.rate}/s`, fixedRate(relaySockets, relayFrame, 'ack'));
for (const socket of relaySockets) socket.close();
relay.kill('SIGKILL');
rmSync(storageDir, { recursive: true, force: true });

// --- report -------------------------------------------------------------------------------------------------
const ratio = (ours: number, limit: number) => (limit > 0 ? Number((ours / limit).toFixed(3)) : null);
const commit = commitOf();
const result = {
  commit,
  takenAt: new Date().toISOString(),
  machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
  options,
  socketThroughput,
  socketLatency,
  restThroughput,
  projectionReplay: { events: replay.events, eventsPerSecond: replay.eventsPerSecond },
  groupFanout: fanout,
  presence: { enabled: values.presence !== 'off', events: presenceEvents, socketSessions },
  serverRssMb,
  limits: { rawSqliteSingleRowCommits: rawSingle, rawSqliteBatchedCommits: rawBatched, relayThroughput, relayLatency, relayFanout },
  ratios: {
    socketAckedVsRelay: ratio(socketThroughput.ackedPerSecond, relayThroughput.ackedPerSecond),
    eventsAppendedVsRawSqliteBatched: ratio(socketThroughput.eventsAppendedPerSecond, rawBatched.appendsPerSecond),
    eventsAppendedVsRawSqliteSingleRow: ratio(socketThroughput.eventsAppendedPerSecond, rawSingle.appendsPerSecond),
    p99AtRateVsRelayP99: ratio(socketLatency.deliveryLatencyMs.p99, relayLatency.deliveryLatencyMs.p99),
  },
};
const file = saveResults('bench', result);
writeFileSync(join(values.out, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
const report = renderReport(result, previous);
const reportFile = file.replace(/\.json$/, '.html');
writeFileSync(reportFile, report);
writeFileSync(join(values.out, 'latest.html'), report);

const row = (name: string, value: string) => console.log(`${name.padEnd(52)} ${value}`);
console.log(
  `\nLetsApp bench @ ${commit}: ${options.users} users, ${options.sockets} sockets, ${options.seconds} s per phase, ${result.machine.cpus} cores`,
);
row('socket: acked messages/s (closed loop)', `${socketThroughput.ackedPerSecond}`);
row('socket: events appended/s', `${socketThroughput.eventsAppendedPerSecond}`);
const cpuRow = (phase: string, { cpuMicrosPerAcked: cpu }: PhaseResult) =>
  row(
    `CPU µs per acked message (${phase}): server / serving thread / load gen`,
    `${cpu!.server} / ${cpu!.servingThread} / ${cpu!.loadGenerator}`,
  );
cpuRow('closed loop', socketThroughput);
row(
  'socket: send→delivered p50/p95/p99 ms (closed loop)',
  `${socketThroughput.deliveryLatencyMs.p50} / ${socketThroughput.deliveryLatencyMs.p95} / ${socketThroughput.deliveryLatencyMs.p99}`,
);
row(
  'socket: send→ack p50/p95/p99 ms (closed loop)',
  `${socketThroughput.ackLatencyMs.p50} / ${socketThroughput.ackLatencyMs.p95} / ${socketThroughput.ackLatencyMs.p99}`,
);
row(
  `socket: send→ack p50/p95/p99 ms at ${options.rate}/s`,
  `${socketLatency.ackLatencyMs.p50} / ${socketLatency.ackLatencyMs.p95} / ${socketLatency.ackLatencyMs.p99}`,
);
row(
  `socket: send→delivered p50/p95/p99 ms at ${options.rate}/s`,
  `${socketLatency.deliveryLatencyMs.p50} / ${socketLatency.deliveryLatencyMs.p95} / ${socketLatency.deliveryLatencyMs.p99} (acked ${socketLatency.ackedPerSecond}/s)`,
);
row('REST: acked messages/s', `${restThroughput.ackedPerSecond}`);
cpuRow('REST', restThroughput);
row(
  'REST: send→delivered p50/p95/p99 ms',
  `${restThroughput.deliveryLatencyMs.p50} / ${restThroughput.deliveryLatencyMs.p95} / ${restThroughput.deliveryLatencyMs.p99}`,
);
if (fanout) {
  row(`group fan-out: ${fanout.members} members, messages/s`, `${fanout.messagesPerSecond}`);
  row(
    'group fan-out: deliveries/s at the sockets',
    `${fanout.deliveriesPerSecond} (${fanout.delivered} of ${fanout.due} due, with a grace second)`,
  );
  row('group fan-out: send→delivered p50/p95/p99 ms', `${fanout.latencyMs.p50} / ${fanout.latencyMs.p95} / ${fanout.latencyMs.p99}`);
  row('group fan-out: server event loop p99 / max ms', `${fanout.eventLoopDelayMs.worstWindowP99} / ${fanout.eventLoopDelayMs.max}`);
}
if (relayFanout) row('limit: bare uWS fan-out deliveries/s, p99 ms', `${relayFanout.deliveriesPerSecond}, ${relayFanout.latencyMs.p99}`);
row(`presence (${values.presence}): events appended / socket sessions`, `${presenceEvents} / ${socketSessions}`);
row('projection replay alone, events/s (all projectors)', `${replay.eventsPerSecond} (${replay.events} events)`);
row(
  `server event loop p99 / max ms at ${options.rate}/s (1 s windows)`,
  `${socketLatency.eventLoopDelayMs.worstWindowP99} / ${socketLatency.eventLoopDelayMs.max}`,
);
row(
  'server event loop p99 / max ms (closed loop)',
  `${socketThroughput.eventLoopDelayMs.worstWindowP99} / ${socketThroughput.eventLoopDelayMs.max}`,
);
row(
  `read store WAL resets at ${options.rate}/s: drains / truncations`,
  `${socketLatency.readWalResets.drains} / ${socketLatency.readWalResets.truncations}`,
);
row(
  'projection lag, max during phases (events)',
  `${Math.max(socketThroughput.maxProjectionLag, socketLatency.maxProjectionLag, restThroughput.maxProjectionLag)}`,
);
row(
  'server memory: peak / end RSS MB',
  `${Math.max(socketThroughput.serverPeakRssMb, socketLatency.serverPeakRssMb, restThroughput.serverPeakRssMb)} / ${serverRssMb}`,
);
row('limit: raw SQLite appends/s, 1 row per commit', `${rawSingle.appendsPerSecond}`);
row('limit: raw SQLite appends/s, 256 rows per commit', `${rawBatched.appendsPerSecond}`);
row('limit: bare uWS relay acked/s', `${relayThroughput.ackedPerSecond}`);
row(`limit: bare uWS relay p99 ms at ${options.rate}/s`, `${relayLatency.deliveryLatencyMs.p99}`);
row('ratio: socket acked / relay acked', `${result.ratios.socketAckedVsRelay}`);
row('ratio: events appended / raw SQLite (256 per commit)', `${result.ratios.eventsAppendedVsRawSqliteBatched}`);
row('ratio: events appended / raw SQLite (1 per commit)', `${result.ratios.eventsAppendedVsRawSqliteSingleRow}`);
if (previous) console.log(`\n${formatComparison(previous, result)}`);
console.log(`\nresults: ${file}\nreport: ${reportFile}`);
process.exit(0);
