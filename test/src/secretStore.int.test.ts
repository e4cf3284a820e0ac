import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresSecretStore } from '../../src/secrets/postgresSecretStore.ts';
import { SqliteSecretStore } from '../../src/secrets/sqliteSecretStore.ts';
import { freshSchema, postgresFactory, postgresTest, rawClient } from '../helpers/postgres.ts';
import { secretStoreContract } from './secretStore.contract.ts';

secretStoreContract('embedded', { open: async () => SqliteSecretStore.open(mkdtempSync(join(tmpdir(), 'letsapp-secrets-'))) });
// Each test a schema of its own, so each starts empty.
secretStoreContract(
  'PostgreSQL',
  postgresFactory(async () => PostgresSecretStore.connect(await freshSchema())),
);

postgresTest(
  'PostgreSQL secret store: a row holds the envelope as given (never anything the store could open) in the schema of DATABASE_SCHEMA',
  async (t, settings) => {
    const store = await PostgresSecretStore.connect(settings);
    t.teardown(() => store.close());
    await store.put('ai-api-key', 'user:alice', '{"v":1,"kid":"k1","ct":"AAAA"}');
    const client = await rawClient(t);
    const rows = (await client.query(`SELECT purpose, subject, envelope FROM "${settings.schema}".secrets`)).rows;
    t.deepEqual(rows, [{ purpose: 'ai-api-key', subject: 'user:alice', envelope: '{"v":1,"kid":"k1","ct":"AAAA"}' }]);
  },
);
