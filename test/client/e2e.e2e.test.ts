import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import sodium from 'libsodium-wrappers';
import { join } from 'node:path';
import WebSocket from 'ws';
import { EncryptionError, EndToEnd, LetsAppClient, memoryStore, type LetsAppClientOptions, type Message } from '../../client/index.ts';
import { request, startTestApp, type TestApp } from '../helpers/app.ts';

let counter = 0;

/** A registered user with a client and an end-to-end key pair; the client closes when the test ends. */
async function person(t: ExecutionContext, app: TestApp) {
  const store = memoryStore();
  const client = new LetsAppClient({
    baseUrl: app.url,
    wsUrl: app.wsUrl,
    store,
    // eslint-disable-next-line no-restricted-syntax -- `ws` implements the browser API the client uses; its handlers' event types are wider than WebSocketLike's.
    WebSocket: WebSocket as unknown as LetsAppClientOptions['WebSocket'],
  });
  t.teardown(() => client.close());
  const name = `e2e${++counter}_${process.pid}`;
  await client.register({ email: `${name}@example.test`, username: name, password: 'correct horse battery' });
  await sodium.ready;
  return {
    client,
    store,
    e2e: await EndToEnd.open(sodium, client, store),
    id: client.session!.user.id,
    token: client.session!.accessToken,
  };
}

function nextMessage(client: LetsAppClient): Promise<Message> {
  return new Promise((resolve) => {
    const off = client.on('message.created', (frame) => {
      off();
      resolve(frame.message);
    });
  });
}

test('an encrypted direct message: the recipient and the sender open it, the server stores and relays only ciphertext', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const [ada, bob] = [await person(t, app), await person(t, app)];
  const profile = await request(app.url, 'GET', `/api/users/${bob.id}`, { token: ada.token });
  t.deepEqual(
    profile.body.user.encryptionKeys.map((key: { keyId: string }) => key.keyId),
    [bob.e2e.current.keyId],
    "Bob's public key is on his profile",
  );

  const arriving = nextMessage(bob.client);
  const sent = await ada.e2e.send(bob.id, 'the secret is 42');
  const received = await arriving;
  t.is(received.id, sent.id);
  t.like(received.content, {
    kind: 'encrypted',
    algorithm: 'x25519-xsalsa20-poly1305',
    recipientKeyId: bob.e2e.current.keyId,
    senderKeyId: ada.e2e.current.keyId,
  });
  t.is(await bob.e2e.decrypt(received), 'the secret is 42');
  t.is(await ada.e2e.decrypt(sent), 'the secret is 42', 'the sender reads her own message back');

  // Nowhere on the server in the clear: not in the event log, not in the read store.
  for (const file of ['events.sqlite', 'read.sqlite']) {
    const db = new Database(join(app.storageDir, file), { readonly: true });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>;
    for (const { name } of tables) {
      const rows = db.prepare(`SELECT * FROM "${name}"`).all();
      t.false(JSON.stringify(rows).includes('the secret is 42'), `${file}:${name}`);
    }
    db.close();
  }
});

test('after Bob rotates his key, new messages use the new one and old ones still open; an altered one does not', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const [ada, bob] = [await person(t, app), await person(t, app)];
  const before = await ada.e2e.send(bob.id, 'before the rotation');
  const oldKey = bob.e2e.current.keyId;
  await bob.e2e.rotate();
  const after = await ada.e2e.send(bob.id, 'after the rotation');
  t.is((after.content as { recipientKeyId: string }).recipientKeyId, bob.e2e.current.keyId);
  t.not(bob.e2e.current.keyId, oldKey);
  t.is(await bob.e2e.decrypt(before), 'before the rotation');
  t.is(await bob.e2e.decrypt(after), 'after the rotation');

  const content = before.content as { ciphertext: string };
  const bytes = Buffer.from(content.ciphertext, 'base64');
  bytes[bytes.length - 1]! ^= 1;
  await t.throwsAsync(bob.e2e.decrypt({ ...before, content: { ...before.content!, ciphertext: bytes.toString('base64') } } as Message), {
    instanceOf: EncryptionError,
  });

  // A third user cannot open it, having no key it was made for.
  const eve = await person(t, app);
  await t.throwsAsync(eve.e2e.decrypt({ ...after, recipientId: eve.id }), { instanceOf: EncryptionError });
});

