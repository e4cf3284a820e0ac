import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { spawnServer } from '../lib/spawnServer.ts';
import { rebuildWithProgress, writeHistory } from './replay.ts';
import { benchServerEnv } from './serverEnv.ts';

export interface StartupResult {
  events: number;
  eventLogMb: number;
  readStoreMb: number;
  /** From spawning the server process to its first `/ping` answered 200, one per start. */
  secondsToFirstPing: number[];
  /** The same starts to "listening" (both ports bound). */
  secondsToListening: number[];
}

/**
 * `npm run bench -- --startup N`: an N-event history (the replay bench's shapes) with projections rebuilt to its head,
 * then `starts` starts of the real server on it, each timed from spawning the process to its first `/ping` 200.
 */
export async function startupBench(total: number, starts: number, log: (message: string) => void): Promise<StartupResult> {
  const dir = mkdtempSync(join(tmpdir(), 'letsapp-startup-'));
  try {
    const eventStore = new SqliteEventStore(join(dir, 'events.sqlite'));
    const readStore = new SqliteReadStore(join(dir, 'read.sqlite'));
    const { written } = await writeHistory(eventStore, total);
    log(`generated ${written} events; rebuilding every projector to the head ...`);
    await rebuildWithProgress(eventStore, readStore);
    await eventStore.close();
    await readStore.close();
    const mb = (file: string) => Math.round(statSync(join(dir, file)).size / 1024 / 1024);
    const result: StartupResult = {
      events: written,
      eventLogMb: mb('events.sqlite'),
      readStoreMb: mb('read.sqlite'),
      secondsToFirstPing: [],
      secondsToListening: [],
    };
    for (let start = 0; start < starts; start++) {
      const spawned = performance.now();
      const server = await spawnServer(benchServerEnv(dir));
      const listening = performance.now();
      for (;;) {
        const answer = await fetch(`${server.url}/ping`).catch(() => null);
        if (answer?.status === 200) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const seconds = (at: number) => Number(((at - spawned) / 1000).toFixed(2));
      result.secondsToFirstPing.push(seconds(performance.now()));
      result.secondsToListening.push(seconds(listening));
      log(
        `start ${start + 1}/${starts}: listening after ${result.secondsToListening.at(-1)} s, /ping 200 after ${result.secondsToFirstPing.at(-1)} s`,
      );
      await server.stop();
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
