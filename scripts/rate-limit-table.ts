/**
 * Maintainer's tool: prints the README's rate-limit table, made from the policies' own list
 * (src/rateLimit/policies.ts) and the REST routes and socket frames that charge each; `--write` puts it in README.md
 * between its markers. A test (test/e2e/newcomer.e2e.test.ts) fails while the README's table differs.
 *   npx tsx scripts/rate-limit-table.ts [--write]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { CLIENT_FRAMES } from '../src/contract/socketProtocol.ts';
import { DEFAULT_POLICIES } from '../src/rateLimit/policies.ts';
import { parseScriptArgs } from './lib/args.ts';
import { frameUsers, rateLimitTable, routeUsers, withTable } from './lib/rateLimitTable.ts';

const { values } = parseScriptArgs('Usage: npx tsx scripts/rate-limit-table.ts [--write]   (--write: into README.md)', {
  write: { type: 'boolean' },
});
// The route table is the one a server registers: built by starting one, on a temp dir and ephemeral ports.
const storageDir = mkdtempSync(join(tmpdir(), 'letsapp-rate-limit-table-'));
const app = await startApp(
  loadConfig({ NODE_ENV: 'test', STORAGE_DIR: storageDir, PORT: '0', WS_PORT: '0', HOST: '127.0.0.1' }, () => undefined),
  { logger: pino({ level: 'silent' }) },
);
try {
  const table = rateLimitTable(DEFAULT_POLICIES, [...routeUsers(app.routes), ...frameUsers(CLIENT_FRAMES)]);
  if (values.write) writeFileSync('README.md', withTable(readFileSync('README.md', 'utf8'), table));
  else console.log(table);
} finally {
  await app.close();
  rmSync(storageDir, { recursive: true, force: true });
}
