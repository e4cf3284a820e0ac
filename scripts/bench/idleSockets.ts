import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LIMITS } from '../../src/contract/socketProtocol.ts';
import { spawnServer } from '../lib/spawnServer.ts';
import {
  jsonClient,
  Latencies,
  LoadSocket,
  openAndSync,
  registerUsers,
  rssMb,
  runFor,
  type BenchUser,
  type MessageCreated,
} from './load.ts';
import { benchServerEnv } from './serverEnv.ts';

export interface LiveTraffic {
  ackedPerSecond: number;
  ackLatencyMs: ReturnType<Latencies['summary']>;
  deliveryLatencyMs: ReturnType<Latencies['summary']>;
}

export interface IdleSocketsResult {
  idleSockets: number;
  /** The client side's source addresses, the sockets spread over them in turn. */
  sourceAddresses: string[];
  /** This process's (and so the server's) open-file limit, which bounds the sockets one process can hold. */
  openFilesLimit: number;
  /** Opening, authenticating and syncing every idle socket. */
  openSeconds: number;
  serverRssMb: { before: number; after: number };
  serverHeapUsedMb: { before: number; after: number };
  /** (after − before) / idle sockets, from outside the server (RSS) and from its V8 heap. */
  perSocketKb: { rss: number; heap: number };
  live: { alone: LiveTraffic; besideIdle: LiveTraffic };
  /** Live delivery p99 beside the idle sockets over alone. */
  deliveryP99Ratio: number;
}

const METRICS_TOKEN = 'bench-metrics-token-that-is-long-enough-0123';
const ACTIVE_USERS = 100;

