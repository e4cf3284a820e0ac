/**
 * `npm run bench -- --backend postgres --instances N`: the bench's phases against the embedded default (one server)
 * and then against N server processes on one fresh PostgreSQL schema, in the same run, so the ratios compare like
 * with like on a machine whose load drifts. Users are spread over the instances (all of one user's sockets on one
 * instance); every direct message goes to a user on another instance, groups and the fan-out group have members on
 * every instance, REST loops take turns over the instances. Where the time goes is sampled during each phase: CPU
 * seconds of the servers, of the load generator and of this schema's PostgreSQL backends (from /proc), and what those
 * backends were doing (pg_stat_activity, every 20 ms).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { z } from 'zod';
import { group, session } from '../../src/contract/models.ts';
import { spawnServer, type ServerProcess } from '../lib/spawnServer.ts';
import { makeBigGroup, measureFanout, type FanoutResult } from './fanout.ts';
import { cpuSecondsOf, Latencies, LoadSocket, openAndSync, runFor } from './load.ts';
import { benchServerEnv } from './serverEnv.ts';

const groupCreated = z.object({ group });
type Json = (method: string, path: string, body?: unknown, token?: string) => Promise<{ status: number; body: unknown }>;
/** The fields of the frames read here (the bench trusts its own server; nothing is validated). */
type Ack = { type: string; id?: string };
type MessageCreated = { type: string; message: { senderId: string; groupId?: string | null; content?: { text?: string } | null } };

