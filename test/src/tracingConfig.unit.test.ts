import test from 'ava';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { tempDir } from '../helpers/app.ts';

const load = (env: Record<string, string>) => loadConfig({ STORAGE_DIR: tempDir(), ...env }, () => undefined);

test('tracing is off while OTEL_EXPORTER_OTLP_ENDPOINT is unset; an http(s) URL turns it on; anything else refuses to start', (t) => {
  t.deepEqual(load({}).tracing, { endpoint: null, serviceName: 'letsapp' });
  t.deepEqual(load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'letsapp-eu-1' }).tracing, {
    endpoint: 'http://collector:4318',
    serviceName: 'letsapp-eu-1',
  });
  t.throws(() => load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), {
    instanceOf: ConfigError,
    message: /OTEL_EXPORTER_OTLP_ENDPOINT/,
  });
  t.throws(() => load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'two words' }), {
    instanceOf: ConfigError,
    message: /OTEL_SERVICE_NAME/,
  });
});
