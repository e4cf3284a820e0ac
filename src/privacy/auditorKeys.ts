import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { SecretBox } from '../secrets/secretBox.ts';
import type { SecretStore } from '../secrets/secretStore.ts';
import { SqliteSecretStore } from '../secrets/sqliteSecretStore.ts';
import { StoredShreddingKeys } from './shreddingKeys.ts';

/**
 * The content keys as the operator tools read them (audit, shred-legacy): read-only, from the server's secrets store.
 * An embedded storage dir without a secrets file has no keys: every sealed field then shows `[erased]`.
 */
export async function openKeysForTools(
  config: Pick<Config, 'storageDir' | 'keyring'> & Partial<Pick<Config, 'database'>>,
): Promise<{ keys: StoredShreddingKeys; close(): Promise<void> }> {
  let store: SecretStore | null = null;
  if (config.database) {
    const { PostgresSecretStore } = await import('../secrets/postgresSecretStore.ts');
    store = await PostgresSecretStore.connect(config.database);
  } else if (existsSync(join(config.storageDir, 'secrets.sqlite'))) {
    store = SqliteSecretStore.open(config.storageDir);
  }
  const none: SecretStore = {
    get: () => Promise.resolve(null),
    put: () => Promise.resolve(),
    replace: () => Promise.resolve(false),
    delete: () => Promise.resolve(),
    insertIfAbsent: (rows) => Promise.resolve(rows.map(() => false)),
    eraseResidue: () => Promise.resolve(true),
    count: () => Promise.resolve(0),
    all: async function* () {
      /* no keys */
    },
    close: () => Promise.resolve(),
  };
  const keys = new StoredShreddingKeys(store ?? none, await SecretBox.create(config.keyring), { writable: false });
  return {
    keys,
    async close() {
      await keys.close();
      await store?.close();
    },
  };
}
