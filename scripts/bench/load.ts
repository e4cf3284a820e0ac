import WebSocket from 'ws';
import { z } from 'zod';
import { group } from '../../src/contract/models.ts';

/** The answer of `POST /api/groups`, checked against the contract. */
export const groupCreated = z.object({ group });

/** A JSON request to the server under test: its status and parsed body (null when it had none). */
export type Json = (method: string, path: string, body?: unknown, token?: string) => Promise<{ status: number; body: unknown }>;

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
  ) {
    this.socket = new WebSocket(url, { perMessageDeflate: false });
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

/** Latency samples in milliseconds, summarized as percentiles. */
export class Latencies {
  private samples: number[] = [];

  add(ms: number): void {
    this.samples.push(ms);
  }

  get count(): number {
    return this.samples.length;
  }

  summary(): { p50: number; p95: number; p99: number; max: number; samples: number } {
    const sorted = [...this.samples].sort((a, b) => a - b);
    const at = (q: number) =>
      sorted.length === 0 ? 0 : Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2));
    return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1), samples: sorted.length };
  }
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
