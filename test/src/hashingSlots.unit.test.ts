import test from 'ava';
import { HashingSlots } from '../../src/auth/hashingSlots.ts';

/** A task that runs until `finish()`, recording when it started. */
function gatedTask(started: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return {
    run: () => {
      started.push(name);
      return done;
    },
    finish: () => finish(),
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('no more hashes run at once than the slots, and a client with a burst waiting does not keep another out', async (t) => {
  const slots = new HashingSlots(2, 32);
  const started: string[] = [];
  const flood = Array.from({ length: 10 }, (_, i) => gatedTask(started, `a${i}`));
  const runs = flood.map((task) => slots.run('10.0.0.1', task.run));
  const other = gatedTask(started, 'b0');
  const otherRun = slots.run('10.0.0.2', other.run);
  await settle();
  t.deepEqual(started, ['a0', 'a1'], 'two slots');
  t.is(slots.queued, 9);

  flood[0]!.finish();
  await settle();
  t.deepEqual(started, ['a0', 'a1', 'b0'], 'the other client is next, ahead of the burst');
  flood[1]!.finish();
  other.finish();
  await settle();
  t.deepEqual(started.slice(3), ['a2', 'a3']);
  for (const task of flood) task.finish();
  await Promise.all([...runs, otherRun]);
  t.is(started.length, 11);
  t.is(slots.queued, 0);
});

test('a client with too many hashes waiting is refused with a 429, and a failing hash frees its slot', async (t) => {
  const slots = new HashingSlots(1, 2);
  const started: string[] = [];
  const held = gatedTask(started, 'held');
  const first = slots.run('c', held.run);
  const waiting = [slots.run('c', async () => 'w1'), slots.run('c', async () => 'w2')];
  await t.throwsAsync(
    slots.run('c', async () => 'w3'),
    { instanceOf: Error, message: /auth/ },
  );
  held.finish();
  await first;
  t.deepEqual(await Promise.all(waiting), ['w1', 'w2']);
  await t.throwsAsync(
    slots.run('c', async () => {
      throw new Error('bcrypt failed');
    }),
    { message: 'bcrypt failed' },
  );
  t.is(await slots.run('d', async () => 'free again'), 'free again');
});
