import { startApp } from './app.ts';
import { ConfigError, loadConfig, PortUnavailableError } from './config.ts';
import { StorageDirInUseError } from './sqlite/storageDirLock.ts';

// Whatever the server or SQLite creates (databases, their -wal and -shm files, temp files) is the server user's alone.
process.umask(0o077);

// `--rebuild-projections`: checkpoints beyond the event log's head (a log restored from a backup) rebuild every
// collection from the log instead of refusing to start.
const rebuildProjectionsBeyondHead = process.argv.slice(2).includes('--rebuild-projections');

try {
  const app = await startApp(loadConfig(), { rebuildProjectionsBeyondHead });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, 'shutting down');
    await app.close();
    // Sockets were told 1001: their close frames go out as the clients answer them, then the process ends by itself;
    // one whose client does not answer is not waited for past this.
    process.exitCode = 0;
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`Configuration error: ${error.message}`);
    process.exit(78);
  }
  // EX_UNAVAILABLE: one line, no stack trace; the server does not share a port with another process.
  if (error instanceof PortUnavailableError || error instanceof StorageDirInUseError) {
    console.error(error.message);
    process.exit(69);
  }
  throw error;
}
