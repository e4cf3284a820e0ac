import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface EventLoopWindow {
  /** When the window ended. */
  at: string;
  p99Ms: number;
  maxMs: number;
}

const WINDOW_MS = 1_000;
const WINDOWS_KEPT = 60;

/**
 * How long the serving thread's event loop was blocked, in one-second windows (the last minute is kept): a
 * stall here delays every frame and request. Shown on /ping; the bench reads it per phase.
 */
export class EventLoopMonitor {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private readonly windows: EventLoopWindow[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.histogram.enable();
    this.timer = setInterval(() => this.closeWindow(), WINDOW_MS);
    this.timer.unref();
  }

  private closeWindow(): void {
    const toMs = (ns: number) => Number((ns / 1e6).toFixed(1));
    this.windows.push({ at: new Date().toISOString(), p99Ms: toMs(this.histogram.percentile(99)), maxMs: toMs(this.histogram.max) });
    if (this.windows.length > WINDOWS_KEPT) this.windows.shift();
    this.histogram.reset();
  }

  recent(): EventLoopWindow[] {
    return [...this.windows];
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }
}
