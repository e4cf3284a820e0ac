import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_KEY_ID, parseKeyring, type Keyring } from '../../src/secrets/keyring.ts';
import { rotateAll } from '../../src/secrets/rotate.ts';
import { SECRET_PURPOSES, SecretBox, SecretUnreadableError, type UnreadableReason } from '../../src/secrets/secretBox.ts';
import type { SecretStore } from '../../src/secrets/secretStore.ts';
import { SqliteSecretStore } from '../../src/secrets/sqliteSecretStore.ts';
import { execScript } from '../helpers/scripts.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'letsapp-secrets-'));
const b64 = () => randomBytes(32).toString('base64');
const [K1, K2] = [b64(), b64()];
const PURPOSES = { ...SECRET_PURPOSES, 'webhook-token': 'whook_v1' };
const alice = { purpose: 'ai-api-key', subject: 'user:alice' };
const API_KEY = 'AIzaSy-very-secret-gemini-key-0123456789';

const keyring = (keys: Record<string, string>, current: string): Keyring =>
  parseKeyring({
    ENCRYPTION_KEYS: Object.entries(keys)
      .map(([kid, key]) => `${kid}:${key}`)
      .join(','),
    ENCRYPTION_KEY_ID: current,
  });
const box = (keys: Record<string, string> = { k1: K1 }, current = 'k1') => SecretBox.create(keyring(keys, current), PURPOSES);

const unreadable = (t: ExecutionContext, fn: () => unknown, reason: UnreadableReason) => {
  const error = t.throws(fn, { instanceOf: SecretUnreadableError });
  t.is(error?.reason, reason);
  t.false(error.message.includes(API_KEY));
};

/** The envelope with one byte of a base64 field flipped. */
const flip = (envelope: string, field: 'ct' | 'nonce', index = 0): string => {
  const parsed = JSON.parse(envelope) as Record<string, string>;
  const bytes = Buffer.from(parsed[field]!, 'base64');
  bytes[index]! ^= 0x01;
  return JSON.stringify({ ...parsed, [field]: bytes.toString('base64') });
};

test('a sealed secret opens again for the same purpose and subject, and the envelope has the documented shape', async (t) => {
  const secrets = await box();
  for (const plaintext of [API_KEY, '', 'ünïcödé 🔑']) {
    const envelope = secrets.seal(plaintext, alice);
    t.is(secrets.open(envelope, alice), plaintext);
    const parsed = JSON.parse(envelope);
    t.deepEqual(Object.keys(parsed), ['v', 'alg', 'kid', 'nonce', 'ct']);
    t.like(parsed, { v: 1, alg: 'xchacha20poly1305-ietf', kid: 'k1' });
    t.is(Buffer.from(parsed.nonce, 'base64').length, 24);
    t.is(Buffer.from(parsed.ct, 'base64').length, Buffer.byteLength(plaintext) + 16);
    t.false(envelope.includes(API_KEY));
  }
});

test('an envelope with one flipped byte of ciphertext, tag or nonce does not open', async (t) => {
  const secrets = await box();
  const envelope = secrets.seal(API_KEY, alice);
  const ctBytes = Buffer.from(JSON.parse(envelope).ct, 'base64').length;
  unreadable(t, () => secrets.open(flip(envelope, 'ct', 0), alice), 'authentication-failed');
  unreadable(t, () => secrets.open(flip(envelope, 'ct', ctBytes - 1), alice), 'authentication-failed');
  unreadable(t, () => secrets.open(flip(envelope, 'nonce', 5), alice), 'authentication-failed');
  unreadable(t, () => secrets.open(envelope.slice(0, -3), alice), 'malformed');
  unreadable(t, () => secrets.open(JSON.stringify({ ...JSON.parse(envelope), v: 2 }), alice), 'unsupported');
  t.is(secrets.open(envelope, alice), API_KEY);
});

