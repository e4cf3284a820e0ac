import {
  groupCreated,
  Latencies,
  LoadSocket,
  registerUsers,
  runFor,
  type BenchUser,
  type Frame,
  type Json,
  type TimelinePoint,
} from './load.ts';

export interface FanoutResult {
  members: number;
  messagesPerSecond: number;
  /** Frames received per second over every member's socket (the sender's own excluded). */
  deliveriesPerSecond: number;
  /** Of the deliveries due for the messages sent in the phase, how many arrived before it ended plus a grace second. */
  delivered: number;
  due: number;
  latencyMs: ReturnType<Latencies['summary']>;
  timeline: TimelinePoint[];
}

/** Registers `size` users and puts them in one group: the group fan-out phase's audience. */
export async function makeBigGroup(
  json: Json,
  size: number,
  log: (message: string) => void,
): Promise<{ groupId: string; members: BenchUser[] }> {
  log(`fan-out: registering ${size} members ...`);
  const members: BenchUser[] = await registerUsers(json, size, 'fanout');
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
  const timeline: TimelinePoint[] = [];
  let deliveredBefore = 0;
  let windowStarted = started;
  await runFor(seconds, (elapsed) => {
    const now = performance.now();
    timeline.push({
      second: Number(elapsed.toFixed(2)),
      perSecond: Math.round(((delivered - deliveredBefore) * 1000) / (now - windowStarted)),
      deliveryMs: latencies.window(),
    });
    deliveredBefore = delivered;
    windowStarted = now;
    log(`  ${name}: ${elapsed.toFixed(0)}/${seconds} s, ${sent} sent, ${delivered} delivered`);
  });
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
    timeline,
  };
}
