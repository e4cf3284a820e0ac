import { readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import { hashFile, LocalBlobStore } from '../../src/media/blobStore.ts';
import { tempDir } from '../helpers/app.ts';

const HOUR = 3_600_000;

async function storeWithOldBlob(t: ExecutionContext, text: string) {
  const root = tempDir();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const blobs = await new LocalBlobStore(root).init();
  const temp = blobs.tempPath();
  writeFileSync(temp, text);
  const { sha256 } = await hashFile(temp);
  const path = await blobs.commit(temp, sha256);
  const old = new Date(Date.now() - 2 * HOUR);
  utimesSync(path, old, old);
  return { blobs, sha256, path };
}

test("committing bytes that are stored already refreshes the blob's time, so the collector's grace starts again", async (t) => {
  const { blobs, sha256, path } = await storeWithOldBlob(t, 'the same bytes twice');
  const again = blobs.tempPath();
  writeFileSync(again, 'the same bytes twice');
  await blobs.commit(again, sha256);
  t.true(statSync(path).mtimeMs > Date.now() - 60_000);
  t.false(await blobs.removeIfUntouched(sha256, Date.now() - HOUR), 'refreshed: not removed');
  t.is(readFileSync(path, 'utf8'), 'the same bytes twice', 'and still in place');
});

test('a blob untouched since the cutoff is removed; one already gone is not reported removed', async (t) => {
  const { blobs, sha256 } = await storeWithOldBlob(t, 'nobody names these');
  t.true(await blobs.removeIfUntouched(sha256, Date.now() - HOUR));
  t.false(await blobs.exists(sha256));
  t.false(await blobs.removeIfUntouched(sha256, Date.now() - HOUR));
  const leftovers: string[] = [];
  for await (const temp of blobs.temps()) leftovers.push(temp.path);
  t.deepEqual(leftovers, [], 'nothing set aside is left behind');
});
