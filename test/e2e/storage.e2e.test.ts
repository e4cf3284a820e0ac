import test from 'ava';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { registerUser, startTestApp, tempDir } from '../helpers/app.ts';

test('the databases and their WAL files are readable by the server\'s user only', async (t) => {
  const storageDir = join(tempDir(), 'storage');
  const app = await startTestApp({ storageDir });
  t.teardown(() => app.dispose());
  await registerUser(app.url);
  t.is(statSync(storageDir).mode & 0o777, 0o700);
  const files = readdirSync(storageDir).filter((name) => name.includes('.sqlite'));
  t.true(files.includes('events.sqlite-wal') && files.includes('read.sqlite'), files.join());
  for (const name of files) t.is(statSync(join(storageDir, name)).mode & 0o777, 0o600, name);
});
