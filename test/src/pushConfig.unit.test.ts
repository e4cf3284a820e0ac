import test from 'ava';
import webpush from 'web-push';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { tempDir } from '../helpers/app.ts';

const secrets = { JWT_SECRET_KEY: 'x'.repeat(40), ENCRYPTION_KEY: Buffer.alloc(32).toString('base64'), AUDIT_ANCHOR_KEY: 'a'.repeat(32) };
const load = (env: Record<string, string>) => loadConfig({ STORAGE_DIR: tempDir(), ...secrets, ...env }, () => undefined);

test('production: push needs both VAPID keys (nothing is generated); without them push is off unless PUSH_ENABLED=true, which refuses to start', (t) => {
  t.false(load({ NODE_ENV: 'production' }).push.enabled);
  t.throws(() => load({ NODE_ENV: 'production', PUSH_ENABLED: 'true' }), { instanceOf: ConfigError, message: /PUSH_VAPID_PUBLIC_KEY/ });
  const keys = webpush.generateVAPIDKeys();
  const configured = load({ NODE_ENV: 'production', PUSH_VAPID_PUBLIC_KEY: keys.publicKey, PUSH_VAPID_PRIVATE_KEY: keys.privateKey }).push;
  t.true(configured.enabled);
  t.deepEqual(configured.vapidKeys, keys);
  t.throws(() => load({ NODE_ENV: 'production', PUSH_VAPID_PUBLIC_KEY: keys.publicKey }), { instanceOf: ConfigError });
  t.throws(() => load({ PUSH_VAPID_PUBLIC_KEY: keys.publicKey, PUSH_VAPID_PRIVATE_KEY: 'short' }), {
    instanceOf: ConfigError,
    message: /32 bytes/,
  });
});

test('development: push is on with keys from the secrets store; the test-only private-endpoint switch is refused in production', (t) => {
  const development = load({}).push;
  t.true(development.enabled);
  t.is(development.vapidKeys, null);
  t.true(load({ PUSH_ALLOW_PRIVATE_ENDPOINTS: 'true' }).push.allowPrivateEndpoints);
  const keys = webpush.generateVAPIDKeys();
  t.throws(
    () =>
      load({
        NODE_ENV: 'production',
        PUSH_VAPID_PUBLIC_KEY: keys.publicKey,
        PUSH_VAPID_PRIVATE_KEY: keys.privateKey,
        PUSH_ALLOW_PRIVATE_ENDPOINTS: 'true',
      }),
    { instanceOf: ConfigError, message: /tests only/ },
  );
  t.throws(() => load({ PUSH_VAPID_SUBJECT: 'ops@example.com' }), { instanceOf: ConfigError, message: /mailto/ });
  t.throws(() => load({ PUSH_CONCURRENCY: '0' }), { instanceOf: ConfigError, message: /PUSH_CONCURRENCY/ });
});
