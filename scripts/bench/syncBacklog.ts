import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { directConversationId } from '../../commands/conversations.ts';
import { messageStream } from '../../commands/messages.ts';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { SqliteEventStore } from '../../src/eventstore/sqlite.ts';
import { spawnServer, type ServerProcess } from '../lib/spawnServer.ts';
import { session } from '../../src/contract/models.ts';
import { Latencies, LoadSocket, type Frame, type MessageCreated } from './load.ts';
import { benchServerEnv } from './serverEnv.ts';

export interface SyncBacklogResult {
  backlog: number;
  /** From the `sync` to its `sync.ok`. */
  syncSeconds: number;
  framesPerSecond: number;
  /** Every message of the backlog arrived, once. */
  complete: boolean;
  /** The server's event loop in the one-second windows of the sync: the worst p99 and the longest stall. */
  eventLoopDelayMs: { worstWindowP99: number; max: number };
  /** Another user's pings, answered meanwhile by the same server. */
  pingRoundTripMs: ReturnType<Latencies['summary']>;
}

interface EventLoopWindow {
  at: string;
  p99Ms: number;
  maxMs: number;
}
/** The parts of `/ping` the bench reads. */
interface PingAnswer {
  projections: { lag: number };
  eventLoop: EventLoopWindow[];
}

const PASSWORD = 'bench password';

/**
 * `npm run bench -- --sync-backlog N`: one user has N messages waiting (written straight into the log of a stopped
 * server, then projected by the restarted one), connects and syncs from the beginning, while another user pings the
 * same server every 10 ms. Measures the sync's duration, the serving thread's event loop during it, and the pings.
 * `nodeArgs` go to the restarted server (`--profile DIR`: a CPU profile of it).
 */
export async function syncBacklogBench(
  backlog: number,
  log: (message: string) => void,
  nodeArgs: readonly string[] = [],
): Promise<SyncBacklogResult> {
  const storageDir = mkdtempSync(join(tmpdir(), 'letsapp-backlog-'));
  const env = benchServerEnv(storageDir);
  let server: ServerProcess | null = await spawnServer(env);
  try {
    const call = async (path: string, body?: unknown, method = 'POST'): Promise<unknown> => {
      const response = await fetch(`${server!.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return response.json();
    };
    const [sender, reader] = [
      session.parse(await call('/auth/register', { email: 'backlog-a@example.test', username: 'backlog_a', password: PASSWORD })),
      session.parse(await call('/auth/register', { email: 'backlog-b@example.test', username: 'backlog_b', password: PASSWORD })),
    ];
    await server.stop();
    server = null;

    log(`writing ${backlog} messages for one user into the log ...`);
    const eventStore = new SqliteEventStore(join(storageDir, 'events.sqlite'));
    const conversationId = directConversationId(sender.user.id, reader.user.id);
    const bar = new cliProgress.SingleBar({ format: 'writing [{bar}] {value}/{total} messages' }, cliProgress.Presets.shades_classic);
    bar.start(backlog, 0);
    for (let written = 0; written < backlog;) {
      const chunk = Math.min(2_000, backlog - written);
      await Promise.all(
        Array.from({ length: chunk }, (_, i) => {
          const messageId = randomUUID();
          const at = new Date().toISOString();
          return eventStore.append(
            messageStream(messageId),
            [
              {
                type: 'MessageSent',
                data: {
                  messageId,
                  conversationId,
                  senderId: sender.user.id,
                  target: { kind: 'direct', recipientId: reader.user.id },
                  content: { kind: 'text', text: `backlog ${written + i}` },
                  replyTo: null,
                  attachments: [],
                  clientMessageId: messageId,
                  sentAt: at,
                },
                metadata: {
                  eventId: randomUUID(),
                  correlationId: 'backlog',
                  causationId: 'backlog',
                  userId: sender.user.id,
                  timestamp: at,
                  schemaVersion: eventUpcaster.latestVersion('MessageSent'),
                },
              },
            ],
            'no-stream',
          );
        }),
      );
      written += chunk;
      bar.update(written);
    }
    bar.stop();
    await eventStore.close();

    server = await spawnServer(env, nodeArgs);
    log('waiting for the restarted server to project the backlog ...');
    const ping = async () => (await call('/ping', undefined, 'GET')) as PingAnswer;
    for (;;) {
      if ((await ping()).projections.lag === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const [readerLogin, senderLogin] = [
      session.parse(await call('/auth/login', { email: 'backlog-b@example.test', password: PASSWORD })),
      session.parse(await call('/auth/login', { email: 'backlog-a@example.test', password: PASSWORD })),
    ];
    const syncing = new LoadSocket(`${server.wsUrl}?token=${readerLogin.accessToken}`, reader.user.id);
    const other = new LoadSocket(`${server.wsUrl}?token=${senderLogin.accessToken}`, sender.user.id);
    await Promise.all([syncing.opened, other.opened]);
    // Let the one-second windows before the sync close, so the worst window is the sync's own.
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    log(`syncing ${backlog} messages from position 0 ...`);
    const seen = new Set<string>();
    let duplicates = 0;
    syncing.on<MessageCreated>('message.created', (frame) => {
      if (seen.has(frame.message.id)) duplicates++;
      seen.add(frame.message.id);
    });
    const pings = new Latencies();
    const pingSentAt = new Map<string, number>();
    other.on<Frame & { id: string }>('ping.ok', (frame) => {
      const sentAt = pingSentAt.get(frame.id);
      if (sentAt !== undefined) pings.add(performance.now() - sentAt);
    });
    let pingSeq = 0;
    const pinger = setInterval(() => {
      const id = `p${++pingSeq}`;
      pingSentAt.set(id, performance.now());
      other.send({ type: 'ping', id });
    }, 10);
    // /ping keeps the last ten windows: collect them while the sync runs.
    const windowsSeen = new Map<string, EventLoopWindow>();
    const collectWindows = async () => {
      for (const window of (await ping()).eventLoop) windowsSeen.set(window.at, window);
    };
    const collector = setInterval(() => void collectWindows(), 1_000);
    const syncStartedAt = Date.now();
    const started = performance.now();
    await new Promise<void>((resolve) => {
      syncing.on('sync.ok', () => resolve());
      syncing.send({ type: 'sync', id: 'backlog', since: 0 });
    });
    const syncSeconds = (performance.now() - started) / 1000;
    clearInterval(pinger);
    // The window the sync ended in closes within a second.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    clearInterval(collector);
    await collectWindows();
    const windows = [...windowsSeen.values()].filter((window) => Date.parse(window.at) > syncStartedAt);
    syncing.close();
    other.close();
    return {
      backlog,
      syncSeconds: Number(syncSeconds.toFixed(2)),
      framesPerSecond: Math.round(seen.size / syncSeconds),
      complete: seen.size === backlog && duplicates === 0,
      eventLoopDelayMs: {
        worstWindowP99: Math.max(0, ...windows.map((window) => window.p99Ms)),
        max: Math.max(0, ...windows.map((window) => window.maxMs)),
      },
      pingRoundTripMs: pings.summary(),
    };
  } finally {
    await server?.stop();
    rmSync(storageDir, { recursive: true, force: true });
  }
}
