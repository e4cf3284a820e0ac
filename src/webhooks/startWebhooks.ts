import type { Logger } from 'pino';
import type { EventUpcaster } from '../../commands/shared/upcasting.ts';
import type { CommandHandler } from '../commandHandler.ts';
import type { Config } from '../config.ts';
import type { EventStore } from '../eventstore/port.ts';
import { resolveAll, type AddressResolver } from '../net/privateAddress.ts';
import type { ShreddingKeys } from '../privacy/shreddingKeys.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { SecretBox } from '../secrets/secretBox.ts';
import type { SecretStore } from '../secrets/secretStore.ts';
import { WebhookDeliveries } from './webhookDeliveries.ts';
import { SqliteWebhookDeliveryStore, type WebhookDeliveryStore } from './webhookDeliveryStore.ts';
import { WebhookPlanner } from './webhookPlanner.ts';
import { WebhookSender } from './webhookSender.ts';
import { WebhookService } from './webhookService.ts';
import type { WebhookSettings } from './webhookSettings.ts';

export interface Webhooks {
  service: WebhookService;
  deliveries: WebhookDeliveries;
  close(): Promise<void>;
}

/** What tests may change: the fixed bounds (a lower failure threshold, a faster poll) and the name resolver. */
export interface WebhookTestOptions {
  settings?: Partial<WebhookSettings>;
  /** Resolves receiver host names instead of DNS (tests name hosts that must not reach DNS). */
  resolve?: AddressResolver;
  random?: () => number;
}

/** The store of the one server (STORAGE_DIR/webhooks.sqlite), or PostgreSQL's shared tables with DATABASE_URL. */
async function openStore(config: Pick<Config, 'storageDir' | 'database'>): Promise<WebhookDeliveryStore> {
  if (!config.database) return new SqliteWebhookDeliveryStore(config.storageDir);
  const { PostgresWebhookDeliveryStore } = await import('./postgresWebhookDeliveryStore.ts');
  return PostgresWebhookDeliveryStore.connect(config.database);
}

/** Builds outgoing webhooks (the routes' service and the deliveries); the deliveries start once the servers listen. */
export async function createWebhooks(
  config: Pick<Config, 'storageDir' | 'database' | 'webhooks'>,
  deps: {
    commands: CommandHandler;
    eventStore: EventStore;
    readStore: ReadStore;
    projections: Projections;
    upcaster: EventUpcaster;
    keys: ShreddingKeys;
    secrets: SecretStore;
    box: SecretBox;
    clock: () => Date;
    logger: Logger;
    owner: string;
  },
  options: WebhookTestOptions = {},
): Promise<Webhooks> {
  const settings: WebhookSettings = { ...config.webhooks, ...options.settings };
  const resolve = options.resolve ?? resolveAll;
  const store = await openStore(config);
  const service = new WebhookService({ ...deps, store, allowPrivate: settings.allowPrivate, resolve });
  const deliveries = new WebhookDeliveries({
    ...deps,
    planner: new WebhookPlanner(deps.readStore),
    sender: new WebhookSender(settings, resolve, deps.clock),
    store,
    secretOf: (webhookId) => service.secretOf(webhookId),
    disable: (webhookId, failures) => service.disableFailing(webhookId, failures, deps.clock()),
    settings,
    random: options.random,
  });
  return {
    service,
    deliveries,
    async close() {
      await deliveries.stop();
      await store.close();
    },
  };
}
