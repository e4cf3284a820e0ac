/**
 * `npm run bench -- --observability-cost`: what metrics and tracing cost, measured in one run. The bench's closed-loop
 * socket phase (every socket keeps `window` sends in flight, 90 % direct, 10 % to its group) against one server per
 * setting: both off, metrics only (METRICS_ENABLED, on by default), tracing only (OTEL_EXPORTER_OTLP_ENDPOINT at a
 * stand-in collector on loopback that parses and counts what it is sent), both. The servers are started once and take
 * turns (the others idle), in a rotated order each round, so drift on a shared machine falls on all of them alike;
 * each figure is the median of the rounds, and each ratio is against "off" of the same run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer, type ServerProcess } from '../lib/spawnServer.ts';
import { session } from '../../src/contract/models.ts';
import { cpuSeconds, groupCreated, Latencies, LoadSocket, openAndSync, runFor, type Frame, type MessageCreated } from './load.ts';
import { benchServerEnv } from './serverEnv.ts';

export interface ObservabilityCostOptions {
  users: number;
  sockets: number;
  seconds: number;
  window: number;
  rounds: number;
  groupSize: number;
  groupShare: number;
}

const SETTINGS = ['off', 'metrics', 'tracing', 'metrics+tracing'] as const;
type Setting = (typeof SETTINGS)[number];

interface RunResult {
  ackedPerSecond: number;
  /** The server process's CPU time (every thread) in the phase per message acked: the cost, less swayed by other load than throughput. */
  serverCpuMsPerMessage: number;
  ackLatencyMs: ReturnType<Latencies['summary']>;
  deliveryLatencyMs: ReturnType<Latencies['summary']>;
}

