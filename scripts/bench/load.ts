import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { z } from 'zod';
import { group, session } from '../../src/contract/models.ts';

/** The answer of `POST /api/groups`, checked against the contract. */
export const groupCreated = z.object({ group });

/** A JSON request to the server under test: its status and parsed body (null when it had none). */
export type Json = (method: string, path: string, body?: unknown, token?: string) => Promise<{ status: number; body: unknown }>;

/** A JSON client of the server under test at `baseUrl`. */
export const jsonClient =
  (baseUrl: string): Json =>
  async (method, path, body, token) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer: unknown = await response.json().catch(() => null);
    return { status: response.status, body: answer };
  };

export interface BenchUser {
  id: string;
  token: string;
}

/** Registers `count` users named `<prefix>_<i>`, `batch` at a time. */
export async function registerUsers(json: Json, count: number, prefix: string, batch = 25): Promise<BenchUser[]> {
  const users: BenchUser[] = [];
  for (let i = 0; i < count; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async (_, j) => {
        const { body } = await json('POST', '/auth/register', {
          email: `${prefix}${i + j}@example.test`,
          username: `${prefix}_${i + j}`,
          password: 'bench password',
        });
        const { user, accessToken } = session.parse(body);
        users[i + j] = { id: user.id, token: accessToken };
      }),
    );
  }
  return users;
}

/** A process's resident memory in MB, read from /proc (from outside the process). */
export const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/** Clock ticks per second of /proc's CPU times (USER_HZ, what `getconf CLK_TCK` answers: 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU seconds (user + system) from /proc, read from outside the process: of a process (all its threads), or of one of
 * its threads given `thread`; null once it is gone. Fields 14 and 15 of `stat`, after the parenthesised command name.
 */
export function cpuSecondsOf(pid: number, thread?: number): number | null {
  try {
    const path = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
    const fields = readFileSync(path, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return null;
  }
}

/**
 * A running process's CPU time so far: all its threads, and its main thread alone (a Node server's serving thread; the
 * rest are the projection worker, libuv's pool, V8's GC and compiler).
 */
export function cpuSeconds(pid: number): { total: number; mainThread: number } {
  const total = cpuSecondsOf(pid);
  const mainThread = cpuSecondsOf(pid, pid);
  if (total === null || mainThread === null) throw new Error(`process ${pid} is gone: no CPU time to read`);
  return { total, mainThread };
}

/** A received frame: its type, and the fields the listener for that type reads. */
export interface Frame {
  type: string;
  id?: string;
  [field: string]: unknown;
}

/** The fields of a `message.created` frame the bench reads; a text message's text carries its send time. */
export interface MessageCreated extends Frame {
  message: { id: string; senderId: string; groupId?: string | null; content?: { text?: string } | null };
}

/** What the bare relay (scripts/bench/relayServer.ts) delivers. */
export interface RelayFrame extends Frame {
  senderId: string;
  sentAt: number;
}

/** One client socket of the load generator; frames are parsed once and routed by type. */
export class LoadSocket {
  readonly socket: WebSocket;
  private readonly handlers = new Map<string, (frame: Frame) => void>();
  readonly opened: Promise<void>;

  constructor(
    url: string,
    readonly userId: string,
    /** The source address (127.0.0.x spreads many sockets over more than one address's ephemeral ports). */
    localAddress?: string,
  ) {
    this.socket = new WebSocket(url, { perMessageDeflate: false, ...(localAddress ? { localAddress } : {}) });
    this.socket.on('message', (data) => {
      // binaryType is the default 'nodebuffer': a message arrives as one Buffer.
      const frame = JSON.parse((data as Buffer).toString('utf8')) as Frame;
      this.handlers.get(frame.type)?.(frame);
    });
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
  }

  /** `F`: the shape the server sends frames of `type` in (the bench trusts its own server; nothing is validated). */
  on<F extends Frame = Frame>(type: string, handler: (frame: F) => void): void {
    this.handlers.set(type, handler as (frame: Frame) => void);
  }

  send(frame: unknown): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  close(): void {
    this.socket.terminate();
  }
}

/** Waits until every socket is open, then syncs each (as a client app keeps a live view) and waits for its snapshot. */
export async function openAndSync(sockets: readonly LoadSocket[]): Promise<void> {
  await Promise.all(sockets.map((socket) => socket.opened));
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          socket.on('sync.snapshot', () => resolve());
          socket.send({ type: 'sync' });
        }),
    ),
  );
}

/** Latency samples in milliseconds, summarized as percentiles. */
export type LatencySummary = { p50: number; p95: number; p99: number; max: number; samples: number };

function summarize(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted.length === 0 ? 0 : Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2));
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1), samples: sorted.length };
}

export class Latencies {
  private samples: number[] = [];
  private windowStart = 0;

  add(ms: number): void {
    this.samples.push(ms);
  }

  get count(): number {
    return this.samples.length;
  }

  summary(): LatencySummary {
    return summarize(this.samples);
  }

  /** The samples added since the previous call, summarized: one point of a per-second series. */
  window(): LatencySummary {
    const part = this.samples.slice(this.windowStart);
    this.windowStart = this.samples.length;
    return summarize(part);
  }
}

/** One second of a phase, for the report's charts (scripts/bench/report.ts). */
export interface TimelinePoint {
  /** Seconds since the phase began, at the end of this window. */
  second: number;
  /** Acks (or deliveries, for fan-out) in the window, per second. */
  perSecond: number;
  deliveryMs: LatencySummary;
  ackMs?: LatencySummary;
  /** Events the projections were behind, and the server's RSS, sampled at the window's end. */
  projectionLag?: number;
  serverRssMb?: number;
}

/** Runs `tick` every `intervalMs` for `seconds`, then resolves. */
export function runFor(seconds: number, onSecond: (elapsed: number) => void | Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const timer = setInterval(() => {
      const elapsed = (performance.now() - started) / 1000;
      // A failing tick fails the run.
      Promise.resolve(onSecond(elapsed)).catch((error: unknown) => {
        clearInterval(timer);
        reject(error);
      });
      if (elapsed >= seconds) {
        clearInterval(timer);
        resolve();
      }
    }, 1000);
  });
}