test('publishing is idempotent per id; a different key under a used id is refused with 409 key_id_taken', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const ada = await person(t, app);
  const { keyId, publicKey } = ada.e2e.current;
  const again = await request(app.url, 'PUT', '/api/users/encryption-key', { token: ada.token, body: { keyId, publicKey } });
  t.is(again.status, 200);
  t.is(again.body.profile.encryptionKeys.length, 1);
  const other = sodium.to_base64(sodium.crypto_box_keypair().publicKey, sodium.base64_variants.ORIGINAL);
  const taken = await request(app.url, 'PUT', '/api/users/encryption-key', { token: ada.token, body: { keyId, publicKey: other } });
  t.is(taken.status, 409);
  t.is(taken.body.error.code, 'key_id_taken');
  const malformed = await request(app.url, 'PUT', '/api/users/encryption-key', {
    token: ada.token,
    body: { keyId: 'k2', publicKey: 'c2hvcnQ=' },
  });
  t.is(malformed.status, 400);
});

test('a key that could not be published is not used to send; the next start publishes it', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const ada = await person(t, app);
  const bob = await person(t, app);
  const published = ada.e2e.current.keyId;
  // The publish fails (the network drops): the new pair is kept, but not used to send.
  const request = ada.client.api.request.bind(ada.client.api);
  ada.client.api.request = async () => {
    throw new Error('network down');
  };
  await t.throwsAsync(ada.e2e.rotate());
  ada.client.api.request = request;
  t.is(ada.e2e.current.keyId, published, 'still sending with the published key');
  const sent = await ada.e2e.send(bob.id, 'readable');
  t.is(await bob.e2e.decrypt(sent), 'readable');
  // Opened again (the next start): the pending key is published and becomes current.
  const again = await EndToEnd.open(sodium, ada.client, ada.store);
  t.not(again.current.keyId, published);
  const next = await again.send(bob.id, 'with the new key');
  t.is(await bob.e2e.decrypt(next), 'with the new key');
});

test('a retired key is no longer encrypted to, and what was encrypted with it still opens', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const [ada, bob] = [await person(t, app), await person(t, app)];
  const old = bob.e2e.current.keyId;
  const before = await ada.e2e.send(bob.id, 'to the old key');
  await bob.e2e.rotate();
  const newer = bob.e2e.current.keyId;
  await bob.e2e.retire(newer);
  // Senders fall back to his newest key still in use; the retired one stays listed, marked.
  const after = await ada.e2e.send(bob.id, 'after retiring the newer key');
  t.is((after.content as { recipientKeyId: string }).recipientKeyId, old);
  const profile = await request(app.url, 'GET', `/api/users/${bob.id}`, { token: ada.token });
  t.truthy(profile.body.user.encryptionKeys.find((key: { keyId: string }) => key.keyId === newer).retiredAt);
  t.is(await bob.e2e.decrypt(before), 'to the old key');
  t.is(await bob.e2e.decrypt(after), 'after retiring the newer key');
  t.is((await request(app.url, 'DELETE', '/api/users/encryption-key?keyId=no-such-key', { token: bob.token })).status, 404);
});

test("a user retires only their own keys: another user's key id is a 404 and that key stays in use", async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const [ada, bob] = [await person(t, app), await person(t, app)];
  const adaKey = ada.e2e.current.keyId;
  const denied = await request(app.url, 'DELETE', `/api/users/encryption-key?keyId=${adaKey}`, { token: bob.token });
  t.is(denied.status, 404);
  t.is(denied.body.error.code, 'not_found');
  const unauthenticated = await request(app.url, 'DELETE', `/api/users/encryption-key?keyId=${adaKey}`);
  t.is(unauthenticated.status, 401);
  const profile = await request(app.url, 'GET', `/api/users/${ada.id}`, { token: bob.token });
  t.falsy(profile.body.user.encryptionKeys.find((key: { keyId: string }) => key.keyId === adaKey).retiredAt);
  const bad = await request(app.url, 'DELETE', '/api/users/encryption-key?keyId=has%20space', { token: bob.token });
  t.is(bad.status, 400);
});

test('a key may be named like any other path segment: `api-key` is retired as a key, not taken for the Gemini key route', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.dispose());
  const ada = await person(t, app);
  const published = await request(app.url, 'PUT', '/api/users/encryption-key', {
    token: ada.token,
    body: { keyId: 'api-key', publicKey: 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=' },
  });
  t.is(published.status, 200);
  const retired = await request(app.url, 'DELETE', '/api/users/encryption-key?keyId=api-key', { token: ada.token });
  t.is(retired.status, 200);
  t.truthy(retired.body.profile.encryptionKeys.find((key: { keyId: string }) => key.keyId === 'api-key').retiredAt);
  const last = (await app.eventStore.readStream(`user-${ada.id}`)).at(-1)!;
  t.like(last, { type: 'EncryptionKeyRetired', data: { userId: ada.id, keyId: 'api-key' } });
});