test("an envelope copied to another user's row does not open there", async (t) => {
  const secrets = await box();
  const envelope = secrets.seal(API_KEY, alice);
  unreadable(t, () => secrets.open(envelope, { purpose: 'ai-api-key', subject: 'user:mallory' }), 'authentication-failed');
  unreadable(t, () => secrets.open(envelope, { purpose: 'ai-api-key', subject: 'user:alic' }), 'authentication-failed');
});

test('an envelope sealed for one purpose does not open for another; an unregistered purpose is refused', async (t) => {
  const secrets = await box();
  const envelope = secrets.seal(API_KEY, alice);
  unreadable(t, () => secrets.open(envelope, { purpose: 'webhook-token', subject: 'user:alice' }), 'authentication-failed');
  unreadable(t, () => secrets.open(envelope, { purpose: 'not-registered', subject: 'user:alice' }), 'unknown-purpose');
  t.throws(() => secrets.seal(API_KEY, { purpose: 'not-registered', subject: 'user:alice' }), { message: /Unknown secret purpose/ });
});

test('an envelope under a key id the keyring does not hold does not open, nor one relabelled with another kid', async (t) => {
  const sealedWithK1 = (await box({ k1: K1 }, 'k1')).seal(API_KEY, alice);
  const onlyK2 = await box({ k2: K2 }, 'k2');
  unreadable(t, () => onlyK2.open(sealedWithK1, alice), 'unknown-kid');
  const both = await box({ k1: K1, k2: K2 }, 'k2');
  t.is(both.open(sealedWithK1, alice), API_KEY);
  const relabelled = JSON.stringify({ ...JSON.parse(sealedWithK1), kid: 'k2' });
  unreadable(t, () => both.open(relabelled, alice), 'authentication-failed');
});

test('sealing the same plaintext twice gives different nonces and ciphertexts', async (t) => {
  const secrets = await box();
  const [a, b] = [JSON.parse(secrets.seal(API_KEY, alice)), JSON.parse(secrets.seal(API_KEY, alice))];
  t.not(a.nonce, b.nonce);
  t.not(a.ct, b.ct);
});

test('rotateAll re-seals what is on an old key with the current one, leaves unreadable ones untouched, and a second run rotates 0', async (t) => {
  const store = SqliteSecretStore.open(tempDir());
  t.teardown(() => store.close());
  const old = await box({ k1: K1 }, 'k1');
  const stranger = await box({ gone: b64() }, 'gone');
  for (const user of ['alice', 'bob', 'carol'])
    await store.put('ai-api-key', `user:${user}`, old.seal(`${API_KEY}-${user}`, { purpose: 'ai-api-key', subject: `user:${user}` }));
  const lost = stranger.seal('lost', { purpose: 'ai-api-key', subject: 'user:dave' });
  await store.put('ai-api-key', 'user:dave', lost);

  const rotating = await box({ k1: K1, k2: K2 }, 'k2');
  const aliceBefore = (await store.get('ai-api-key', 'user:alice'))!;
  t.true(rotating.needsRotation(aliceBefore));
  await store.put('ai-api-key', 'user:erin', rotating.seal(`${API_KEY}-erin`, { purpose: 'ai-api-key', subject: 'user:erin' }));

  const progress: number[] = [];
  const first = await rotateAll(store, rotating, ({ done }) => progress.push(done));
  t.like(first, { total: 5, rotated: 3, alreadyCurrent: 1, changedMeanwhile: 0 });
  t.deepEqual(first.unreadable, [{ purpose: 'ai-api-key', subject: 'user:dave', reason: 'unknown-kid' }]);
  t.deepEqual(progress, [0, 1, 2, 3, 4, 5]);

  for (const user of ['alice', 'bob', 'carol', 'erin']) {
    const envelope = (await store.get('ai-api-key', `user:${user}`))!;
    t.is(JSON.parse(envelope).kid, 'k2');
    t.false(rotating.needsRotation(envelope));
    t.is(rotating.open(envelope, { purpose: 'ai-api-key', subject: `user:${user}` }), `${API_KEY}-${user}`);
  }
  // The new key alone now opens everything that was rotated.
  const onlyK2 = await box({ k2: K2 }, 'k2');
  t.is(onlyK2.open((await store.get('ai-api-key', 'user:alice'))!, alice), `${API_KEY}-alice`);
  t.is(await store.get('ai-api-key', 'user:dave'), lost);

  const second = await rotateAll(store, rotating);
  t.like(second, { total: 5, rotated: 0, alreadyCurrent: 4 });
  t.is(second.unreadable.length, 1);
});

