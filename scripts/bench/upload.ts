import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { copyFile, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchServerEnv } from './serverEnv.ts';
import { spawnServer } from '../lib/spawnServer.ts';

export interface UploadBenchResult {
  files: number;
  fileMiB: number;
  /** One upload at a time, and four at once, through the whole pipeline (sniff, hash, temp file, fsync, rename, event). */
  sequentialMiBps: number;
  concurrentMiBps: number;
  /** The limit: copying the same bytes to a new file and syncing it, on the same disk. */
  fileCopyMiBps: number;
}

const MiB = 1024 * 1024;

/** A video-like file: an MP4 `ftyp` box, then random bytes (not re-encoded: the pipeline's cost without sharp). */
function mp4Like(bytes: number): Buffer {
  const file = randomBytes(bytes);
  Buffer.from([
    0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6f, 0x6d, 0, 0, 2, 0, 0x69, 0x73, 0x6f, 0x6d, 0x69, 0x73, 0x6f, 0x32,
  ]).copy(file);
  return file;
}

/** Upload throughput of the embedded server against a plain file copy of the same bytes on this machine. */
export async function uploadBench(files: number, log: (message: string) => void): Promise<UploadBenchResult> {
  const fileMiB = 8;
  const body = mp4Like(fileMiB * MiB);
  const dir = mkdtempSync(join(tmpdir(), 'letsapp-upload-bench-'));
  const server = await spawnServer({
    ...benchServerEnv(join(dir, 'storage')),
    MEDIA_QUOTA_BYTES: String(1024 ** 4),
    MEDIA_QUOTA_FILES: '1000000',
    MEDIA_GC_INTERVAL_MS: '0',
  });
  try {
    const session = (await (
      await fetch(`${server.url}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'uploader@example.test', username: 'uploader', password: 'a long password' }),
      })
    ).json()) as { accessToken: string };
    let n = 0;
    const uploadOne = async () => {
      // Each upload's bytes differ in their last 8 bytes: content addressing would otherwise store them once.
      const bytes = Buffer.from(body);
      bytes.writeDoubleBE(++n, bytes.length - 8);
      const response = await fetch(`${server.url}/api/media/upload?filename=clip.mp4`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session.accessToken}`, 'content-type': 'video/mp4' },
        body: bytes,
      });
      if (response.status !== 201) throw new Error(`upload answered ${response.status}: ${await response.text()}`);
    };
    const timed = async (label: string, run: () => Promise<void>) => {
      const started = performance.now();
      await run();
      const seconds = (performance.now() - started) / 1000;
      log(`  ${label}: ${files} × ${fileMiB} MiB in ${seconds.toFixed(2)} s`);
      return Number(((files * fileMiB) / seconds).toFixed(1));
    };
    const sequentialMiBps = await timed('upload, one at a time', async () => {
      for (let i = 0; i < files; i++) await uploadOne();
    });
    const concurrentMiBps = await timed('upload, four at once', async () => {
      let next = 0;
      await Promise.all(
        [0, 1, 2, 3].map(async () => {
          while (next++ < files) await uploadOne();
        }),
      );
    });
    const source = join(dir, 'source.bin');
    writeFileSync(source, body);
    const fileCopyMiBps = await timed('plain file copy + fsync', async () => {
      for (let i = 0; i < files; i++) {
        const target = join(dir, `copy-${i}.bin`);
        await copyFile(source, target);
        const handle = await open(target, 'r');
        await handle.sync();
        await handle.close();
      }
    });
    return { files, fileMiB, sequentialMiBps, concurrentMiBps, fileCopyMiBps };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
