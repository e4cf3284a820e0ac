import test from 'ava';
import { freshRandomBytes } from '../../src/secrets/randomBytes.ts';

test('each draw is the length asked for, across pool refills and beyond the pool', (t) => {
  for (const length of [1, 24, 32, 4095, 4096, 4097, 10_000]) t.is(freshRandomBytes(length).length, length);
});

test('no two nonces repeat across many pool refills, and no draw is the zeroed pool', (t) => {
  const seen = new Set<string>();
  // 20,000 nonces of 24 bytes: about 117 refills of the 4 KB pool.
  for (let index = 0; index < 20_000; index++) {
    const nonce = Buffer.from(freshRandomBytes(24));
    t.false(nonce.equals(Buffer.alloc(24)), 'a nonce of zeros: bytes handed out twice');
    seen.add(nonce.toString('hex'));
  }
  t.is(seen.size, 20_000);
});

test('a draw is a copy: changing it changes no later draw', (t) => {
  const first = freshRandomBytes(32);
  first.fill(7);
  const second = freshRandomBytes(32);
  t.false(Buffer.from(second).equals(Buffer.alloc(32, 7)));
});

test('the bytes are spread over every value (a sanity check of the source, not a statistical test)', (t) => {
  const counts = new Array<number>(256).fill(0);
  for (const byte of freshRandomBytes(64 * 1024)) counts[byte]!++;
  for (let value = 0; value < 256; value++) t.true(counts[value]! > 128, `byte ${value} appeared ${counts[value]} times in 64 KiB`);
});
