import test from 'ava';
import { PresenceTracker, type LiveStatus, type PresenceTrackerOptions } from '../../src/presence/presenceTracker.ts';

const GRACE = 20_000;
const IDLE = 300_000;

/** A fake clock whose timers fire in time order as it advances, including timers armed while firing. */
class FakeClock {
  time = 1_000;
  armed = 0;
  private readonly timers = new Set<{ at: number; fn: () => void }>();

  readonly now = () => this.time;
  readonly setTimer = (fn: () => void, ms: number) => {
    const timer = { at: this.time + ms, fn };
    this.timers.add(timer);
    this.armed += 1;
    return { cancel: () => void this.timers.delete(timer) };
  };

  get pending() {
    return this.timers.size;
  }

  advance(ms: number) {
    const end = this.time + ms;
    for (;;) {
      let next: { at: number; fn: () => void } | undefined;
      for (const timer of this.timers) if (timer.at <= end && (next === undefined || timer.at < next.at)) next = timer;
      if (next === undefined) break;
      this.timers.delete(next);
      this.time = next.at;
      next.fn();
    }
    this.time = end;
  }
}

function setup(overrides: Partial<PresenceTrackerOptions> = {}) {
  const clock = new FakeClock();
  const transitions: { userId: string; transition: string; at: number; lastActiveAt: number }[] = [];
  const live: [string, LiveStatus][] = [];
  const tracker = new PresenceTracker({
    offlineGraceMs: GRACE,
    idleMs: IDLE,
    now: clock.now,
    setTimer: clock.setTimer,
    onTransition: (userId, transition, info) => transitions.push({ userId, transition, ...info }),
    onLiveChange: (userId, status) => live.push([userId, status]),
    ...overrides,
  });
  return { clock, tracker, transitions, live };
}

test('the first connection of an offline user comes online once, with the connect time', (t) => {
  const { clock, tracker, transitions, live } = setup();
  tracker.connected('u', 1);
  tracker.connected('u', 2);
  t.deepEqual(transitions, [{ userId: 'u', transition: 'came_online', at: clock.time, lastActiveAt: clock.time }]);
  t.deepEqual(live, [['u', 'online']]);
  t.is(tracker.status('u'), 'online');
  t.deepEqual(tracker.onlineUsers(), ['u']);
});

test('two devices: closing one fires nothing; closing the last goes offline exactly once, when the grace expires', (t) => {
  const { clock, tracker, transitions, live } = setup();
  tracker.connected('u', 1);
  tracker.connected('u', 2);
  clock.advance(1_000);
  tracker.disconnected('u', 1);
  clock.advance(GRACE * 2);
  t.is(transitions.length, 1, 'only came_online');
  t.is(live.length, 1);

  tracker.disconnected('u', 2);
  const closedAt = clock.time;
  clock.advance(GRACE - 1);
  t.is(transitions.length, 1, 'nothing before the grace is over');
  t.is(tracker.status('u'), 'online', 'the live status holds during the grace');
  clock.advance(1);
  t.deepEqual(transitions.slice(1), [{ userId: 'u', transition: 'went_offline', at: closedAt + GRACE, lastActiveAt: closedAt }]);
  t.deepEqual(live.slice(1), [['u', 'offline']]);
  clock.advance(GRACE * 10);
  t.is(transitions.length, 2, 'once');
  t.is(tracker.status('u'), 'offline');
});

test('a reconnect within the grace produces no transition and no live change, then or later', (t) => {
  const { clock, tracker, transitions, live } = setup();
  tracker.connected('u', 1);
  tracker.disconnected('u', 1);
  clock.advance(GRACE - 1);
  tracker.connected('u', 2);
  clock.advance(GRACE * 2);
  t.is(transitions.length, 1);
  t.is(live.length, 1);
  t.is(tracker.status('u'), 'online');
});

test('a reconnect after the grace is a new session', (t) => {
  const { clock, tracker, transitions } = setup();
  tracker.connected('u', 1);
  tracker.disconnected('u', 1);
  clock.advance(GRACE);
  tracker.connected('u', 2);
  t.deepEqual(
    transitions.map((x) => x.transition),
    ['came_online', 'went_offline', 'came_online'],
  );
});

test('no activity for idleMs makes the user away; activity brings the user back online', (t) => {
  const { clock, tracker, live } = setup();
  tracker.connected('u', 1);
  clock.advance(IDLE - 1);
  t.is(tracker.status('u'), 'online');
  clock.advance(1);
  t.is(tracker.status('u'), 'away');
  tracker.activity('u', 1);
  t.is(tracker.status('u'), 'online');
  t.deepEqual(live, [
    ['u', 'online'],
    ['u', 'away'],
    ['u', 'online'],
  ]);
});

