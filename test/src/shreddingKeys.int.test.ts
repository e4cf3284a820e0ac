import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { openText, sealText } from '../../src/privacy/sealing.ts';
import { messageKeyId, StoredShreddingKeys, userKeyId } from '../../src/privacy/shreddingKeys.ts';
import { parseKeyring } from '../../src/secrets/keyring.ts';
import { rotateAll } from '../../src/secrets/rotate.ts';
import { SecretBox } from '../../src/secrets/secretBox.ts';
import { DESTROYED_ENVELOPE } from '../../src/secrets/secretStore.ts';
import { SqliteSecretStore } from '../../src/secrets/sqliteSecretStore.ts';
import { tempDir } from '../helpers/app.ts';

const box = () => SecretBox.create(parseKeyring({ ENCRYPTION_KEY: Buffer.alloc(32, 3).toString('base64') }));

async function open(t: { teardown(fn: () => Promise<void>): void }, dir = tempDir('letsapp-keys-')) {
  const store = SqliteSecretStore.open(dir);
  const keys = new StoredShreddingKeys(store, await box());
  t.teardown(async () => {
    await keys.close();
    await store.close();
  });
  return { dir, store, keys };
}

test('create makes a key once (concurrent creates of one id get the same key); get reads it back, also from another reader', async (t) => {
  const { dir, store, keys } = await open(t);
  const [a, again, b] = await Promise.all([keys.create(messageKeyId('m1')), keys.create(messageKeyId('m1')), keys.create(userKeyId('u1'))]);
  t.is(a!.length, 32);
  t.deepEqual(again, a);
  t.notDeepEqual(b, a);
  t.deepEqual(await keys.create(messageKeyId('m1')), a);
  t.is(await store.count(), 2);
  const reader = await open(t, dir);
  t.deepEqual(await reader.keys.get(messageKeyId('m1')), a);
  t.is(await reader.keys.get(messageKeyId('never')), null);
  // Sealed for its purpose and subject with the keyring: the row holds an envelope, never the key.
  t.false(readFileSync(join(dir, 'secrets.sqlite')).includes(Buffer.from(a!)));
});

test('destroy is final and idempotent: the key reads null, is never created again, and what it sealed does not open', async (t) => {
  const { store, keys } = await open(t);
  const key = (await keys.create(messageKeyId('m1')))!;
  const identity = { eventId: 'e1', stream: 'message-m1', field: 'content.text' };
  const sealed = await sealText('secret words', key, messageKeyId('m1'), identity);
  t.is(openText(sealed, key, identity), 'secret words');
  t.is(openText(sealed, key, { ...identity, eventId: 'e2' }), null, 'sealed for one event, it opens in no other');
  await keys.destroy(messageKeyId('m1'));
  await keys.destroy(messageKeyId('m1'));
  t.is(await keys.get(messageKeyId('m1')), null);
  t.is(await keys.create(messageKeyId('m1')), null);
  t.is(await store.get('content-key', 'message:m1'), DESTROYED_ENVELOPE);
  // A reader that had it cached drops it when told (the projection worker, at the MessageDeleted).
  t.is(await keys.get(messageKeyId('unknown')), null);
});

test('another writer over the same store (a retried send on another instance) gets the stored key, and null for a destroyed one', async (t) => {
  const { dir, keys } = await open(t);
  const first = await keys.create(messageKeyId('m1'));
  await keys.create(messageKeyId('m2'));
  await keys.destroy(messageKeyId('m2'));
  const other = await open(t, dir);
  t.deepEqual(await other.keys.create(messageKeyId('m1')), first, 'the key the store holds, not a fresh one');
  t.is(await other.keys.create(messageKeyId('m2')), null, 'destroyed: never made again');
  t.deepEqual(await other.keys.get(messageKeyId('m1')), first);
});

test('a reader cannot create or destroy; rotate-secrets passes over tombstones', async (t) => {
  const { store, keys } = await open(t);
  await keys.create(messageKeyId('m1'));
  await keys.create(messageKeyId('m2'));
  await keys.destroy(messageKeyId('m2'));
  const reader = new StoredShreddingKeys(store, await box(), { writable: false });
  await t.throwsAsync(reader.create(messageKeyId('m3')));
  await t.throwsAsync(reader.destroy(messageKeyId('m1')));
  const summary = await rotateAll(store, await box());
  t.deepEqual(summary.unreadable, []);
  t.is(summary.total, 2);
});