test('rotateAll never overwrites a secret the server replaced between its read and its write', async (t) => {
  const store = SqliteSecretStore.open(tempDir());
  t.teardown(() => store.close());
  const rotating = await box({ k1: K1, k2: K2 }, 'k2');
  await store.put('ai-api-key', 'user:alice', (await box()).seal('old key', alice));
  const fresh = rotating.seal('key the user just set', alice);
  // The server's write lands after rotateAll read the row and before it writes it back.
  const racing: SecretStore = Object.assign(Object.create(store) as SecretStore, {
    async *all() {
      for await (const row of store.all()) {
        await store.put(row.purpose, row.subject, fresh);
        yield row;
      }
    },
  });
  const summary = await rotateAll(racing, rotating);
  t.like(summary, { total: 1, rotated: 0, changedMeanwhile: 1 });
  t.is(await store.get('ai-api-key', 'user:alice'), fresh);
});

test('the secrets file is private and its bytes (database and WAL) never contain the plaintext', async (t) => {
  const dir = tempDir();
  const store = SqliteSecretStore.open(dir);
  t.teardown(() => store.close());
  const secrets = await box();
  const envelope = secrets.seal(API_KEY, alice);
  await store.put('ai-api-key', 'user:alice', envelope);
  await store.put('ai-api-key', 'user:bob', secrets.seal(API_KEY, { purpose: 'ai-api-key', subject: 'user:bob' }));
  await store.delete('ai-api-key', 'user:bob');
  t.is(await store.get('ai-api-key', 'user:bob'), null);

  const files = ['secrets.sqlite', 'secrets.sqlite-wal'].map((name) => join(dir, name)).filter((file) => existsSync(file));
  const bytes = Buffer.concat(files.map((file) => readFileSync(file)));
  for (const file of files) t.is(statSync(file).mode & 0o777, 0o600, file);
  // The search reads what was really written: the stored ciphertext is there, the plaintext is not.
  t.true(bytes.includes(JSON.parse(envelope).ct));
  t.false(bytes.includes(API_KEY));
  t.false(bytes.includes(Buffer.from(API_KEY, 'utf16le')));
});

test('the store pages through every row with all(), also while rows are written during the iteration', async (t) => {
  const store = SqliteSecretStore.open(tempDir());
  t.teardown(() => store.close());
  const subjects = Array.from({ length: 600 }, (_, i) => `user:${String(i).padStart(4, '0')}`);
  for (const subject of subjects) await store.put('ai-api-key', subject, `e-${subject}`);
  const seen: string[] = [];
  for await (const row of store.all()) {
    seen.push(row.subject);
    await store.put(row.purpose, row.subject, `f-${row.subject}`);
  }
  t.deepEqual(seen, subjects);
  t.is(await store.count(), 600);
  t.is(await store.get('ai-api-key', 'user:0599'), 'f-user:0599');
  t.false(await store.replace('ai-api-key', 'user:0001', 'stale', 'x'));
  t.true(await store.replace('ai-api-key', 'user:0001', 'f-user:0001', 'x'));
});

