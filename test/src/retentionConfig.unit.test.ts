import test from 'ava';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { tempDir } from '../helpers/app.ts';

test('RETENTION_DAYS: unset keeps messages for good; 1 to 36500 days; anything else is refused naming the variable', (t) => {
  t.is(loadConfig({ STORAGE_DIR: tempDir() }, () => undefined).retentionDays, null);
  t.is(loadConfig({ STORAGE_DIR: tempDir(), RETENTION_DAYS: '30' }, () => undefined).retentionDays, 30);
  for (const bad of ['0', '-1', '1.5', 'forever', '36501']) {
    t.throws(() => loadConfig({ STORAGE_DIR: tempDir(), RETENTION_DAYS: bad }, () => undefined), {
      instanceOf: ConfigError,
      message: /RETENTION_DAYS must be an integer between 1 and 36500/,
    });
  }
});
