/**
 * Operator tool: re-encrypt every stored secret (users' AI API keys) that is not sealed with the current key.
 *   ENCRYPTION_KEYS="k1:<old>,k2:<new>" ENCRYPTION_KEY_ID=k2 npm run rotate-secrets
 * Keys come from the environment (src/secrets/keyring.ts); with ENCRYPTION_KEY alone (or development's
 * generated key) everything is already on the one key and nothing changes. Idempotent: a second run rotates 0.
 * The store is the server's: PostgreSQL with DATABASE_URL, STORAGE_DIR/secrets.sqlite otherwise.
 * Safe beside a running server: each row is a compare-and-set, so a key a user sets meanwhile is kept.
 * Secrets that do not open (unknown key id, altered) are left untouched and listed; the exit code is then 1.
 */
import cliProgress from 'cli-progress';
import { loadConfig, type Config } from '../src/config.ts';
import { parseKeyring } from '../src/secrets/keyring.ts';
import { rotateAll } from '../src/secrets/rotate.ts';
import { SecretBox } from '../src/secrets/secretBox.ts';
import { openSecretStore } from '../src/stores.ts';
import { parseScriptArgs } from './lib/args.ts';

// Whatever this script creates in the storage dir is the server user's alone, as for the server.
process.umask(0o077);
parseScriptArgs(
  `Usage: npm run rotate-secrets   (no options: the keys come from the environment)
  e.g. ENCRYPTION_KEYS="k1:<old>,k2:<new>" ENCRYPTION_KEY_ID=k2 npm run rotate-secrets
  Re-seals every stored secret that is not sealed with the current key.`,
  {},
);
let config: Config;
let box: SecretBox;
try {
  config = loadConfig();
  // The shorthand falls back to the configured key, so development's generated key is the one used.
  box = await SecretBox.create(
    parseKeyring({
      ENCRYPTION_KEYS: process.env.ENCRYPTION_KEYS,
      ENCRYPTION_KEY_ID: process.env.ENCRYPTION_KEY_ID,
      ENCRYPTION_KEY: process.env.ENCRYPTION_KEY || config.encryptionKey,
    }),
  );
} catch (error) {
  // ConfigError, or the keyring's own message: the configuration is wrong, not the secrets.
  console.error((error as Error).message);
  process.exit(2);
}
// PostgreSQL's table with DATABASE_URL, STORAGE_DIR/secrets.sqlite otherwise: where the server keeps them.
const store = await openSecretStore(config);
const bar = new cliProgress.SingleBar(
  { format: 'rotating [{bar}] {value}/{total} secrets | {duration}s', hideCursor: true },
  cliProgress.Presets.shades_classic,
);
bar.start(0, 0);
try {
  const summary = await rotateAll(store, box, ({ done, total }) => {
    if (total !== bar.getTotal()) bar.setTotal(total);
    bar.update(done);
  });
  bar.stop();
  console.log(
    `${summary.total} secrets: ${summary.rotated} rotated to key "${box.currentKeyId}", ${summary.alreadyCurrent} already current, ` +
      `${summary.unreadable.length} unreadable${summary.changedMeanwhile ? `, ${summary.changedMeanwhile} changed by the server meanwhile (left as they are)` : ''}.`,
  );
  for (const { purpose, subject, reason } of summary.unreadable) console.error(`  unreadable (${reason}): ${purpose} ${subject}`);
  if (summary.unreadable.length > 0) process.exitCode = 1;
} finally {
  bar.stop();
  await store.close();
}
