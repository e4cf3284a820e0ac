/**
 * The projection worker thread (see WorkerProjections): its own connections to both embedded databases, the
 * projection runner, and messages to and from the serving thread. The serving thread then only appends, reads
 * and pushes: no projection batch ever runs between its frames.
 */
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { eventUpcaster } from '../../commands/upcasters.ts';
import { projectors } from '../../projections/index.ts';
import { SqliteEventStore } from '../eventstore/sqlite.ts';
import { createLogger } from '../logger.ts';
import { SqliteReadStore } from '../readstore/sqlite.ts';
import { ProjectionRunner, type ProjectionRunnerOptions } from './runner.ts';
import type { ToWorker, FromWorker } from './workerProtocol.ts';
import type { Keyring } from '../secrets/keyring.ts';
import { SecretBox } from '../secrets/secretBox.ts';
import { SqliteSecretStore } from '../secrets/sqliteSecretStore.ts';
import { revealingProjectors } from '../privacy/revealingProjectors.ts';
import { StoredShreddingKeys } from '../privacy/shreddingKeys.ts';
import { WalEraser } from '../privacy/walEraser.ts';

interface WorkerConfig {
  storageDir: string;
  logLevel: string;
  nodeEnv: string;
  walLimitBytes?: number;
  runner: ProjectionRunnerOptions;
  /** Event types whose events the serving thread reacts to (token revocation): only those cross over. */
  forwardEventTypes: string[];
  keyring: Keyring;
}

const config = workerData as WorkerConfig;
const port = parentPort!;
const post = (message: FromWorker) => port.postMessage(message);
const logger = createLogger(config.logLevel, config.nodeEnv).child({ thread: 'projection' });

// The serving thread appends and checkpoints the event log; this thread only reads it.
const eventStore = new SqliteEventStore(join(config.storageDir, 'events.sqlite'), { checkpoints: false });
const readStore = new SqliteReadStore(join(config.storageDir, 'read.sqlite'), {
  walLimitBytes: config.walLimitBytes,
  onCheckpointProblem: (status) =>
    status.healthy
      ? logger.info({ store: 'read', status }, 'WAL checkpoints succeed again')
      : logger.error({ store: 'read', status }, 'WAL checkpoints keep failing: the WAL grows until they succeed'),
});
// Read-only use of the content keys: projectors see sealed fields opened, or `[erased]` when the key is gone.
const secrets = SqliteSecretStore.open(config.storageDir);
const keys = new StoredShreddingKeys(secrets, await SecretBox.create(config.keyring), { writable: false });
const runner = new ProjectionRunner(eventStore, readStore, revealingProjectors(projectors, keys), eventUpcaster, logger, config.runner);
const forwarded = new Set(config.forwardEventTypes);
// After a delete for everyone, no earlier page image of the message may stay in read.sqlite's WAL.
const walEraser = new WalEraser(join(config.storageDir, 'read.sqlite'), (file) =>
  logger.warn({ file }, 'readers kept the WAL from being truncated after an erasure: it is tried again at the next one'),
);
runner.onCommitted(({ trace, events, publications, timing }) => {
  if (events.some((event) => event.type === 'MessageDeleted' || event.type === 'MessageExpired' || event.type === 'AccountDeleted'))
    void walEraser.request();
  post({
    type: 'committed',
    trace,
    timing,
    progress: runner.progress(),
    publications: [...publications],
    events: events.filter((event) => forwarded.has(event.type)),
  });
});

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'wake':
      eventStore.notifyCommitted();
      return;
    case 'status':
      void Promise.all([runner.status(), runner.readStoreStatus()]).then(
        ([status, storage]) => post({ type: 'status', id: message.id, status, storage }),
        (error: unknown) => post({ type: 'status', id: message.id, error: String(error) }),
      );
      return;
    case 'stop':
      void (async () => {
        await runner.stop();
        walEraser.close();
        await eventStore.close();
        await readStore.close();
        await keys.close();
        await secrets.close();
        post({ type: 'stopped' });
      })();
      return;
  }
});

try {
  await runner.start();
  post({ type: 'ready', progress: runner.progress() });
} catch (error) {
  logger.error({ err: error }, 'the projection worker could not start');
  post({ type: 'failed', error: error instanceof Error ? error.message : String(error) });
}
