import { execFileSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './app.ts';

/**
 * Occupies every thread of libuv's pool (shared by a test server in this process: bcrypt, the filesystem, sharp) until
 * `release()`: each thread blocks opening a FIFO for reading until the release opens it for writing. Resolves once a
 * probe of the filesystem is seen waiting, so the pool is known to be held.
 */
export async function holdThreadPool(): Promise<{ release(): Promise<void> }> {
  const size = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const dir = tempDir('letsapp-pool-');
  const fifos = Array.from({ length: size }, (_, index) => join(dir, `fifo-${index}`));
  execFileSync('mkfifo', fifos);
  const readers: Array<Promise<FileHandle>> = fifos.map((fifo) => open(fifo, 'r'));
  let probed = false;
  const probe = stat(dir).then(() => {
    probed = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  if (probed) throw new Error('the thread pool was not held: a stat went through');
  return {
    async release() {
      for (const fifo of fifos) closeSync(openSync(fifo, 'w'));
      for (const reader of await Promise.all(readers)) await reader.close();
      await probe;
    },
  };
}
