import test from 'ava';
import { rmSync } from 'node:fs';
import { registerUser, request, tempDir, testEnv } from '../helpers/app.ts';
import { runToExit, spawnServer } from '../helpers/process.ts';

test('a second server on an embedded STORAGE_DIR another server uses refuses to start with one line; once the first is killed, a new one starts', async (t) => {
  const storageDir = tempDir();
  t.teardown(() => rmSync(storageDir, { recursive: true, force: true }));
  const first = await spawnServer(storageDir);
  t.teardown(() => first.kill9());

  const second = await runToExit({ ...testEnv(storageDir), AUDIT_ANCHOR_KEY: '' });
  t.is(second.code, 69, 'EX_UNAVAILABLE, as for a port in use');
  const lines = second.stderr.trim().split('\n');
  t.is(lines.length, 1, `one line, no stack trace: ${second.stderr}`);
  t.regex(
    lines[0]!,
    new RegExp(
      `STORAGE_DIR ${storageDir.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another LetsApp server \\(pid ${first.child.pid}\\)`,
    ),
  );
  // The first one still serves, alone.
  t.is((await registerUser(first.url)).user.username.length > 0, true);

  // A crash leaves no stale lock behind: the operating system drops it with the process.
  await first.kill9();
  const third = await spawnServer(storageDir);
  t.teardown(() => third.stop());
  const ping = await request(third.url, 'GET', '/ping');
  t.is(ping.status, 200);
});
