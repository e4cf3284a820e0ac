import WebSocket from 'ws';

/** One client socket of the load generator; frames are parsed once and routed by type. */
export class LoadSocket {
  readonly socket: WebSocket;
  private readonly handlers = new Map<string, (frame: any) => void>();
  readonly opened: Promise<void>;

  constructor(url: string, readonly userId: string) {
    this.socket = new WebSocket(url, { perMessageDeflate: false });
    this.socket.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      this.handlers.get(frame.type)?.(frame);
    });
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
  }

  on(type: string, handler: (frame: any) => void): void {
    this.handlers.set(type, handler);
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
    const at = (q: number) => (sorted.length === 0 ? 0 : Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2)));
    return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1), samples: sorted.length };
  }
}

/** Runs `tick` every `intervalMs` for `seconds`, then resolves. */
export function runFor(seconds: number, onSecond: (elapsed: number) => void): Promise<void> {
  return new Promise((resolve) => {
    const started = performance.now();
    const timer = setInterval(() => {
      const elapsed = (performance.now() - started) / 1000;
      onSecond(elapsed);
      if (elapsed >= seconds) {
        clearInterval(timer);
        resolve();
      }
    }, 1000);
  });
}