test('parseKeyring: ENCRYPTION_KEYS with ENCRYPTION_KEY_ID, and ENCRYPTION_KEY alone as key id "default"', (t) => {
  const ring = parseKeyring({
    ENCRYPTION_KEYS: ` k1:${K1}, k2:${Buffer.from(K2, 'base64').toString('base64url')} `,
    ENCRYPTION_KEY_ID: 'k2',
    ENCRYPTION_KEY: b64(),
  });
  t.is(ring.current, 'k2');
  t.deepEqual([...ring.keys.keys()], ['k1', 'k2']);
  t.deepEqual(Buffer.from(ring.keys.get('k2')!), Buffer.from(K2, 'base64'));
  t.is(parseKeyring({ ENCRYPTION_KEYS: `only:${K1}` }).current, 'only');

  const single = parseKeyring({ ENCRYPTION_KEY: K1, ENCRYPTION_KEYS: '' });
  t.is(single.current, DEFAULT_KEY_ID);
  t.is(DEFAULT_KEY_ID, 'default');
  t.deepEqual(Buffer.from(single.keys.get('default')!), Buffer.from(K1, 'base64'));
});

test('parseKeyring refuses bad keyrings with a clear message that never quotes a key', (t) => {
  const cases: Array<[Parameters<typeof parseKeyring>[0], RegExp]> = [
    [{}, /ENCRYPTION_KEYS .* or ENCRYPTION_KEY is required/],
    [{ ENCRYPTION_KEY: randomBytes(16).toString('base64') }, /ENCRYPTION_KEY must be 32 bytes.*got 16/],
    [{ ENCRYPTION_KEY: `${K1.slice(0, 20)}!${K1.slice(21)}` }, /ENCRYPTION_KEY must be base64/],
    [{ ENCRYPTION_KEY: K1, ENCRYPTION_KEY_ID: 'k2' }, /ENCRYPTION_KEY_ID is "k2" but ENCRYPTION_KEYS is not set/],
    [
      { ENCRYPTION_KEYS: `k1:${K1},k2:${randomBytes(31).toString('base64')}`, ENCRYPTION_KEY_ID: 'k1' },
      /ENCRYPTION_KEYS key "k2" must be 32 bytes.*got 31/,
    ],
    [
      { ENCRYPTION_KEYS: `k1:${K1},k2:${K2}`, ENCRYPTION_KEY_ID: 'k3' },
      /ENCRYPTION_KEY_ID "k3" is not one of the key ids in ENCRYPTION_KEYS \(k1, k2\)/,
    ],
    [{ ENCRYPTION_KEYS: `k1:${K1},k2:${K2}` }, /ENCRYPTION_KEY_ID must name the current key/],
    [{ ENCRYPTION_KEYS: `k1:${K1},k1:${K2}`, ENCRYPTION_KEY_ID: 'k1' }, /lists key id "k1" twice/],
    [{ ENCRYPTION_KEYS: `k|1:${K1}`, ENCRYPTION_KEY_ID: 'k|1' }, /key id "k\|1" must be 1 to 32 characters/],
    [{ ENCRYPTION_KEYS: `${'k'.repeat(33)}:${K1}` }, /must be 1 to 32 characters/],
    [{ ENCRYPTION_KEYS: `:${K1}` }, /key id "" must be/],
    [{ ENCRYPTION_KEYS: `k1:${K1},`, ENCRYPTION_KEY_ID: 'k1' }, /entry 2 must be <key id>:<base64 key> \(it is empty\)/],
    [{ ENCRYPTION_KEYS: K1 }, /entry 1 must be <key id>:<base64 key>/],
  ];
  for (const [env, message] of cases) {
    const error = t.throws(() => parseKeyring(env), { instanceOf: Error, message }, JSON.stringify(Object.keys(env)));
    t.false(error.message.includes(K1.slice(0, 20)) || error.message.includes(K2.slice(0, 20)));
  }
});

