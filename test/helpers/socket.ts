import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { serverFrame } from '../../src/contract/socketProtocol.ts';

export interface TestSocket {
  socket: WebSocket;
  frames: any[];
  /** Resolves with the first received frame (past or future) matching `predicate`. */
  next(predicate: (frame: any) => boolean, timeoutMs?: number): Promise<any>;
  send(frame: unknown): void;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/**
 * A real WebSocket client that records every frame it receives; `headers` go on the upgrade request. Every frame is
 * checked against the protocol's schemas: one that does not match fails the test run (an uncaught exception).
 */
export function connect(url: string, token?: string, headers?: Record<string, string>): Promise<TestSocket> {
  const socket = new WebSocket(token ? `${url}?token=${encodeURIComponent(token)}` : url, headers ? { headers } : {});
  const frames: any[] = [];
  const waiters: Array<{ predicate: (frame: any) => boolean; resolve: (frame: any) => void }> = [];
  socket.on('message', (data) => {
    const frame = JSON.parse((data as Buffer).toString('utf8'));
    const checked = serverFrame.safeParse(frame);
    if (!checked.success) {
      throw new Error(
        `The server sent a frame outside the protocol: ${JSON.stringify(frame)}\n${JSON.stringify(checked.error.issues.slice(0, 5))}`,
      );
    }
    frames.push(frame);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(frame)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(frame);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  const client: TestSocket = {
    socket,
    frames,
    closed,
    next(predicate, timeoutMs = 5_000) {
      const seen = frames.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames)}`)),
          timeoutMs,
        );
        waiters.push({
          predicate,
          resolve: (frame) => {
            clearTimeout(timer);
            resolve(frame);
          },
        });
      });
    },
    send(frame) {
      socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    },
    close() {
      socket.close();
    },
  };
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(client));
    socket.once('error', reject);
  });
}

/** The TCP socket under a client socket (`ws` keeps it in its private `_socket`): pausing it stops the client reading. */
export const tcpOf = (socket: WebSocket): Socket => Reflect.get(socket, '_socket') as Socket;
