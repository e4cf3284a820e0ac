import test from 'ava';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { tempDir } from '../helpers/app.ts';

test('in production the server refuses to start without JWT_SECRET_KEY and ENCRYPTION_KEY', (t) => {
  const error = t.throws(() => loadConfig({ NODE_ENV: 'production', STORAGE_DIR: tempDir() }, () => undefined), {
    instanceOf: ConfigError,
  });
  t.regex(error.message, /JWT_SECRET_KEY and ENCRYPTION_KEY are required/);
});

test("the event log's anchor key: required in production, at least 32 characters, generated into secrets.json in development (added to an older one)", (t) => {
  const secrets = { JWT_SECRET_KEY: 'x'.repeat(40), ENCRYPTION_KEY: Buffer.alloc(32).toString('base64') };
  t.throws(() => loadConfig({ NODE_ENV: 'production', STORAGE_DIR: tempDir(), ...secrets }, () => undefined), {
    instanceOf: ConfigError,
    message: /AUDIT_ANCHOR_KEY is required/,
  });
  t.throws(() => loadConfig({ STORAGE_DIR: tempDir(), ...secrets, AUDIT_ANCHOR_KEY: 'short' }, () => undefined), {
    message: /AUDIT_ANCHOR_KEY must be at least 32/,
  });
  t.is(
    loadConfig({ NODE_ENV: 'production', STORAGE_DIR: tempDir(), ...secrets, AUDIT_ANCHOR_KEY: 'k'.repeat(32) }, () => undefined)
      .auditAnchorKey,
    'k'.repeat(32),
  );

  const dir = tempDir();
  const older = { jwtSecret: 'j'.repeat(48), encryptionKey: Buffer.alloc(32, 1).toString('base64') };
  writeFileSync(join(dir, 'secrets.json'), JSON.stringify(older), { mode: 0o600 });
  const warnings: string[] = [];
  const first = loadConfig({ STORAGE_DIR: dir }, (message) => warnings.push(message));
  t.like(first, { jwtSecret: older.jwtSecret, encryptionKey: older.encryptionKey });
  t.true(first.auditAnchorKey.length >= 32);
  t.is(loadConfig({ STORAGE_DIR: dir }, (message) => warnings.push(message)).auditAnchorKey, first.auditAnchorKey, 'kept across restarts');
  t.is(warnings.length, 1);
  t.is(statSync(join(dir, 'secrets.json')).mode & 0o777, 0o600);
});

test('in development missing secrets are generated once into the storage dir, with a warning, and reused', (t) => {
  const dir = tempDir();
  const warnings: string[] = [];
  const first = loadConfig({ STORAGE_DIR: dir }, (message) => warnings.push(message));
  const second = loadConfig({ STORAGE_DIR: dir }, (message) => warnings.push(message));
  t.is(warnings.length, 1);
  t.true(existsSync(join(dir, 'secrets.json')));
  t.is(statSync(join(dir, 'secrets.json')).mode & 0o777, 0o600);
  t.is(first.jwtSecret, second.jwtSecret);
  t.is(first.encryptionKey, second.encryptionKey);
  t.true(readFileSync(join(dir, 'secrets.json'), 'utf8').includes(first.jwtSecret));
});

test('defaults: ports 5001/5002, tokens for 7200 s, bcrypt cost of at least 10', (t) => {
  const config = loadConfig({ STORAGE_DIR: tempDir() }, () => undefined);
  t.like(config, { port: 5001, wsPort: 5002, jwtExpiresInSeconds: 7200, eventStoreConnectionString: null, mongoUri: null });
  t.true(config.bcryptCost >= 10);
});

test('invalid numbers and short secrets are configuration errors naming the variable', (t) => {
  t.throws(() => loadConfig({ STORAGE_DIR: tempDir(), PORT: 'eighty' }, () => undefined), { message: /PORT must be an integer/ });
  t.throws(
    () =>
      loadConfig({ STORAGE_DIR: tempDir(), JWT_SECRET_KEY: 'short', ENCRYPTION_KEY: Buffer.alloc(32).toString('base64') }, () => undefined),
    { message: /JWT_SECRET_KEY/ },
  );
  t.throws(
    () =>
      loadConfig(
        {
          NODE_ENV: 'production',
          STORAGE_DIR: tempDir(),
          BCRYPT_COST: '4',
          JWT_SECRET_KEY: 'x'.repeat(40),
          ENCRYPTION_KEY: Buffer.alloc(32).toString('base64'),
          AUDIT_ANCHOR_KEY: 'a'.repeat(32),
        },
        () => undefined,
      ),
    { message: /BCRYPT_COST/ },
  );
});

test('NODE_ENV is production, development or test; any other spelling refuses to start', (t) => {
  for (const nodeEnv of ['prod', 'Production', 'staging', 'dev']) {
    t.throws(
      () => loadConfig({ NODE_ENV: nodeEnv, STORAGE_DIR: tempDir() }, () => undefined),
      { instanceOf: ConfigError, message: /NODE_ENV must be one of/ },
      nodeEnv,
    );
  }
  t.is(loadConfig({ NODE_ENV: 'test', STORAGE_DIR: tempDir() }, () => undefined).nodeEnv, 'test');
});