export interface SettingResult {
  setting: Setting;
  runs: RunResult[];
  /** Medians over the rounds. */
  ackedPerSecond: number;
  serverCpuMsPerMessage: number;
  ackP50Ms: number;
  ackP99Ms: number;
  deliveryP99Ms: number;
  /** Spans its stand-in collector received over the whole run (set-up included) per message acked in the phases (tracing on). */
  spansPerAckedMessage: number | null;
  /** This setting's medians over "off"'s. */
  ratios: { ackedPerSecond: number; serverCpuPerMessage: number; ackP50: number; ackP99: number; deliveryP99: number };
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const ratio = (value: number, base: number) => (base > 0 ? Number((value / base).toFixed(3)) : 0);
const round2 = (value: number) => Number(value.toFixed(2));
/** CPU milliseconds a running process (all its threads) has used. */
const cpuMs = (pid: number) => cpuSeconds(pid).total * 1000;

/** An OTLP/HTTP collector stand-in: answers every export 200 and counts the spans it was sent. */
async function standInCollector() {
  let spans = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans?: Array<{ scopeSpans: Array<{ spans: unknown[] }> }>;
        };
        for (const resource of body.resourceSpans ?? []) for (const scope of resource.scopeSpans) spans += scope.spans.length;
      } catch {
        // Not OTLP JSON: answered all the same.
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    take: () => {
      const taken = spans;
      spans = 0;
      return taken;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function envOf(setting: Setting, collectorUrl: string): Record<string, string> {
  return {
    METRICS_ENABLED: setting.includes('metrics') ? 'true' : 'false',
    ...(setting.includes('tracing') ? { OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl } : {}),
  };
}

interface Loaded {
  setting: Setting;
  /** The closed loop for `seconds` on this server's sockets. */
  phase(seconds: number): Promise<RunResult>;
  /** Waits until this server has projected everything it was sent (lag 0, at most 10 s). */
  drain(): Promise<void>;
  /** Stops the server (SIGTERM: the spans it holds are exported) and returns the spans its collector received in all. */
  stop(): Promise<number>;
}

/** One server with `setting` (a collector of its own when it traces), its users, groups and synced sockets. */
async function load(setting: Setting, options: ObservabilityCostOptions, log: (message: string) => void): Promise<Loaded> {
  const collector = await standInCollector();
  const storageDir = mkdtempSync(join(tmpdir(), 'letsapp-bench-obs-'));
  const sockets: LoadSocket[] = [];
  let server: ServerProcess | null = null;
  const cleanUp = async () => {
    for (const socket of sockets) socket.close();
    await server?.stop();
    await collector.close();
    rmSync(storageDir, { recursive: true, force: true });
  };
  try {
    log(`  starting the server with ${setting} ...`);
    server = await spawnServer({ ...benchServerEnv(storageDir), ...envOf(setting, collector.url) });
    const { url, wsUrl } = server;
    const pid = server.child.pid!;
    const json = async (method: string, path: string, body?: unknown, token?: string): Promise<unknown> => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return response.json();
    };
    const users: Array<{ id: string; token: string }> = [];
    for (let i = 0; i < options.users; i += 16) {
      await Promise.all(
        Array.from({ length: Math.min(16, options.users - i) }, async (_, j) => {
          const { user, accessToken } = session.parse(
            await json('POST', '/auth/register', {
              email: `obs${i + j}@example.test`,
              username: `obs_${i + j}`,
              password: 'bench password',
            }),
          );
          users[i + j] = { id: user.id, token: accessToken };
        }),
      );
    }
    const groupOf = new Map<string, string>();
    for (let i = 0; i + options.groupSize <= users.length; i += options.groupSize) {
      const members = users.slice(i, i + options.groupSize);
      const { group } = groupCreated.parse(
        await json('POST', '/api/groups', { name: `obs ${i}`, memberIds: members.slice(1).map((u) => u.id) }, members[0]!.token),
      );
      for (const member of members) groupOf.set(member.id, group.id);
    }
    for (let i = 0; i < options.sockets; i++)
      sockets.push(new LoadSocket(`${wsUrl}?token=${users[i % users.length]!.token}`, users[i % users.length]!.id));
    await openAndSync(sockets);
    const userIndex = new Map(users.map((user, index) => [user.id, index]));
    const target = (userId: string) => {
      const group = groupOf.get(userId);
      if (group && Math.random() < options.groupShare) return { groupId: group };
      const index = userIndex.get(userId)!;
      return { recipientId: users[(index + 1 + Math.floor(Math.random() * (users.length - 1))) % users.length]!.id };
    };
    let phases = 0;
    return {
      setting,
      async phase(seconds) {
        const phase = phases++;
        const acks = new Latencies();
        const deliveries = new Latencies();
        const sentAt = new Map<string, number>();
        let acked = 0;
        let stopped = false;
        const started = performance.now();
        const cpuBefore = cpuMs(pid);
        sockets.forEach((socket, index) => {
          let seq = 0;
          const next = () => {
            if (stopped) return;
            const id = `${phase}-${index}-${seq++}`;
            sentAt.set(id, performance.now());
            socket.send({ type: 'message.send', id, text: String(performance.now()), ...target(socket.userId) });
          };
          socket.on<Frame & { id: string }>('message.send.ok', (ack) => {
            const at = sentAt.get(ack.id);
            if (at === undefined) return;
            acks.add(performance.now() - at);
            sentAt.delete(ack.id);
            acked++;
            next();
          });
          socket.on('error', () => next());
          socket.on<MessageCreated>('message.created', ({ message }) => {
            const sent = Number(message.content?.text);
            if (message.senderId !== socket.userId && sent >= started) deliveries.add(performance.now() - sent);
          });
          for (let i = 0; i < options.window; i++) next();
        });
        await runFor(seconds, (elapsed) => log(`    ${setting}: ${elapsed.toFixed(0)}/${seconds} s, ${acked} acked`));
        stopped = true;
        const cpu = cpuMs(pid) - cpuBefore;
        return {
          ackedPerSecond: Math.round(acked / ((performance.now() - started) / 1000)),
          serverCpuMsPerMessage: acked > 0 ? round2(cpu / acked) : 0,
          ackLatencyMs: acks.summary(),
          deliveryLatencyMs: deliveries.summary(),
        };
      },
      async drain() {
        for (let i = 0; i < 100; i++) {
          const ping = (await json('GET', '/ping')) as { projections: { lag: number } };
          if (ping.projections.lag === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        await new Promise((resolve) => setTimeout(resolve, 300));
      },
      async stop() {
        await cleanUp();
        return collector.take();
      },
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

export async function observabilityCostBench(options: ObservabilityCostOptions, log: (message: string) => void): Promise<SettingResult[]> {
  // Started once each and loaded in turns: between its phases a server is idle, so the others' phases run beside no load of ours.
  const servers: Loaded[] = [];
  const runs = new Map<Setting, RunResult[]>(SETTINGS.map((setting) => [setting, []]));
  const spans = new Map<Setting, number>();
  try {
    for (const setting of SETTINGS) servers.push(await load(setting, options, log));
    for (let round = 0; round < options.rounds; round++) {
      const order = servers.map((_, index) => servers[(index + round) % servers.length]!);
      log(`round ${round + 1}/${options.rounds}: ${order.map((server) => server.setting).join(', ')}`);
      for (const server of order) {
        await server.drain();
        runs.get(server.setting)!.push(await server.phase(options.seconds));
      }
    }
  } finally {
    for (const server of servers) spans.set(server.setting, await server.stop());
  }
  const medians = (setting: Setting) => {
    const each = runs.get(setting)!;
    return {
      ackedPerSecond: round2(median(each.map((run) => run.ackedPerSecond))),
      serverCpuMsPerMessage: round2(median(each.map((run) => run.serverCpuMsPerMessage))),
      ackP50Ms: round2(median(each.map((run) => run.ackLatencyMs.p50))),
      ackP99Ms: round2(median(each.map((run) => run.ackLatencyMs.p99))),
      deliveryP99Ms: round2(median(each.map((run) => run.deliveryLatencyMs.p99))),
    };
  };
  const off = medians('off');
  return SETTINGS.map((setting) => {
    const mine = medians(setting);
    const each = runs.get(setting)!;
    const acked = each.reduce((sum, run) => sum + run.ackedPerSecond * options.seconds, 0);
    return {
      setting,
      runs: each,
      ...mine,
      spansPerAckedMessage: setting.includes('tracing') && acked > 0 ? Number(((spans.get(setting) ?? 0) / acked).toFixed(2)) : null,
      ratios: {
        ackedPerSecond: ratio(mine.ackedPerSecond, off.ackedPerSecond),
        serverCpuPerMessage: ratio(mine.serverCpuMsPerMessage, off.serverCpuMsPerMessage),
        ackP50: ratio(mine.ackP50Ms, off.ackP50Ms),
        ackP99: ratio(mine.ackP99Ms, off.ackP99Ms),
        deliveryP99: ratio(mine.deliveryP99Ms, off.deliveryP99Ms),
      },
    };
  });
}
