import test from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import webpush from 'web-push';
import { endpointProblem, isPrivateAddress } from '../../src/push/pushSettings.ts';
import { PrivateAddressRefused, PushSender, retryAfterOf } from '../../src/push/pushSender.ts';
import { FakePushService } from '../helpers/fakePushService.ts';

test('endpoints: https on a public host only; loopback, private, link-local and mapped addresses refused unless the test-only setting allows them', (t) => {
  t.is(endpointProblem('https://fcm.googleapis.com/fcm/send/abc', false), null);
  t.is(endpointProblem('http://push.example.com/abc', false), 'must be an https URL');
  t.is(endpointProblem('https://user:pw@push.example.com/abc', false), 'must not carry credentials');
  for (const host of [
    '127.0.0.1',
    'localhost',
    '10.1.2.3',
    '192.168.0.1',
    '172.16.0.9',
    '169.254.169.254',
    '[::1]',
    '[fd00::1]',
    '[::ffff:127.0.0.1]',
    '0.0.0.0',
    'a.localhost',
  ])
    t.is(endpointProblem(`https://${host}/abc`, false), 'must not be a loopback or private address', host);
  t.is(endpointProblem('http://127.0.0.1:9/abc', true), null);
  t.is(endpointProblem('http://push.example.com/abc', true), 'must be an https URL');
  t.false(isPrivateAddress('8.8.8.8'));
  t.false(isPrivateAddress('2001:4860:4860::8888'));
});

test('the sender never connects to a private address: an IP literal is refused before any request, a name resolving to loopback at connect time', async (t) => {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.writeHead(201).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const sender = new PushSender(webpush.generateVAPIDKeys(), {
    subject: 'mailto:ops@example.test',
    allowPrivateEndpoints: false,
    requestTimeoutMs: 2_000,
  });
  const device = await FakePushService.start();
  t.teardown(() => device.close());
  const { keys } = device.device();
  const options = { ttlSeconds: 60, urgency: 'normal' as const, topic: 'abc' };
  await t.throwsAsync(sender.send({ endpoint: `https://127.0.0.1:${port}/x`, ...keys }, '{}', options), {
    instanceOf: PrivateAddressRefused,
  });
  t.deepEqual(await sender.send({ endpoint: `https://localhost:${port}/x`, ...keys }, '{}', options), { status: -1, retryAfterMs: null });
  t.is(requests, 0);
});

test('Retry-After is read as seconds or as an HTTP date', (t) => {
  t.is(retryAfterOf('3'), 3_000);
  t.is(retryAfterOf(new Date(Date.parse('2026-01-01T00:00:10Z')).toUTCString(), Date.parse('2026-01-01T00:00:00Z')), 10_000);
  t.is(retryAfterOf(undefined), null);
  t.is(retryAfterOf('soon'), null);
});
