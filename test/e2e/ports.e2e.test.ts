import test from 'ava';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { registerUser, tempDir, testEnv } from '../helpers/app.ts';
import { runToExit, spawnServer } from '../helpers/process.ts';
import { connect } from '../helpers/socket.ts';

const portOf = (url: string) => new URL(url).port;

/** A port nothing listens on now. A fixed port, not 0, as in production: sockets bound to port 0 never share it. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer()
      .once('error', reject)
      .listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
  });

test('a second server on a WS_PORT or PORT in use refuses to start with one line; every socket still reaches the first', async (t) => {
  const firstDir = tempDir();
  const secondDir = tempDir();
  const first = await spawnServer(firstDir, { PORT: String(await freePort()), WS_PORT: String(await freePort()) });
  t.teardown(async () => {
    await first.stop();
    rmSync(firstDir, { recursive: true, force: true });
    rmSync(secondDir, { recursive: true, force: true });
  });

  const wsTaken = await runToExit({ ...testEnv(secondDir), WS_PORT: portOf(first.wsUrl) });
  t.is(wsTaken.code, 69, wsTaken.stderr);
  t.regex(
    wsTaken.stderr,
    new RegExp(`^Cannot start: WS_PORT ${portOf(first.wsUrl)} on 127\\.0\\.0\\.1 is in use by another process[^\\n]*\\n$`),
  );

  const httpTaken = await runToExit({ ...testEnv(secondDir), PORT: portOf(first.url) });
  t.is(httpTaken.code, 69, httpTaken.stderr);
  t.regex(
    httpTaken.stderr,
    new RegExp(`^Cannot start: PORT ${portOf(first.url)} on 127\\.0\\.0\\.1 is in use by another process[^\\n]*\\n$`),
  );

  // 16 sockets (two users, 8 each: at most 10 per user), every one welcomed by the first server, whose users they are.
  const users = [await registerUser(first.url), await registerUser(first.url)];
  const sockets = await Promise.all(users.flatMap(({ accessToken }) => Array.from({ length: 8 }, () => connect(first.wsUrl, accessToken))));
  const welcomes = await Promise.all(sockets.map((socket) => socket.next((frame) => frame.type === 'welcome')));
  t.deepEqual(
    welcomes.map((frame) => frame.userId),
    users.flatMap(({ user }) => Array(8).fill(user.id)),
  );
  for (const socket of sockets) socket.close();
});