/** The soft limit on open files, from /proc (Node has no getrlimit); the child server inherits it. */
export function openFilesLimit(): number {
  const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return line?.[1] === undefined || line[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(line[1]);
}

/**
 * `npm run bench -- --idle-sockets N`: live traffic (`rate` direct messages/s among 100 connected users) measured
 * alone, then again beside N idle sockets (authenticated and synced, ten per user as the per-user cap allows, opened
 * from `addresses` source addresses in turn); the server's RSS and V8 heap before and after they open give the
 * memory each one holds.
 */
export async function idleSocketsBench(
  options: { idle: number; rate: number; seconds: number; addresses: number },
  log: (message: string) => void,
): Promise<IdleSocketsResult> {
  const limit = openFilesLimit();
  // The server holds every socket, the sockets' other ends are here, and both need a few hundred files besides.
  if (options.idle + ACTIVE_USERS + 500 > limit)
    throw new Error(
      `--idle-sockets ${options.idle} needs more open files than this shell allows (ulimit -n is ${limit}): ` +
        `raise it (ulimit -n ${options.idle + 2_000}, which may need root) or ask for at most ${limit - ACTIVE_USERS - 500}`,
    );
  const sourceAddresses = Array.from({ length: options.addresses }, (_, i) => `127.0.0.${i + 1}`);
  const storageDir = mkdtempSync(join(tmpdir(), 'letsapp-idle-'));
  const server = await spawnServer({ ...benchServerEnv(storageDir), METRICS_TOKEN });
  const pid = server.child.pid!;
  const json = jsonClient(server.url);
  const heapUsedMb = async () => {
    const response = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const bytes = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(await response.text())?.[1];
    return Number(bytes ?? 0) / 1024 / 1024;
  };
  const opened: LoadSocket[] = [];
  try {
    log(`registering ${ACTIVE_USERS} active users ...`);
    const active = await registerUsers(json, ACTIVE_USERS, 'live');
    const activeSockets = await openSynced(server.wsUrl, active, sourceAddresses);
    opened.push(...activeSockets);
    const alone = await liveTraffic(activeSockets, active, options, log, 'live traffic alone');

    const idleUsers = Math.ceil(options.idle / LIMITS.maxSocketsPerUser);
    log(`registering ${idleUsers} idle users ...`);
    const idle = await registerUsers(json, idleUsers, 'idle');
    await settle();
    const before = { rss: rssMb(pid), heap: await heapUsedMb() };
    log(`opening ${options.idle} idle sockets from ${sourceAddresses.join(', ')} ...`);
    const started = performance.now();
    for (let i = 0; i < options.idle; i += 500) {
      const owners = Array.from({ length: Math.min(500, options.idle - i) }, (_, j) => idle[(i + j) % idleUsers]!);
      opened.push(...(await openSynced(server.wsUrl, owners, sourceAddresses, i)));
      if ((i / 500) % 10 === 9) log(`  ${i + 500} open, server RSS ${Math.round(rssMb(pid))} MB`);
    }
    const openSeconds = (performance.now() - started) / 1000;
    await settle();
    const after = { rss: rssMb(pid), heap: await heapUsedMb() };
    const besideIdle = await liveTraffic(activeSockets, active, options, log, `live traffic beside ${options.idle} idle sockets`);
    const kb = (mb: number) => Number(((mb * 1024) / options.idle).toFixed(2));
    return {
      idleSockets: options.idle,
      sourceAddresses,
      openFilesLimit: limit,
      openSeconds: Number(openSeconds.toFixed(1)),
      serverRssMb: { before: Math.round(before.rss), after: Math.round(after.rss) },
      serverHeapUsedMb: { before: Math.round(before.heap), after: Math.round(after.heap) },
      perSocketKb: { rss: kb(after.rss - before.rss), heap: kb(after.heap - before.heap) },
      live: { alone, besideIdle },
      deliveryP99Ratio: Number((besideIdle.deliveryLatencyMs.p99 / Math.max(0.01, alone.deliveryLatencyMs.p99)).toFixed(2)),
    };
  } finally {
    for (const socket of opened) socket.close();
    await server.stop();
    rmSync(storageDir, { recursive: true, force: true });
  }
}

/** A pause for the server's collector and the sockets' first frames, so memory is read at rest. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 3_000));

/** One socket per owner, opened together, each synced (as a client app keeps a live view). */
async function openSynced(wsUrl: string, owners: readonly BenchUser[], addresses: readonly string[], offset = 0): Promise<LoadSocket[]> {
  const sockets = owners.map(
    (owner, i) => new LoadSocket(`${wsUrl}?token=${owner.token}`, owner.id, addresses[(offset + i) % addresses.length]),
  );
  await openAndSync(sockets);
  return sockets;
}

/** `rate` direct messages/s for `seconds`, each from one active user to the next; ack and delivery latencies. */
async function liveTraffic(
  sockets: readonly LoadSocket[],
  users: readonly BenchUser[],
  options: { rate: number; seconds: number },
  log: (message: string) => void,
  name: string,
): Promise<LiveTraffic> {
  const acks = new Latencies();
  const deliveries = new Latencies();
  const sentAt = new Map<string, number>();
  const started = performance.now();
  for (const socket of sockets) {
    socket.on<{ type: string; id: string }>('message.send.ok', (ack) => {
      const at = sentAt.get(ack.id);
      if (at !== undefined) acks.add(performance.now() - at);
      sentAt.delete(ack.id);
    });
    socket.on<MessageCreated>('message.created', (frame) => {
      const at = Number(frame.message.content?.text);
      if (frame.message.senderId !== socket.userId && at >= started) deliveries.add(performance.now() - at);
    });
  }
  const phase = randomUUID().slice(0, 8);
  let sent = 0;
  let stopped = false;
  const driving = (async () => {
    while (!stopped) {
      const due = Math.floor(((performance.now() - started) / 1000) * options.rate);
      for (; sent < due; sent++) {
        const from = sent % sockets.length;
        const id = `${phase}-${sent}`;
        sentAt.set(id, performance.now());
        sockets[from]!.send({
          type: 'message.send',
          id,
          recipientId: users[(from + 1) % users.length]!.id,
          text: String(performance.now()),
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  await runFor(options.seconds, (elapsed) => log(`  ${name}: ${elapsed.toFixed(0)}/${options.seconds} s, ${acks.count} acked`));
  stopped = true;
  await driving;
  const seconds = (performance.now() - started) / 1000;
  // The frames in flight arrive before the next phase.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  return { ackedPerSecond: Math.round(acks.count / seconds), ackLatencyMs: acks.summary(), deliveryLatencyMs: deliveries.summary() };
}