export const BACKENDS = ['embedded', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

export interface PhaseOptions {
  users: number;
  sockets: number;
  seconds: number;
  rate: number;
  window: number;
  restConcurrency: number;
  groupSize: number;
  groupShare: number;
  fanoutSize: number;
  fanoutRate: number;
}

/** CPU seconds spent during a phase, and as a share of the machine's cores over the phase. */
interface CpuSpent {
  servers: number;
  loadGenerator: number;
  postgresBackends: number | null;
  shareOfMachine: Record<string, number>;
}

export interface PhaseFigures {
  seconds: number;
  ackedPerSecond: number;
  eventsAppendedPerSecond: number;
  deliveryLatencyMs: ReturnType<Latencies['summary']>;
  ackLatencyMs: ReturnType<Latencies['summary']>;
  maxProjectionLag: number;
  eventLoopDelayMs: { worstWindowP99: number; max: number };
  cpuSeconds: CpuSpent;
  /** This schema's PostgreSQL backends, sampled every 20 ms: the share of samples per state and wait event. */
  postgresActivity: Record<string, number> | null;
}

export interface BackendFigures {
  backend: Backend;
  instances: number;
  socketThroughput: PhaseFigures;
  socketLatency: PhaseFigures;
  restThroughput: PhaseFigures;
  groupFanout: (FanoutResult & { cpuSeconds: CpuSpent; postgresActivity: Record<string, number> | null }) | null;
}

/** Watches the bench schema's database from one connection of its own: backend pids and what they are doing. */
class PostgresProbe {
  private constructor(private readonly client: pg.Client) {}

  static async open(url: string): Promise<PostgresProbe> {
    const client = new pg.Client({ connectionString: url, application_name: 'letsapp-bench-probe' });
    await client.connect();
    return new PostgresProbe(client);
  }

  async backendPids(): Promise<number[]> {
    const { rows } = await this.client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    return rows.map((row) => row.pid);
  }

  /** Samples every 20 ms until `stop` is called; per `state wait_event_type:wait_event`, backends there on average. */
  sampleActivity(): () => Promise<Record<string, number>> {
    const counts = new Map<string, number>();
    let samples = 0;
    let stopped = false;
    const sampling = (async () => {
      while (!stopped) {
        const { rows } = await this.client.query<{ what: string; n: string }>(
          `SELECT state || ' ' || coalesce(wait_event_type || ':' || wait_event, 'on CPU')
             -- In a transaction and waiting for the client: after which statement (an append's, a projection batch's).
             || CASE WHEN state = 'idle in transaction' THEN ' after "' || left(regexp_replace(regexp_replace(query, '\\s+', ' ', 'g'), '"[a-z0-9_]+"\\.', '', 'g'), 40) || '"' ELSE '' END AS what,
             count(*) AS n FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction') GROUP BY 1`,
        );
        samples++;
        for (const row of rows) counts.set(row.what, (counts.get(row.what) ?? 0) + Number(row.n));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    return async () => {
      stopped = true;
      await sampling;
      // Backends in that state per sample, on average: 1.0 means one backend was there the whole phase.
      return Object.fromEntries(
        [...counts].sort((a, b) => b[1] - a[1]).map(([what, n]) => [what, Number((n / Math.max(1, samples)).toFixed(2))]),
      );
    };
  }

  close(): Promise<void> {
    return this.client.end();
  }
}

/** Starts counting CPU seconds of the servers, this process and (with a probe) the schema's PostgreSQL backends. */
async function cpuMeter(servers: readonly ServerProcess[], probe: PostgresProbe | null) {
  const serverPids = servers.map((server) => server.child.pid!);
  const pgPids = new Set(probe ? await probe.backendPids() : []);
  const cpuOf = (pids: Iterable<number>) => [...pids].reduce((sum, pid) => sum + (cpuSecondsOf(pid) ?? 0), 0);
  const before = { servers: cpuOf(serverPids), postgres: cpuOf(pgPids), self: process.cpuUsage() };
  const started = performance.now();
  return async (): Promise<CpuSpent> => {
    // A backend that appeared during the phase started at 0 CPU, so it is counted from its start.
    if (probe) for (const pid of await probe.backendPids()) pgPids.add(pid);
    const self = process.cpuUsage(before.self);
    const seconds = (performance.now() - started) / 1000;
    const spent = {
      servers: Number((cpuOf(serverPids) - before.servers).toFixed(2)),
      loadGenerator: Number(((self.user + self.system) / 1e6).toFixed(2)),
      postgresBackends: probe ? Number((cpuOf(pgPids) - before.postgres).toFixed(2)) : null,
    };
    const share = (value: number) => Number((value / (seconds * cpus().length)).toFixed(3));
    return {
      ...spent,
      shareOfMachine: {
        servers: share(spent.servers),
        loadGenerator: share(spent.loadGenerator),
        ...(spent.postgresBackends === null ? {} : { postgresBackends: share(spent.postgresBackends) }),
      },
    };
  };
}

interface PingBody {
  projections: { head: number; lag: number };
  eventLoop: Array<{ at: string; p99Ms: number; maxMs: number }>;
}

/**
 * The phases of `npm run bench` against `servers` (one, or several instances on one database): the closed loop, a
 * fixed rate, REST, and the group fan-out. Sender and recipient of each direct message are on different instances
 * when there are several.
 */
export async function runPhases(
  servers: readonly ServerProcess[],
  options: PhaseOptions,
  probe: PostgresProbe | null,
  log: (message: string) => void,
  backend: Backend,
): Promise<BackendFigures> {
  const count = servers.length;
  const on =
    (instance: number): Json =>
    async (method, path, body, token) => {
      const response = await fetch(`${servers[instance % count]!.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const answer: unknown = await response.json().catch(() => null);
      return { status: response.status, body: answer };
    };
  let turn = 0;
  /** Each call on the next instance. */
  const roundRobin: Json = (...args) => on(turn++)(...args);
  const instanceOf = (userIndex: number) => userIndex % count;
  const pings = async () => Promise.all(servers.map(async (_, index) => (await on(index)('GET', '/ping')).body as PingBody));

  log(`  registering ${options.users} users over ${count} instance(s) ...`);
  const users: Array<{ id: string; token: string }> = [];
  for (let i = 0; i < options.users; i += 16) {
    await Promise.all(
      Array.from({ length: Math.min(16, options.users - i) }, async (_, j) => {
        const { body } = await on(instanceOf(i + j))('POST', '/auth/register', {
          email: `bench${i + j}@example.test`,
          username: `bench_${i + j}`,
          password: 'bench password',
        });
        const { user, accessToken } = session.parse(body);
        users[i + j] = { id: user.id, token: accessToken };
      }),
    );
  }
  const groups: Array<{ id: string; members: string[] }> = [];
  for (let i = 0; i + options.groupSize <= users.length; i += options.groupSize) {
    const members = users.slice(i, i + options.groupSize);
    const { body } = await on(instanceOf(i))(
      'POST',
      '/api/groups',
      { name: `bench ${i}`, memberIds: members.slice(1).map((u) => u.id) },
      members[0]!.token,
    );
    groups.push({ id: groupCreated.parse(body).group.id, members: members.map((u) => u.id) });
  }
  const groupOf = new Map(groups.flatMap((group) => group.members.map((member) => [member, group] as const)));
  const userIndex = new Map(users.map((user, index) => [user.id, index]));

  /** A group the sender is in, or another user: on another instance when there are several. */
  const target = (senderIndex: number): { recipientId?: string; groupId?: string } => {
    const group = groupOf.get(users[senderIndex]!.id);
    if (group && Math.random() < options.groupShare) return { groupId: group.id };
    let other = (senderIndex + 1 + Math.floor(Math.random() * (users.length - 1))) % users.length;
    while (count > 1 && instanceOf(other) === instanceOf(senderIndex)) other = (other + 1) % users.length;
    return { recipientId: users[other]!.id };
  };

  log(`  opening ${options.sockets} sockets ...`);
  const sockets: LoadSocket[] = [];
  for (let i = 0; i < options.sockets; i++) {
    const user = i % users.length;
    sockets.push(new LoadSocket(`${servers[instanceOf(user)]!.wsUrl}?token=${users[user]!.token}`, users[user]!.id));
  }
  await openAndSync(sockets);

  /** Until every instance has projected everything (a backlog left by a phase would fail the next one's requests). */
  const drain = async () => {
    const started = Date.now();
    for (let i = 0; ; i++) {
      const lag = Math.max(...(await pings()).map((body) => body.projections.lag));
      if (lag === 0) break;
      if (Date.now() - started > 120_000) throw new Error(`the servers are still ${lag} events behind after 120 s`);
      if (i % 20 === 19) log(`  waiting for the projection: ${lag} events behind`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  };

  let ackLatencies = new Latencies();
  const sentAt = new Map<string, number>();
  const sendTimed = (socket: LoadSocket, frame: { id: string }) => {
    sentAt.set(frame.id, performance.now());
    socket.send(frame);
  };
  const ackTimed = (frame: { id?: string }) => {
    const started = frame.id === undefined ? undefined : sentAt.get(frame.id);
    if (started === undefined) return;
    ackLatencies.add(performance.now() - started);
    sentAt.delete(frame.id!);
  };

  const measure = async (name: string, drive: (stop: () => boolean, acked: () => void) => Promise<void> | void): Promise<PhaseFigures> => {
    await drain();
    ackLatencies = new Latencies();
    sentAt.clear();
    const latencies = new Latencies();
    const since = performance.now();
    for (const socket of sockets) {
      socket.on('message.created', (frame: MessageCreated) => {
        const sent = Number(frame.message.content?.text);
        if (frame.message.senderId !== socket.userId && sent >= since) latencies.add(performance.now() - sent);
      });
    }
    const headBefore = (await pings())[0]!.projections.head;
    const meter = await cpuMeter(servers, probe);
    const activity = probe?.sampleActivity();
    let acked = 0;
    let stopped = false;
    let maxLag = 0;
    const started = performance.now();
    const phaseStart = Date.now();
    const driving = drive(
      () => stopped,
      () => {
        acked++;
      },
    );
    await runFor(options.seconds, async (elapsed) => {
      const lag = Math.max(...(await pings()).map((body) => body.projections.lag));
      maxLag = Math.max(maxLag, lag);
      log(`  ${name}: ${elapsed.toFixed(0)}/${options.seconds} s, ${acked} acked, lag ${lag}`);
    });
    stopped = true;
    const seconds = (performance.now() - started) / 1000;
    await driving;
    const cpuSeconds = await meter();
    const postgresActivity = activity ? await activity() : null;
    const after = await pings();
    const windows = after.flatMap((body) => body.eventLoop).filter((window) => Date.parse(window.at) > phaseStart);
    await drain();
    return {
      seconds: Number(seconds.toFixed(2)),
      ackedPerSecond: Math.round(acked / seconds),
      eventsAppendedPerSecond: Math.round((after[0]!.projections.head - headBefore) / seconds),
      deliveryLatencyMs: latencies.summary(),
      ackLatencyMs: ackLatencies.summary(),
      maxProjectionLag: maxLag,
      eventLoopDelayMs: { worstWindowP99: Math.max(0, ...windows.map((w) => w.p99Ms)), max: Math.max(0, ...windows.map((w) => w.maxMs)) },
      cpuSeconds,
      postgresActivity,
    };
  };
  const messageFrame = (socketIndex: number, id: string) => ({
    type: 'message.send',
    id,
    text: String(performance.now()),
    ...target(userIndex.get(sockets[socketIndex]!.userId)!),
  });

  log(`  [${backend}] phase 1/4: socket throughput (closed loop)`);
  const socketThroughput = await measure('socket throughput', (stop, acked) => {
    sockets.forEach((socket, index) => {
      let seq = 0;
      const next = () => {
        if (!stop()) sendTimed(socket, messageFrame(index, `${index}-${seq++}`));
      };
      socket.on('message.send.ok', (ack: Ack) => {
        ackTimed(ack);
        acked();
        next();
      });
      socket.on('error', () => next());
      for (let i = 0; i < options.window; i++) next();
    });
  });
  log(`  [${backend}] phase 2/4: socket latency at ${options.rate}/s`);
  const socketLatency = await measure(`socket at ${options.rate}/s`, async (stop, acked) => {
    for (const socket of sockets)
      socket.on('message.send.ok', (ack: Ack) => {
        ackTimed(ack);
        acked();
      });
    let sent = 0;
    const started = performance.now();
    while (!stop()) {
      const due = Math.floor(((performance.now() - started) / 1000) * options.rate);
      for (; sent < due; sent++) sendTimed(sockets[sent % sockets.length]!, messageFrame(sent % sockets.length, `r${sent}`));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });
  log(`  [${backend}] phase 3/4: REST throughput`);
  const restThroughput = await measure('REST throughput', async (stop, acked) => {
    await Promise.all(
      [...Array(options.restConcurrency).keys()].map(async (worker) => {
        while (!stop()) {
          const senderIndex = (worker * 7 + Math.floor(Math.random() * users.length)) % users.length;
          const { status } = await on(worker)(
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

  let groupFanout: BackendFigures['groupFanout'] = null;
  if (options.fanoutSize > 1) {
    log(`  [${backend}] phase 4/4: group fan-out, ${options.fanoutSize} members at ${options.fanoutRate} messages/s`);
    await drain();
    const bigGroup = await makeBigGroup(roundRobin, options.fanoutSize, log);
    const memberSockets = bigGroup.members.map(
      (member, index) => new LoadSocket(`${servers[index % count]!.wsUrl}?token=${member.token}`, member.id),
    );
    await openAndSync(memberSockets);
    await drain();
    const meter = await cpuMeter(servers, probe);
    const activity = probe?.sampleActivity();
    const { groupId } = bigGroup;
    const result = await measureFanout({
      // The first 10 members send: they are on every instance in turn.
      sockets: memberSockets,
      rate: options.fanoutRate,
      seconds: options.seconds,
      senders: 10,
      log,
      name: 'fan-out',
      frame: (seq, sent) => ({ type: 'message.send', id: `fan-${seq}`, groupId, text: String(sent) }),
      deliveryType: 'message.created',
      sentAtOf: (frame: MessageCreated) =>
        frame.message.groupId === groupId ? { senderId: frame.message.senderId, sentAt: Number(frame.message.content?.text) } : null,
    });
    groupFanout = { ...result, cpuSeconds: await meter(), postgresActivity: activity ? await activity() : null };
    for (const socket of memberSockets) socket.close();
  }
  for (const socket of sockets) socket.close();
  return { backend, instances: count, socketThroughput, socketLatency, restThroughput, groupFanout };
}

/** The embedded default: one server on a temp dir. */
export async function runEmbedded(
  options: PhaseOptions,
  serverEnv: Record<string, string>,
  log: (message: string) => void,
): Promise<BackendFigures> {
  const storageDir = mkdtempSync(join(tmpdir(), 'letsapp-bench-'));
  const server = await spawnServer({ ...benchServerEnv(storageDir), ...serverEnv });
  try {
    return await runPhases([server], options, null, log, 'embedded');
  } finally {
    await server.stop();
    rmSync(storageDir, { recursive: true, force: true });
  }
}

/** `instances` servers on a fresh schema of `databaseUrl`'s database (dropped afterwards), each with a media dir of its own. */
export async function runPostgres(
  options: PhaseOptions,
  instances: number,
  databaseUrl: string,
  serverEnv: Record<string, string>,
  log: (message: string) => void,
): Promise<BackendFigures & { schema: string }> {
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  const dirs = Array.from({ length: instances }, () => mkdtempSync(join(tmpdir(), 'letsapp-bench-pg-')));
  const probe = await PostgresProbe.open(databaseUrl);
  const servers: ServerProcess[] = [];
  try {
    // One first, so the schema is created once; the others join it.
    for (const dir of dirs)
      servers.push(await spawnServer({ ...benchServerEnv(dir), ...serverEnv, DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema }));
    log(`  ${instances} instance(s) on schema ${schema}`);
    return { ...(await runPhases(servers, options, probe, log, 'postgres')), schema };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await probe.close();
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** Issue 24's targets for 2 instances on this 2-core machine. */
export const POSTGRES_TARGETS = { closedLoopAckedPerSecond: 1_500, p99AtRateMs: 100, rateForP99: 1_000, fanoutDeliveriesPerSecond: 30_000 };

export interface BackendComparison {
  options: PhaseOptions;
  loadAverage: { atStart: number[]; atEnd: number[] };
  embedded: BackendFigures;
  postgres: BackendFigures & { schema: string };
  /** postgres / embedded, from the same run. */
  ratios: Record<string, number | null>;
  /** Issue 24's targets, as measured in this run (`met: null` when the run's settings do not test it). */
  targets: Array<{ target: string; measured: number; met: boolean | null }>;
}

const loadNow = () => loadavg().map((load) => Number(load.toFixed(1)));
const ratio = (value: number, base: number) => (base > 0 ? Number((value / base).toFixed(3)) : null);

/** The embedded phases first, then the same phases on `instances` PostgreSQL instances; ratios and targets from this run. */
export async function compareBackends(
  options: PhaseOptions,
  instances: number,
  databaseUrl: string,
  serverEnv: Record<string, string>,
  log: (message: string) => void,
): Promise<BackendComparison> {
  const atStart = loadNow();
  log(`embedded (one server), load average ${atStart.join(' ')}`);
  const embedded = await runEmbedded(options, serverEnv, log);
  log(`postgres (${instances} instances), load average ${loadNow().join(' ')}`);
  const postgres = await runPostgres(options, instances, databaseUrl, serverEnv, log);
  const fanoutDeliveries = postgres.groupFanout?.deliveriesPerSecond ?? 0;
  return {
    options,
    loadAverage: { atStart, atEnd: loadNow() },
    embedded,
    postgres,
    ratios: {
      closedLoopAcked: ratio(postgres.socketThroughput.ackedPerSecond, embedded.socketThroughput.ackedPerSecond),
      deliveredP99AtRate: ratio(postgres.socketLatency.deliveryLatencyMs.p99, embedded.socketLatency.deliveryLatencyMs.p99),
      restAcked: ratio(postgres.restThroughput.ackedPerSecond, embedded.restThroughput.ackedPerSecond),
      fanoutDeliveries: embedded.groupFanout ? ratio(fanoutDeliveries, embedded.groupFanout.deliveriesPerSecond) : null,
    },
    targets: [
      {
        target: `closed loop >= ${POSTGRES_TARGETS.closedLoopAckedPerSecond} durable messages/s over 2 instances`,
        measured: postgres.socketThroughput.ackedPerSecond,
        met: instances === 2 ? postgres.socketThroughput.ackedPerSecond >= POSTGRES_TARGETS.closedLoopAckedPerSecond : null,
      },
      {
        target: `send→delivered p99 <= ${POSTGRES_TARGETS.p99AtRateMs} ms at ${POSTGRES_TARGETS.rateForP99} msg/s across instances`,
        measured: postgres.socketLatency.deliveryLatencyMs.p99,
        met:
          instances === 2 && options.rate === POSTGRES_TARGETS.rateForP99
            ? postgres.socketLatency.deliveryLatencyMs.p99 <= POSTGRES_TARGETS.p99AtRateMs
            : null,
      },
      {
        target: `1,000-member group over 2 instances >= ${POSTGRES_TARGETS.fanoutDeliveriesPerSecond} deliveries/s`,
        measured: fanoutDeliveries,
        met: instances === 2 && options.fanoutSize === 1_000 ? fanoutDeliveries >= POSTGRES_TARGETS.fanoutDeliveriesPerSecond : null,
      },
    ],
  };
}

/** The comparison as a table: embedded, postgres, their ratio; then the targets and where the time went. */
export function printComparison(result: BackendComparison, heading: string): void {
  const { embedded, postgres } = result;
  const cell = (value: string) => value.padStart(22);
  const row = (name: string, left: string, right: string, ratioOf: number | null | undefined) =>
    console.log(
      `${name.padEnd(50)} ${cell(left)} ${cell(right)} ${ratioOf === null || ratioOf === undefined ? '' : ratioOf.toFixed(2).padStart(7)}`,
    );
  const p = (latency: ReturnType<Latencies['summary']>) => `${latency.p50} / ${latency.p99}`;
  console.log(`\n${heading}`);
  console.log(`load average at start ${result.loadAverage.atStart.join(' ')}, at end ${result.loadAverage.atEnd.join(' ')}`);
  row('figure', 'embedded (1 server)', `postgres (${postgres.instances} inst.)`, null);
  row(
    'socket: acked messages/s (closed loop)',
    `${embedded.socketThroughput.ackedPerSecond}`,
    `${postgres.socketThroughput.ackedPerSecond}`,
    result.ratios.closedLoopAcked,
  );
  row(
    'socket: events appended/s (closed loop)',
    `${embedded.socketThroughput.eventsAppendedPerSecond}`,
    `${postgres.socketThroughput.eventsAppendedPerSecond}`,
    ratio(postgres.socketThroughput.eventsAppendedPerSecond, embedded.socketThroughput.eventsAppendedPerSecond),
  );
  row(
    'socket: send→ack p50 / p99 ms (closed loop)',
    p(embedded.socketThroughput.ackLatencyMs),
    p(postgres.socketThroughput.ackLatencyMs),
    null,
  );
  row(
    'socket: send→delivered p50 / p99 ms (closed loop)',
    p(embedded.socketThroughput.deliveryLatencyMs),
    p(postgres.socketThroughput.deliveryLatencyMs),
    null,
  );
  row(
    `socket at ${result.options.rate}/s: acked/s`,
    `${embedded.socketLatency.ackedPerSecond}`,
    `${postgres.socketLatency.ackedPerSecond}`,
    null,
  );
  row('socket at rate: send→ack p50 / p99 ms', p(embedded.socketLatency.ackLatencyMs), p(postgres.socketLatency.ackLatencyMs), null);
  row(
    'socket at rate: send→delivered p50 / p99 ms',
    p(embedded.socketLatency.deliveryLatencyMs),
    p(postgres.socketLatency.deliveryLatencyMs),
    result.ratios.deliveredP99AtRate,
  );
  row(
    'REST: acked messages/s',
    `${embedded.restThroughput.ackedPerSecond}`,
    `${postgres.restThroughput.ackedPerSecond}`,
    result.ratios.restAcked,
  );
  row(
    'REST: send→delivered p50 / p99 ms',
    p(embedded.restThroughput.deliveryLatencyMs),
    p(postgres.restThroughput.deliveryLatencyMs),
    null,
  );
  if (embedded.groupFanout && postgres.groupFanout) {
    row(
      `group fan-out (${postgres.groupFanout.members}): deliveries/s`,
      `${embedded.groupFanout.deliveriesPerSecond}`,
      `${postgres.groupFanout.deliveriesPerSecond}`,
      result.ratios.fanoutDeliveries,
    );
    row('group fan-out: send→delivered p50 / p99 ms', p(embedded.groupFanout.latencyMs), p(postgres.groupFanout.latencyMs), null);
  }
  row(
    'projection lag, max (events)',
    `${Math.max(embedded.socketThroughput.maxProjectionLag, embedded.socketLatency.maxProjectionLag)}`,
    `${Math.max(postgres.socketThroughput.maxProjectionLag, postgres.socketLatency.maxProjectionLag)}`,
    null,
  );
  row(
    'server event loop worst p99 ms (closed loop)',
    `${embedded.socketThroughput.eventLoopDelayMs.worstWindowP99}`,
    `${postgres.socketThroughput.eventLoopDelayMs.worstWindowP99}`,
    null,
  );
  const shares = (cpu: CpuSpent) =>
    Object.entries(cpu.shareOfMachine)
      .map(([who, share]) => `${who} ${Math.round(share * 100)}%`)
      .join(', ');
  console.log("\nwhere the time went (share of the machine's CPU during the phase):");
  for (const [name, figures] of [
    ['closed loop', 'socketThroughput'],
    ['at rate', 'socketLatency'],
    ['REST', 'restThroughput'],
  ] as const) {
    console.log(
      `  ${name.padEnd(12)} embedded: ${shares(embedded[figures].cpuSeconds)}; postgres: ${shares(postgres[figures].cpuSeconds)}`,
    );
  }
  if (embedded.groupFanout && postgres.groupFanout) {
    console.log(
      `  ${'fan-out'.padEnd(12)} embedded: ${shares(embedded.groupFanout.cpuSeconds)}; postgres: ${shares(postgres.groupFanout.cpuSeconds)}`,
    );
  }
  const activity = (of: Record<string, number> | null) =>
    Object.entries(of ?? {})
      .slice(0, 5)
      .map(([what, n]) => `${what} ${n}`)
      .join(', ') || 'idle';
  console.log('PostgreSQL backends of the schema, on average per 20 ms sample (state, wait event):');
  console.log(`  closed loop: ${activity(postgres.socketThroughput.postgresActivity)}`);
  console.log(`  at rate:     ${activity(postgres.socketLatency.postgresActivity)}`);
  console.log(`  REST:        ${activity(postgres.restThroughput.postgresActivity)}`);
  if (postgres.groupFanout) console.log(`  fan-out:     ${activity(postgres.groupFanout.postgresActivity)}`);
  console.log('\ntargets (issue 24):');
  for (const each of result.targets)
    console.log(`  ${each.met === null ? 'n/a ' : each.met ? 'met ' : 'NOT '} ${each.target}: ${each.measured}`);
}
