import test from 'ava';
import { turnCredentials } from '../../src/calls/turnCredentials.ts';

// Expected credentials computed once, outside this code, with:
//   printf '%s' '1700000000:alice' | openssl dgst -sha1 -hmac north -binary | base64
const VECTOR_USERNAME = '1700000000:alice';
const VECTOR_CREDENTIAL = 'Cd/49soE35ICqcJF/bCTn8Z4OyE=';

const stunUris = ['stun:turn.example.org:3478'];
const turnUris = ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349?transport=tcp'];
// 1,699,913,600.999 s: the expiry is whole seconds (the fraction is dropped), one day later = 1,700,000,000.
const now = new Date(1_699_913_600_999);
const base = { userId: 'alice', now, ttlSeconds: 86_400, stunUris, turnUris, sharedSecret: 'north' };

test('TURN credentials follow the coturn REST scheme: <expiry>:<userId> signed with HMAC-SHA1 of the shared secret', (t) => {
  t.deepEqual(turnCredentials(base), {
    iceServers: [{ urls: stunUris }, { urls: turnUris, username: VECTOR_USERNAME, credential: VECTOR_CREDENTIAL }],
    ttl: 86_400,
    expiresAt: '2023-11-14T22:13:20.000Z',
  });
});

test('the credential depends on the secret, the user and the expiry', (t) => {
  const credentialOf = (overrides: Partial<typeof base>) => turnCredentials({ ...base, ...overrides }).iceServers[1]?.credential;
  t.not(credentialOf({ sharedSecret: 'south' }), VECTOR_CREDENTIAL);
  t.not(credentialOf({ userId: 'bob' }), VECTOR_CREDENTIAL);
  t.not(credentialOf({ ttlSeconds: 86_401 }), VECTOR_CREDENTIAL);
  t.is(turnCredentials({ ...base, userId: 'bob' }).iceServers[1]?.username, '1700000000:bob');
});

test('without a shared secret or without TURN URIs only STUN is offered, never an error', (t) => {
  const stunOnly = { iceServers: [{ urls: stunUris }], ttl: 86_400, expiresAt: '2023-11-14T22:13:20.000Z' };
  t.deepEqual(turnCredentials({ ...base, sharedSecret: null }), stunOnly);
  t.deepEqual(turnCredentials({ ...base, sharedSecret: '' }), stunOnly);
  t.deepEqual(turnCredentials({ ...base, turnUris: [] }), stunOnly);
});

test('with no STUN URIs and no TURN the list is empty', (t) => {
  t.deepEqual(turnCredentials({ ...base, stunUris: [], sharedSecret: null }).iceServers, []);
  t.deepEqual(turnCredentials({ ...base, stunUris: [], turnUris: [] }).iceServers, []);
});

test('TURN without STUN is offered alone', (t) => {
  t.deepEqual(turnCredentials({ ...base, stunUris: [] }).iceServers, [
    { urls: turnUris, username: VECTOR_USERNAME, credential: VECTOR_CREDENTIAL },
  ]);
});

test('the returned URI lists are copies, not the configuration arrays', (t) => {
  const { iceServers } = turnCredentials(base);
  iceServers[0]!.urls.push('stun:evil.example');
  t.deepEqual(stunUris, ['stun:turn.example.org:3478']);
  t.not(iceServers[1]!.urls, turnUris);
});

test('a non-positive or fractional TTL is a programming error', (t) => {
  t.throws(() => turnCredentials({ ...base, ttlSeconds: 0 }), { instanceOf: RangeError });
  t.throws(() => turnCredentials({ ...base, ttlSeconds: 1.5 }), { instanceOf: RangeError });
  t.throws(() => turnCredentials({ ...base, now: new Date(Number.NaN) }), { instanceOf: RangeError });
});
