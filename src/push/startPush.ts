import type { Logger } from 'pino';
import type { EventUpcaster } from '../../commands/shared/upcasting.ts';
import type { CommandHandler } from '../commandHandler.ts';
import type { Config } from '../config.ts';
import type { EventStore } from '../eventstore/port.ts';
import type { ConversationAccess } from '../messaging/access.ts';
import type { ShreddingKeys } from '../privacy/shreddingKeys.ts';
import type { Projections } from '../projection/projections.ts';
import type { ReadStore } from '../readstore/port.ts';
import type { SecretBox } from '../secrets/secretBox.ts';
import type { SecretStore } from '../secrets/secretStore.ts';
import { SqlitePushCheckpoints, type PushCheckpoints } from './pushCheckpoints.ts';
import { PushDeliveries } from './pushDeliveries.ts';
import { PushPlanner } from './pushNotifications.ts';
import { PushSender } from './pushSender.ts';
import { PushService } from './pushService.ts';
import { loadVapidKeys } from './vapidKeys.ts';

export interface Push {
  service: PushService;
  /** Null with PUSH_ENABLED=false. */
  deliveries: PushDeliveries | null;
  close(): Promise<void>;
}

/** The checkpoint of the one server (STORAGE_DIR/push.sqlite), or PostgreSQL's shared one with DATABASE_URL. */
async function openPushCheckpoints(config: Pick<Config, 'storageDir' | 'database'>): Promise<PushCheckpoints> {
  if (!config.database) return new SqlitePushCheckpoints(config.storageDir);
  const { PostgresPushCheckpoints } = await import('./postgresPushCheckpoints.ts');
  return PostgresPushCheckpoints.connect(config.database);
}

/** Builds Web Push (the routes' service and the deliveries' consumer) from the config; the deliveries start later. */
export async function createPush(
  config: Pick<Config, 'storageDir' | 'database' | 'push'>,
  deps: {
    commands: CommandHandler;
    eventStore: EventStore;
    readStore: ReadStore;
    projections: Projections;
    upcaster: EventUpcaster;
    access: ConversationAccess;
    keys: ShreddingKeys;
    secrets: SecretStore;
    box: SecretBox;
    isOnline: (userId: string) => Promise<boolean>;
    clock: () => Date;
    logger: Logger;
    owner: string;
  },
): Promise<Push> {
  const settings = config.push;
  const vapid = settings.enabled ? await loadVapidKeys(settings.vapidKeys, deps.secrets, deps.box) : null;
  const service = new PushService({
    commands: deps.commands,
    readStore: deps.readStore,
    access: deps.access,
    keys: deps.keys,
    vapidPublicKey: vapid?.publicKey ?? null,
    allowPrivateEndpoints: settings.allowPrivateEndpoints,
  });
  if (!vapid) return { service, deliveries: null, close: () => Promise.resolve() };
  const checkpoints = await openPushCheckpoints(config);
  const deliveries = new PushDeliveries({
    ...deps,
    keys: deps.keys,
    planner: new PushPlanner(deps.readStore, deps.eventStore, settings.messageTtlSeconds),
    sender: new PushSender(vapid, settings),
    service,
    checkpoints,
    settings,
  });
  return {
    service,
    deliveries,
    async close() {
      await deliveries.stop();
      await checkpoints.close();
    },
  };
}