const keys = { JWT_SECRET_KEY: 'x'.repeat(40), ENCRYPTION_KEY: Buffer.alloc(32).toString('base64'), AUDIT_ANCHOR_KEY: 'y'.repeat(40) };

test("a fresh clone's storage dir (0755 from git, only .gitkeep) is tightened to 0700 without a warning", (t) => {
  const dir = join(tempDir(), 'storage');
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, '.gitkeep'), '');
  const warnings: string[] = [];
  loadConfig({ STORAGE_DIR: dir, ...keys }, (message) => warnings.push(message));
  t.is(statSync(dir).mode & 0o777, 0o700);
  t.deepEqual(warnings, []);
});

test('a storage dir that holds data and was open to others is tightened to 0700, with a warning that the data was exposed', (t) => {
  const dir = join(tempDir(), 'open');
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, '.gitkeep'), '');
  writeFileSync(join(dir, 'events.sqlite'), 'data');
  const warnings: string[] = [];
  loadConfig({ STORAGE_DIR: dir, ...keys }, (message) => warnings.push(message));
  t.is(statSync(dir).mode & 0o777, 0o700);
  t.is(warnings.length, 1, warnings.join());
  t.regex(warnings[0]!, /STORAGE_DIR .*open holds data \(events\.sqlite\) and was open to other users \(mode 755\): changed it to 700/);
});

test('a storage dir the server creates is 0700; an existing secrets.json others can read is refused', (t) => {
  const dir = join(tempDir(), 'fresh', 'storage');
  loadConfig({ STORAGE_DIR: dir }, () => undefined);
  t.is(statSync(dir).mode & 0o777, 0o700);
  chmodSync(join(dir, 'secrets.json'), 0o644);
  t.throws(() => loadConfig({ STORAGE_DIR: dir }, () => undefined), {
    instanceOf: ConfigError,
    message: /secrets\.json is readable by other users.*chmod 600/,
  });
});

test('the web demo is served by default except in production; DEMO_ENABLED decides either way', (t) => {
  const secrets = { JWT_SECRET_KEY: 'x'.repeat(40), ENCRYPTION_KEY: Buffer.alloc(32).toString('base64'), AUDIT_ANCHOR_KEY: 'a'.repeat(32) };
  t.true(loadConfig({ STORAGE_DIR: tempDir(), ...secrets }, () => undefined).demoEnabled);
  t.false(loadConfig({ NODE_ENV: 'production', STORAGE_DIR: tempDir(), ...secrets }, () => undefined).demoEnabled);
  t.true(loadConfig({ NODE_ENV: 'production', STORAGE_DIR: tempDir(), DEMO_ENABLED: 'true', ...secrets }, () => undefined).demoEnabled);
  t.false(loadConfig({ STORAGE_DIR: tempDir(), DEMO_ENABLED: 'false', ...secrets }, () => undefined).demoEnabled);
});

test('the README configuration table lists every variable src/config.ts reads, each integer one with its bounds', (t) => {
  const source = readFileSync(new URL('../../src/config.ts', import.meta.url), 'utf8');
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const names = new Set([...source.matchAll(/\benv(?:\.|, ')([A-Z][A-Z0-9_]+)/g)].map((match) => match[1]!));
  t.true(names.size > 40, `found ${names.size} variables`);
  const rowOf = (name: string) => readme.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
  const problems: string[] = [];
  for (const name of names) {
    const row = rowOf(name);
    if (!row) {
      problems.push(`${name} is not in the table`);
      continue;
    }
    // An integer setting names its bounds when refused; the row must state the same ones.
    let message = '';
    // STORAGE_DIR is a path, not a number: overriding it would write secrets into the working directory.
    if (name === 'STORAGE_DIR') continue;
    try {
      loadConfig({ NODE_ENV: 'test', STORAGE_DIR: tempDir(), JWT_SECRET_KEY: 'x'.repeat(32), [name]: 'not-a-number' }, () => undefined);
    } catch (error) {
      message = (error as Error).message;
    }
    const bounds = new RegExp(`^${name} must be an integer between (\\d+) and (\\d+)`).exec(message);
    if (bounds && !row.includes(`\`${bounds[1]}\`–\`${bounds[2]}\``))
      problems.push(`${name} does not say \`${bounds[1]}\`–\`${bounds[2]}\``);
  }
  t.deepEqual(problems, []);
});

test('MEDIA_DIR: uploaded bytes live in STORAGE_DIR/media unless it names another directory (a volume every instance mounts), made absolute', (t) => {
  const storage = tempDir();
  t.is(loadConfig({ STORAGE_DIR: storage }, () => undefined).mediaDir, join(storage, 'media'));
  const volume = tempDir();
  t.is(loadConfig({ STORAGE_DIR: storage, MEDIA_DIR: volume }, () => undefined).mediaDir, volume);
  t.is(loadConfig({ STORAGE_DIR: storage, MEDIA_DIR: 'relative/media' }, () => undefined).mediaDir, join(process.cwd(), 'relative/media'));
});