test('activity postpones away by a full idleMs from the last frame', (t) => {
  const { clock, tracker } = setup();
  tracker.connected('u', 1);
  clock.advance(200_000);
  tracker.activity('u', 1);
  clock.advance(IDLE - 1);
  t.is(tracker.status('u'), 'online');
  clock.advance(1);
  t.is(tracker.status('u'), 'away');
  t.is(tracker.lastActiveAt('u'), 1_000 + 200_000);
});

test('frames on an active connection arm no timer: the idle check is lazy', (t) => {
  const { clock, tracker } = setup();
  tracker.connected('u', 1);
  const armed = clock.armed;
  for (let i = 0; i < 1_000; i++) {
    clock.advance(10);
    tracker.activity('u', 1);
  }
  t.is(clock.armed, armed);
  t.is(clock.pending, 1);
});

test('a user is online while any connection is active and away when every connection says idle', (t) => {
  const { tracker, live } = setup();
  tracker.connected('u', 1);
  tracker.connected('u', 2);
  tracker.setIdle('u', 1, true);
  t.is(tracker.status('u'), 'online', 'the other device is active');
  tracker.setIdle('u', 2, true);
  t.is(tracker.status('u'), 'away');
  tracker.activity('u', 2);
  t.is(tracker.status('u'), 'away', 'a pong does not undo an explicit idle');
  tracker.setIdle('u', 1, false);
  t.is(tracker.status('u'), 'online');
  t.deepEqual(live, [
    ['u', 'online'],
    ['u', 'away'],
    ['u', 'online'],
  ]);
});

test('a quiet device does not keep the user online once the busy one goes idle', (t) => {
  const { clock, tracker } = setup();
  tracker.connected('u', 1);
  tracker.connected('u', 2);
  clock.advance(IDLE);
  tracker.activity('u', 2);
  tracker.setIdle('u', 2, true);
  t.is(tracker.status('u'), 'away', 'device 1 has been silent for idleMs');
});

test('closing the only active device leaves the user away on the idle one', (t) => {
  const { tracker } = setup();
  tracker.connected('u', 1);
  tracker.connected('u', 2);
  tracker.setIdle('u', 2, true);
  tracker.disconnected('u', 1);
  t.is(tracker.status('u'), 'away');
});

test('an away user whose last socket closes goes offline after the grace', (t) => {
  const { clock, tracker, transitions, live } = setup();
  tracker.connected('u', 1);
  tracker.setIdle('u', 1, true);
  tracker.disconnected('u', 1);
  clock.advance(GRACE);
  t.deepEqual(live, [
    ['u', 'online'],
    ['u', 'away'],
    ['u', 'offline'],
  ]);
  t.deepEqual(
    transitions.map((x) => x.transition),
    ['came_online', 'went_offline'],
  );
});

test('users are independent', (t) => {
  const { clock, tracker, transitions } = setup();
  tracker.connected('a', 1);
  tracker.connected('b', 2);
  tracker.disconnected('a', 1);
  clock.advance(GRACE);
  t.deepEqual(
    transitions.map((x) => [x.userId, x.transition]),
    [
      ['a', 'came_online'],
      ['b', 'came_online'],
      ['a', 'went_offline'],
    ],
  );
  t.is(tracker.status('b'), 'online');
  t.deepEqual(tracker.onlineUsers(), ['b']);
});

test('a user offline after the grace is forgotten, timers included; late calls for closed sockets create nothing', (t) => {
  const { clock, tracker } = setup();
  tracker.connected('u', 1);
  tracker.connected('u', 2);
  tracker.disconnected('u', 1);
  tracker.disconnected('u', 2);
  clock.advance(GRACE);
  t.is(tracker.size, 0);
  t.is(clock.pending, 0);
  t.is(tracker.lastActiveAt('u'), null);
  t.deepEqual(tracker.onlineUsers(), []);
  tracker.activity('u', 1);
  tracker.setIdle('u', 2, false);
  tracker.disconnected('u', 1);
  t.is(tracker.size, 0);
  t.is(clock.pending, 0);
});

test('stop cancels every timer; nothing fires afterwards and the state stays readable for shutdown', (t) => {
  const { clock, tracker, transitions, live } = setup();
  tracker.connected('a', 1);
  tracker.connected('b', 2);
  tracker.disconnected('b', 2);
  t.true(clock.pending > 0);
  tracker.stop();
  t.is(clock.pending, 0);
  tracker.disconnected('a', 1);
  tracker.connected('c', 3);
  clock.advance(IDLE * 2);
  t.is(clock.pending, 0);
  t.deepEqual(
    transitions.map((x) => x.transition),
    ['came_online', 'came_online'],
  );
  t.is(live.length, 2);
  t.deepEqual(tracker.onlineUsers(), ['a', 'b'], 'who to mark offline with reason server_restart');
});

test('options that a timer cannot honour are refused', (t) => {
  t.throws(() => setup({ idleMs: 0 }), { instanceOf: RangeError });
  t.throws(() => setup({ offlineGraceMs: 2 ** 31 }), { instanceOf: RangeError });
});
