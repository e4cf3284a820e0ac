import { session } from '../../src/contract/models.ts';
import { groupCreated, Latencies, LoadSocket, runFor, type Frame, type Json } from './load.ts';

export interface FanoutResult {
  members: number;
  messagesPerSecond: number;
  /** Frames received per second over every member's socket (the sender's own excluded). */
  deliveriesPerSecond: number;
  /** Of the deliveries due for the messages sent in the phase, how many arrived before it ended plus a grace second. */
  delivered: number;
  due: number;
  latencyMs: ReturnType<Latencies['summary']>;
}

interface Member {
  id: string;
  token: string;
}

/** Registers `size` users and puts them in one group: the group fan-out phase's audience. */
export async function makeBigGroup(
  json: Json,
  size: number,
  log: (message: string) => void,
): Promise<{ groupId: string; members: Member[] }> {
  log(`fan-out: registering ${size} members ...`);
  const members: Member[] = [];
  for (let i = 0; i < size; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, size - i) }, async (_, j) => {
        const { body } = await json('POST', '/auth/register', {
          email: `fanout${i + j}@example.test`,
          username: `fanout_${i + j}`,
          password: 'bench password',
        });
        const { user, accessToken } = session.parse(body);
        members[i + j] = { id: user.id, token: accessToken };
      }),
    );
  }
  const { body } = await json(
    'POST',
    '/api/groups',
    { name: 'fan-out', memberIds: members.slice(1).map((member) => member.id) },
    members[0]!.token,
  );
  return { groupId: groupCreated.parse(body).group.id, members };
}

/**
 * One group, every member connected: `rate` messages/s sent to it from a few members, each delivered to every
 * other member's socket. Measures deliveries/s at the sockets and send→delivered latency. `frame` builds what a
 * sender sends (the server's `message.send`, or the bare relay's frame); `deliveredAt` reads a received frame.
 */
export async function measureFanout<F extends Frame>(options: {
  sockets: LoadSocket[];
  rate: number;
  seconds: number;
  senders: number;
  frame: (seq: number, sentAt: number) => Record<string, unknown>;
  deliveryType: string;
  sentAtOf: (frame: F) => { senderId: string; sentAt: number } | null;
  log: (message: string) => void;
  name: string;
}): Promise<FanoutResult> {
  const { sockets, rate, seconds, senders, frame, deliveryType, sentAtOf, log, name } = options;
  const latencies = new Latencies();
  let delivered = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  for (const socket of sockets) {
    socket.on<F>(deliveryType, (received) => {
      const sent = sentAtOf(received);
      if (!sent || sent.senderId === socket.userId || sent.sentAt < started || sent.sentAt > until) return;
      delivered++;
      latencies.add(performance.now() - sent.sentAt);
    });
  }
  let sent = 0;
  let sentInWindow = 0;
  let stopped = false;
  const driving = (async () => {
    while (!stopped) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      for (; sent < due; sent++) {
        const now = performance.now();
        if (now <= until) sentInWindow++;
        sockets[sent % senders]!.send(frame(sent, now));
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  await runFor(seconds, (elapsed) => log(`  ${name}: ${elapsed.toFixed(0)}/${seconds} s, ${sent} sent, ${delivered} delivered`));
  stopped = true;
  await driving;
  const elapsed = (performance.now() - started) / 1000;
  const deliveredInPhase = delivered;
  // A grace second for the frames in flight, counted as delivered but not in the rate.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  return {
    members: sockets.length,
    messagesPerSecond: Math.round(sent / elapsed),
    deliveriesPerSecond: Math.round(deliveredInPhase / elapsed),
    delivered,
    due: sentInWindow * (sockets.length - 1),
    latencyMs: latencies.summary(),
  };
}
