import test from 'ava';
import { randomBytes } from 'node:crypto';
import { parseKeyring } from '../../src/secrets/keyring.ts';
import { rotateAll } from '../../src/secrets/rotate.ts';
import { SecretBox } from '../../src/secrets/secretBox.ts';
import type { SecretStore } from '../../src/secrets/secretStore.ts';

/** A factory for a fresh, empty store, or the reason the run is skipped (reported, never counted as a pass). */
export type SecretStoreFactory = { open: () => Promise<SecretStore> } | { skip: string };

const b64 = () => randomBytes(32).toString('base64');
const box = (keys: Record<string, string>, current: string) =>
  SecretBox.create(
    parseKeyring({
      ENCRYPTION_KEYS: Object.entries(keys)
        .map(([kid, key]) => `${kid}:${key}`)
        .join(','),
      ENCRYPTION_KEY_ID: current,
    }),
  );

/** The sealed-secret store contract (src/secrets/secretStore.ts), run against every adapter. */
export function secretStoreContract(adapter: string, factory: SecretStoreFactory): void {
  if ('skip' in factory) {
    test.skip(`${adapter} secret store contract — skipped: ${factory.skip}`, () => undefined);
    return;
  }
  const it = (title: string, body: (t: import('ava').ExecutionContext, store: SecretStore) => Promise<void>) =>
    test(`${adapter} secret store: ${title}`, async (t) => {
      const store = await factory.open();
      try {
        await body(t, store);
      } finally {
        await store.close();
      }
    });

  it('put, get, replace (compare-and-set) and delete one envelope per purpose and subject', async (t, store) => {
    t.is(await store.get('ai-api-key', 'user:alice'), null);
    await store.put('ai-api-key', 'user:alice', 'envelope-1');
    await store.put('ai-api-key', 'user:bob', 'envelope-b');
    t.is(await store.get('ai-api-key', 'user:alice'), 'envelope-1');
    t.is(await store.get('other-purpose', 'user:alice'), null, 'the purpose is part of the key');
    await store.put('ai-api-key', 'user:alice', 'envelope-2');
    t.is(await store.get('ai-api-key', 'user:alice'), 'envelope-2', 'a put replaces');
    t.false(await store.replace('ai-api-key', 'user:alice', 'envelope-1', 'envelope-3'), 'not what it holds now');
    t.is(await store.get('ai-api-key', 'user:alice'), 'envelope-2');
    t.true(await store.replace('ai-api-key', 'user:alice', 'envelope-2', 'envelope-3'));
    t.is(await store.get('ai-api-key', 'user:alice'), 'envelope-3');
    t.is(await store.count(), 2);
    await store.delete('ai-api-key', 'user:alice');
    t.is(await store.get('ai-api-key', 'user:alice'), null);
    t.false(await store.replace('ai-api-key', 'user:alice', 'envelope-3', 'envelope-4'), 'a deleted row is not brought back');
    t.is(await store.get('ai-api-key', 'user:alice'), null);
    t.is(await store.count(), 1);
  });

  it('all() pages through every row in (purpose, subject) order, also while rows are written during the iteration', async (t, store) => {
    const subjects = Array.from({ length: 600 }, (_, i) => `user:${String(i).padStart(4, '0')}`);
    for (const subject of subjects) await store.put('ai-api-key', subject, `e-${subject}`);
    await store.put('a-first-purpose', 'user:9999', 'e-first');
    const seen: string[] = [];
    for await (const row of store.all()) {
      seen.push(`${row.purpose} ${row.subject}`);
      await store.put(row.purpose, row.subject, `f-${row.subject}`);
    }
    t.deepEqual(seen, ['a-first-purpose user:9999', ...subjects.map((subject) => `ai-api-key ${subject}`)]);
    t.is(await store.count(), 601);
    t.is(await store.get('ai-api-key', 'user:0599'), 'f-user:0599');
  });

  it('rotate-secrets (rotateAll) re-seals onto the current key, and a second run rotates nothing', async (t, store) => {
    const [k1, k2] = [b64(), b64()];
    const old = await box({ k1 }, 'k1');
    for (const user of ['alice', 'bob']) {
      const context = { purpose: 'ai-api-key', subject: `user:${user}` };
      await store.put(context.purpose, context.subject, old.seal(`key-of-${user}`, context));
    }
    const rotating = await box({ k1, k2 }, 'k2');
    t.like(await rotateAll(store, rotating), { total: 2, rotated: 2, alreadyCurrent: 0, unreadable: [] });
    t.like(await rotateAll(store, rotating), { total: 2, rotated: 0, alreadyCurrent: 2 });
    const onlyK2 = await box({ k2 }, 'k2');
    t.is(onlyK2.open((await store.get('ai-api-key', 'user:bob'))!, { purpose: 'ai-api-key', subject: 'user:bob' }), 'key-of-bob');
  });
}
