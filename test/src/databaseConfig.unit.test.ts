import test from 'ava';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { tempDir, testEnv } from '../helpers/app.ts';

const load = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', ...testEnv(tempDir()), ...env }, () => undefined);
const url = 'postgres://app:secret@db.internal:5432/letsapp';

test('without DATABASE_URL both stores stay embedded', (t) => {
  t.is(load({}).database, null);
});

test('DATABASE_URL selects PostgreSQL for both stores, with its schema and pool bounds', (t) => {
  t.deepEqual(load({ DATABASE_URL: url }).database, { url, schema: 'public', poolMax: 10 });
  t.like(load({ DATABASE_URL: 'postgresql://h/db', DATABASE_SCHEMA: 'chat_1', DATABASE_POOL_MAX: '100' }).database, {
    schema: 'chat_1',
    poolMax: 100,
  });
  t.throws(() => load({ DATABASE_URL: url, DATABASE_POOL_MAX: '0' }), {
    instanceOf: ConfigError,
    message: /DATABASE_POOL_MAX must be an integer between 1 and 100/,
  });
  t.throws(() => load({ DATABASE_URL: url, DATABASE_POOL_MAX: '101' }), { instanceOf: ConfigError });
  t.throws(() => load({ DATABASE_URL: url, DATABASE_SCHEMA: 'Chat; DROP' }), { instanceOf: ConfigError, message: /DATABASE_SCHEMA/ });
});

test('DATABASE_URL must be a postgres URL and cannot be combined with another engine', (t) => {
  t.throws(() => load({ DATABASE_URL: 'mysql://h/db' }), { instanceOf: ConfigError, message: /postgres:\/\/ or postgresql:\/\// });
  t.throws(() => load({ DATABASE_URL: url, MONGO_URI: 'mongodb://h' }), {
    instanceOf: ConfigError,
    message: /unset EVENTSTORE_CONNECTION_STRING and MONGO_URI/,
  });
  t.throws(() => load({ DATABASE_URL: url, EVENTSTORE_CONNECTION_STRING: 'esdb://h' }), { instanceOf: ConfigError });
});

test("DATABASE_SSL and DATABASE_SSL_CA become node-postgres's ssl option; unset, the URL's sslmode (or PGSSLMODE) decides", (t) => {
  t.false('ssl' in load({ DATABASE_URL: `${url}?sslmode=require` }).database!);
  t.is(load({ DATABASE_URL: url, DATABASE_SSL: 'disable' }).database!.ssl, false);
  t.deepEqual(load({ DATABASE_URL: url, DATABASE_SSL: 'no-verify' }).database!.ssl, { rejectUnauthorized: false });
  t.deepEqual(load({ DATABASE_URL: url, DATABASE_SSL: 'verify-full' }).database!.ssl, { rejectUnauthorized: true });
  const ca = join(tempDir(), 'ca.pem');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  t.deepEqual(load({ DATABASE_URL: url, DATABASE_SSL_CA: ca }).database!.ssl, {
    rejectUnauthorized: true,
    ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  });
  t.throws(() => load({ DATABASE_URL: url, DATABASE_SSL: 'no-verify', DATABASE_SSL_CA: ca }), {
    instanceOf: ConfigError,
    message: /only used with DATABASE_SSL=verify-full/,
  });
  t.throws(() => load({ DATABASE_URL: url, DATABASE_SSL_CA: join(tempDir(), 'missing.pem') }), {
    instanceOf: ConfigError,
    message: /DATABASE_SSL_CA cannot be read/,
  });
  t.throws(() => load({ DATABASE_URL: url, DATABASE_SSL: 'prefer' }), {
    instanceOf: ConfigError,
    message: /DATABASE_SSL must be one of disable, no-verify, verify-full/,
  });
});

test('with DATABASE_URL nothing is generated into STORAGE_DIR: JWT_SECRET_KEY and ENCRYPTION_KEY must be set, every instance needs the same ones', (t) => {
  const { JWT_SECRET_KEY: _jwt, ENCRYPTION_KEY: _key, ...withoutSecrets } = testEnv(tempDir());
  const dir = tempDir();
  const bare = { NODE_ENV: 'development', ...withoutSecrets, STORAGE_DIR: dir, DATABASE_URL: url };
  t.throws(() => loadConfig(bare, () => undefined), {
    instanceOf: ConfigError,
    message: /With DATABASE_URL, JWT_SECRET_KEY and ENCRYPTION_KEY must be set/,
  });
  t.throws(() => loadConfig({ ...bare, JWT_SECRET_KEY: testEnv(dir).JWT_SECRET_KEY! }, () => undefined), {
    instanceOf: ConfigError,
    message: /ENCRYPTION_KEY/,
  });
  t.false(existsSync(join(dir, 'secrets.json')));

  // Both given, AUDIT_ANCHOR_KEY unset: still nothing written (the anchor belongs to the embedded log, not used here).
  const config = loadConfig(
    { ...bare, JWT_SECRET_KEY: testEnv(dir).JWT_SECRET_KEY!, ENCRYPTION_KEY: testEnv(dir).ENCRYPTION_KEY! },
    () => undefined,
  );
  t.is(config.encryptionKey, testEnv(dir).ENCRYPTION_KEY!);
  t.false(existsSync(join(dir, 'secrets.json')));
  // Without DATABASE_URL development still generates them.
  loadConfig({ NODE_ENV: 'development', ...withoutSecrets, STORAGE_DIR: dir }, () => undefined);
  t.true(existsSync(join(dir, 'secrets.json')));
});
