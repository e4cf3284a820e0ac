import { startApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';

// Whatever the server or SQLite creates (databases, their -wal and -shm files, temp files) is the server user's alone.
process.umask(0o077);

try {
  const app = await startApp(loadConfig());
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, 'shutting down');
    await app.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`Configuration error: ${error.message}`);
    process.exit(78);
  }
  throw error;
}