test('SecretBox.create refuses a keyring whose current key is missing or whose keys are not 32 bytes', async (t) => {
  await t.throwsAsync(SecretBox.create({ current: 'k2', keys: new Map([['k1', new Uint8Array(32)]]) }), { message: /current key id "k2"/ });
  await t.throwsAsync(SecretBox.create({ current: 'k1', keys: new Map([['k1', new Uint8Array(16)]]) }), { message: /must be 32 bytes/ });
  await t.throwsAsync(SecretBox.create(keyring({ k1: K1 }, 'k1'), { a: 'same_ctx', b: 'same_ctx' }), { message: /share the KDF context/ });
  await t.throwsAsync(SecretBox.create(keyring({ k1: K1 }, 'k1'), { a: 'short' }), { message: /exactly 8 bytes/ });
});

test('npm run rotate-secrets rotates to the current key, reports counts, rotates 0 the second time, and exits 1 on unreadable secrets', async (t) => {
  const dir = tempDir();
  const store = SqliteSecretStore.open(dir);
  await store.put('ai-api-key', 'user:alice', (await box()).seal(API_KEY, alice));
  await store.close();
  const { ENCRYPTION_KEYS: _keys, ENCRYPTION_KEY_ID: _id, ENCRYPTION_KEY: _key, JWT_SECRET_KEY: _jwt, ...inherited } = process.env;
  const run = (env: Record<string, string>) =>
    execScript('rotate-secrets.ts', [], {
      env: { ...inherited, NODE_ENV: 'test', STORAGE_DIR: dir, ...env },
    });
  const rotation = { ENCRYPTION_KEYS: `k1:${K1},k2:${K2}`, ENCRYPTION_KEY_ID: 'k2' };
  t.regex((await run(rotation)).stdout, /1 secrets: 1 rotated to key "k2", 0 already current, 0 unreadable\./);
  t.regex((await run(rotation)).stdout, /1 secrets: 0 rotated to key "k2", 1 already current, 0 unreadable\./);

  // Without ENCRYPTION_KEYS the shorthand (here development's generated key) is the keyring: k2 is unknown to it.
  const failed = await run({}).then(
    () => null,
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
  t.is(failed?.code, 1);
  t.regex(failed!.stdout, /1 secrets: 0 rotated to key "default", 0 already current, 1 unreadable\./);
  t.regex(failed!.stderr, /unreadable \(unknown-kid\): ai-api-key user:alice/);
  t.true(existsSync(join(dir, 'secrets.json')));

  const bad = await run({ ENCRYPTION_KEYS: `k1:${K1}`, ENCRYPTION_KEY_ID: 'k9' }).then(
    () => null,
    (error: { code: number; stderr: string }) => error,
  );
  t.is(bad?.code, 2);
  t.regex(bad!.stderr, /ENCRYPTION_KEY_ID "k9" is not one of the key ids/);
});

test('a Gemini key stored under the bare user id (as before) is moved to its sealed subject at open, and then rotates', async (t) => {
  const dir = tempDir();
  const old = await box({ k1: K1 }, 'k1');
  const before = SqliteSecretStore.open(dir);
  await before.put('ai-api-key', 'alice', old.seal(API_KEY, alice));
  await before.put('webhook-token', 'alice', old.seal('other purpose', { purpose: 'webhook-token', subject: 'alice' }));
  await before.close();

  const store = SqliteSecretStore.open(dir);
  t.teardown(() => store.close());
  t.is(await store.get('ai-api-key', 'alice'), null);
  t.is(old.open((await store.get('ai-api-key', 'user:alice'))!, alice), API_KEY);
  t.not(await store.get('webhook-token', 'alice'), null, 'rows of other purposes keep their subject');
  const summary = await rotateAll(store, await box({ k1: K1, k2: K2 }, 'k2'));
  t.like(summary, { total: 2, rotated: 2, unreadable: [] });
  t.is((await box({ k2: K2 }, 'k2')).open((await store.get('ai-api-key', 'user:alice'))!, alice), API_KEY);
});
