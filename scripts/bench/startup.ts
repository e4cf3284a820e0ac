import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { SqliteReadStore } from '../../src/readstore/sqlite.ts';
import { buildServer } from '../lib/build.ts';
import { spawnServer } from '../lib/spawnServer.ts';
import { rebuildWithProgress, writeHistory } from './replay.ts';
import { benchServerEnv } from './serverEnv.ts';

/** Starts of one kind: from spawning the server process to "listening" (both ports bound) and to its first `/ping` 200. */
export interface Starts {
  secondsToListening: number[];
  secondsToFirstPing: number[];
}

export interface StartupResult {
  events: number;
  eventLogMb: number;
  readStoreMb: number;
  /** The compiled build (`npm run start:prod`) on the log, and on an empty storage dir; `tsx src/main.ts` on the log. */
  compiled: Starts;
  compiledEmpty: Starts;
  tsx: Starts;
}

/**
 * `npm run bench -- --startup N`: an N-event history (the replay bench's shapes) with projections rebuilt to its head,
 * then `starts` starts of the real server on it (the compiled build, and tsx), each timed from spawning the process to its
 * first `/ping` 200; and starts of the compiled build on empty storage, for what any start costs.
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
    const build = join(import.meta.dirname, '../../node_modules/.cache/letsapp-bench-build');
    await buildServer(build);
    const compiled = ['--enable-source-maps', join(build, 'main.js')];
    const empty = mkdtempSync(join(tmpdir(), 'letsapp-startup-empty-'));
    const result: StartupResult = {
      events: written,
      eventLogMb: mb('events.sqlite'),
      readStoreMb: mb('read.sqlite'),
      compiled: await timeStarts(dir, compiled, starts, 'compiled build, the log', log),
      compiledEmpty: await timeStarts(empty, compiled, starts, 'compiled build, empty', log),
      tsx: await timeStarts(dir, undefined, starts, 'tsx src/main.ts, the log', log),
    };
    rmSync(empty, { recursive: true, force: true });
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `starts` starts of the server (`entry`, or tsx) on `storageDir`, one after another. */
async function timeStarts(
  storageDir: string,
  entry: string[] | undefined,
  starts: number,
  name: string,
  log: (message: string) => void,
): Promise<Starts> {
  const times: Starts = { secondsToListening: [], secondsToFirstPing: [] };
  for (let start = 0; start < starts; start++) {
    const spawned = performance.now();
    const server = await spawnServer(benchServerEnv(storageDir), [], entry);
    const listening = performance.now();
    for (;;) {
      const answer = await fetch(`${server.url}/ping`).catch(() => null);
      if (answer?.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const seconds = (at: number) => Number(((at - spawned) / 1000).toFixed(2));
    times.secondsToFirstPing.push(seconds(performance.now()));
    times.secondsToListening.push(seconds(listening));
    log(
      `${name}, start ${start + 1}/${starts}: listening after ${times.secondsToListening.at(-1)} s, /ping 200 after ${times.secondsToFirstPing.at(-1)} s`,
    );
    await server.stop();
  }
  return times;
}
